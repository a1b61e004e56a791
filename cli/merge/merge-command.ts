import type { Command } from "commander";
import { writeFileAtomic } from "../../lib/atomic-file.ts";
import { SeccomposeError } from "../../lib/errors.ts";
import { observationsFromDocument, toProfileDocument } from "../../lib/profile/document.ts";
import { toJsonText } from "../../lib/profile/json.ts";
import { unionSources } from "../../lib/profile/profile-source.ts";
import { localNodeArch, scmpArchesForNode } from "../../lib/syscalls/architectures.ts";
import { compareWorkloadKeys } from "../../lib/profile/workload-key.ts";
import { parseBaseline, renderNotes, renderProfileText, type ProfileFormat } from "../profile-output.ts";
import { refusedOutputOption } from "../output-option.ts";
import { loadMergeInput, sourceOf, type MergeInput } from "./inputs.ts";

interface MergeFlags {
  outputFile?: string;
  format: string;
  baseline: string;
  complain?: boolean;
}

export function registerMerge(program: Command): void {
  program
    .command("merge")
    .summary("merge profiles or recorded observations offline")
    .description(
      "Merges several runs or machines into one profile: ProfileDocuments (record --observations, or the aggregator's), " +
        "OCI seccomp JSON and SPO SeccompProfile files. The result allows the union of what they allow. " +
        "Merging is idempotent: the same file twice changes nothing.",
    )
    .option("--output-file <file>", "write the merged file here (default: standard output)")
    .addOption(
      refusedOutputOption("merge prints the merged file, whose format --format selects", {
        flag: "--output-file",
        what: "the merged file",
      }),
    )
    .option("--format <format>", "oci, spo, or document (observations; all inputs must be documents)", "oci")
    .option("--baseline <runtime>", "runtime baseline to add: runc, crun or none", "runc")
    .option("--complain", "log instead of deny (SCMP_ACT_LOG)")
    .argument("<files...>", "files to merge")
    .action(async (files: string[], flags: MergeFlags) => {
      const inputs = await Promise.all(files.map(loadMergeInput));
      const text = mergeInputs(inputs, flags);
      if (flags.outputFile !== undefined) await writeFileAtomic(flags.outputFile, text);
      else process.stdout.write(text);
    });
}

function mergeInputs(inputs: MergeInput[], flags: MergeFlags): string {
  const documents = inputs.flatMap((i) => (i.kind === "document" ? [i.document] : []));
  if (flags.format === "document") {
    const notDocument = inputs.find((i) => i.kind !== "document");
    if (notDocument) {
      throw new SeccomposeError(
        "SC_MERGE_INPUT",
        `${notDocument.path} is a rendered profile without observations; --format document needs ProfileDocuments only`,
      );
    }
    // The workload of the result is the first in sort order, so the merge does not depend on argument order.
    const first = [...documents].sort((a, b) => compareWorkloadKeys(a.workload, b.workload))[0]!;
    const merged = observationsFromDocument({ ...first, workload: first.workload });
    for (const doc of documents)
      merged.mergeFrom(observationsFromDocument({ ...doc, workload: first.workload }));
    const argSyscalls = [...new Set(documents.flatMap((d) => d.argSyscalls ?? []))];
    const partial = documents.some((d) => d.status !== "complete");
    return toJsonText(
      toProfileDocument(merged, {
        session: first.session,
        revision: Math.max(...documents.map((d) => d.revision)),
        status: partial ? "partial" : "complete",
        missingNodes: [...new Set(documents.flatMap((d) => d.missingNodes ?? []))],
        argSyscalls,
      }),
    );
  }
  if (flags.format !== "oci" && flags.format !== "spo") {
    throw new SeccomposeError("SC_USAGE", `--format must be oci, spo or document, not "${flags.format}"`);
  }
  const workload = documents.map((d) => d.workload).sort(compareWorkloadKeys)[0] ?? {
    namespace: "local",
    kind: "Merged",
    name: "merged",
    container: "merged",
  };
  const { text, result } = renderProfileText(
    unionSources(inputs.map(sourceOf)),
    {
      format: flags.format as ProfileFormat,
      baseline: parseBaseline(flags.baseline),
      complain: flags.complain ?? false,
      // Inputs without `architectures` apply to the runtime's native one: here, this machine's.
      fallbackArchitectures: scmpArchesForNode(localNodeArch()),
    },
    { workload },
  );
  for (const note of renderNotes(result)) process.stderr.write(`seccompose: ${note}\n`);
  return text;
}
