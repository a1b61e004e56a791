/**
 * `seccompose profile list|get|diff|freeze`: the profiles the aggregator stored, rendered as the
 * user needs them, compared, installed on the nodes, or frozen for drift detection.
 */
import { existsSync } from "node:fs";
import type { Command } from "commander";
import type { ProfileDocument, SessionRecord } from "../../lib/contracts/types.ts";
import { ErrorCodes, SeccomposeError } from "../../lib/errors.ts";
import { unionSources, type ProfileSource } from "../../lib/profile/profile-source.ts";
import {
  assertDistinctProfileNames,
  profileName,
  workloadId,
  workloadToken,
} from "../../lib/profile/workload-key.ts";
import { ExitCodes } from "../exit-codes.ts";
import { loadMergeInput, sourceFromSeccomp } from "../merge/inputs.ts";
import { note, printJson, printLines, table, terminalSafe, warn } from "../output.ts";
import { renderNotes } from "../profile-output.ts";
import { writeFileAtomic } from "../../lib/atomic-file.ts";
import { withCluster, type ClusterContext } from "../cluster/connection.ts";
import { addClusterOptions, clusterSettings, type ClusterFlags } from "../cluster/options.ts";
import { ProfileStore } from "../cluster/profile-store.ts";
import { SessionStore } from "../cluster/session-store.ts";
import { registerFreeze } from "./freeze-command.ts";
import { installOnNodes } from "./install-profile.ts";
import { diffProfiles, formatDiff, rightAllowsMore } from "./profile-diff.ts";
import { parseProfileFileFormat, renderProfileDocument, seccompProfileSnippet } from "./profile-files.ts";
import { knownWorkloads, parseRevision, resolveWorkload } from "./workload-ref.ts";
import { registerProfileApply } from "./apply-command.ts";

interface GetFlags extends ClusterFlags {
  revision?: string;
  format?: string;
  outputFile?: string;
  install?: boolean;
  expectAgents?: string;
}

export function registerProfile(program: Command, setExitCode: (code: number) => void): void {
  const profile = program
    .command("profile")
    .summary("list, get, compare, install and freeze recorded profiles, and bind workloads to them");

  const list = profile
    .command("list")
    .description("list the profiles of a session (default: of every session)")
    .argument("[session]");
  addClusterOptions(list);
  list.action(async (session: string | undefined, flags: ClusterFlags) => {
    const settings = await clusterSettings(flags);
    const rows = await withCluster(settings, (ctx) => listProfiles(ctx, session));
    if (settings.output === "json") printJson(rows);
    else if (rows.length === 0)
      note(session !== undefined ? `session ${session} has no profiles yet` : "no profiles");
    else
      printLines(
        table(
          ["SESSION", "WORKLOAD", "REVISION", "STATUS", "SYSCALLS", "NODES"],
          rows.map((r) => [
            r.session,
            r.workload,
            String(r.revision) + (r.revisions.length > 1 ? ` (of ${r.revisions.length})` : ""),
            r.status + (r.missingNodes.length > 0 ? ` (missing ${r.missingNodes.join(",")})` : ""),
            String(r.syscalls),
            r.nodes.join(","),
          ]),
        ),
      );
  });

  const get = profile
    .command("get")
    .description(
      "print one workload container's profile; WORKLOAD is namespace/Kind/name/container, a tail of it (e.g. web/nginx) or its token",
    )
    .argument("<session>")
    .argument("<workload>")
    .option("--revision <n>", "a revision of a continuous session (default: the latest)")
    .option("--format <format>", "oci (JSON), spo (SeccompProfile) or configmap (ConfigMap holding the JSON)")
    .option("--output-file <file>", "write to this file instead of stdout")
    .option("--install", "have every agent install the OCI JSON in its node's kubelet seccomp directory")
    .option("--expect-agents <n|nodes>", "outside Kubernetes, with --install: the agents to expect");
  addClusterOptions(get, { destination: { flag: "--output-file", what: "the profile" } });
  get.action(async (session: string, query: string, flags: GetFlags) => {
    const settings = await clusterSettings(flags);
    const format = parseProfileFileFormat(flags.format ?? settings.config.format ?? "oci");
    const revision = flags.revision !== undefined ? parseRevision(flags.revision) : undefined;
    await withCluster(settings, async (ctx) => {
      const { nc, js } = await ctx.broker();
      const profiles = await ProfileStore.open(nc, js);
      const known = await knownWorkloads(profiles, session);
      const { token } = resolveWorkload(query, known, session);
      const doc = await profiles.require(session, token, revision);
      const options = (await sessionRecord(ctx, session))?.profile ?? {};
      const rendered = renderProfileDocument(doc, options, format);
      // The file and the installed profile must not be another workload's of the session too.
      assertDistinctProfileNames([
        doc.workload,
        ...known.filter((k) => profileName(k.workload) === rendered.name).map((k) => k.workload),
      ]);
      for (const line of renderNotes(rendered.result)) note(terminalSafe(line));
      if (doc.status === "partial")
        warn(
          `this profile is partial: no complete data from ${terminalSafe((doc.missingNodes ?? []).join(", "))}`,
        );
      if (flags.outputFile !== undefined) await writeFileAtomic(flags.outputFile, rendered.text);
      else if (settings.output === "json")
        printJson({ ...summary(doc), format, name: rendered.name, profile: rendered.text });
      else process.stdout.write(rendered.text);
      if (flags.install) {
        const oci = format === "oci" ? rendered : renderProfileDocument(doc, options, "oci");
        const outcome = await installOnNodes(ctx, nc, oci.name, oci.text, flags.expectAgents);
        for (const n of outcome.nodes) {
          if (n.installed)
            note(
              `${terminalSafe(n.node)}: ${n.installed.unchanged ? "already installed" : "installed"} ${terminalSafe(n.installed.path)}`,
            );
          else warn(`${terminalSafe(n.node)}: not installed: ${terminalSafe(n.error ?? "")}`);
        }
        for (const m of outcome.missing) warn(`not installed on ${terminalSafe(m)}`);
        note(`use it in a pod spec (container or pod level):\n${seccompProfileSnippet(oci.name)}`);
        if (outcome.missing.length > 0 || outcome.nodes.some((n) => n.error !== undefined))
          setExitCode(ExitCodes.PARTIAL);
        if (!outcome.nodes.some((n) => n.installed)) {
          throw new SeccomposeError(
            ErrorCodes.SC_AGENTS_UNAVAILABLE,
            `no agent installed profile ${oci.name}`,
          );
        }
      }
    });
  });

  const diff = profile
    .command("diff")
    .description(
      "compare two profiles: each is SESSION/WORKLOAD[@REVISION] or a file (ProfileDocument, OCI JSON, SPO YAML)",
    )
    .argument("<left>")
    .argument("<right>")
    .option(
      "--exit-code",
      "exit 1 when RIGHT allows anything LEFT does not (a syscall, an architecture, argument values), like git diff --exit-code",
    );
  addClusterOptions(diff);
  diff.action(async (left: string, right: string, flags: ClusterFlags & { exitCode?: boolean }) => {
    const settings = await clusterSettings(flags);
    const needsBroker = !isProfileFile(left) || !isProfileFile(right);
    const load = async (ctx: ClusterContext | undefined, ref: string) => loadSource(ctx, ref);
    const [a, b] = needsBroker
      ? await withCluster(settings, async (ctx) => [await load(ctx, left), await load(ctx, right)] as const)
      : [await load(undefined, left), await load(undefined, right)];
    const result = diffProfiles(a.source, b.source);
    const widens = rightAllowsMore(result);
    if (settings.output === "json")
      printJson({ left: a.name, right: b.name, ...result, rightAllowsMore: widens });
    else printLines(formatDiff(result, a.name, b.name));
    if (flags.exitCode && widens) setExitCode(ExitCodes.FAILURE);
  });

  registerFreeze(profile);

  registerProfileApply(profile, setExitCode);
}

/** Written like a path (./x, ../x, /x) or with a profile file's extension: the user meant a file. */
const FILE_LIKE = /^\.{0,2}\/|\.(json|ya?ml)$/i;

/**
 * Whether a `profile diff` side is a file. A side that does not exist but reads like a file path is
 * a mistyped file (SC_FILE_READ), not a SESSION/WORKLOAD reference to look up through NATS.
 */
function isProfileFile(ref: string): boolean {
  if (existsSync(ref)) return true;
  if (FILE_LIKE.test(ref)) {
    throw new SeccomposeError(
      ErrorCodes.SC_FILE_READ,
      `${ref}: no such file (SESSION/WORKLOAD references have no extension and do not start with ./ or /)`,
    );
  }
  return false;
}

interface ProfileRow {
  session: string;
  workload: string;
  token: string;
  revision: number;
  revisions: number[];
  status: ProfileDocument["status"];
  missingNodes: string[];
  syscalls: number;
  nodes: string[];
}

function summary(doc: ProfileDocument) {
  return {
    session: doc.session,
    workload: workloadId(doc.workload),
    token: workloadToken(doc.workload),
    revision: doc.revision,
    status: doc.status,
    missingNodes: doc.missingNodes ?? [],
    syscalls: doc.syscalls.length,
    nodes: doc.nodes.map((n) => n.name),
  };
}

async function listProfiles(ctx: ClusterContext, session: string | undefined): Promise<ProfileRow[]> {
  const { nc, js } = await ctx.broker();
  const profiles = await ProfileStore.open(nc, js);
  const keys = await profiles.keys(session);
  const rows: ProfileRow[] = [];
  for (const k of keys) {
    if (k.revision !== undefined) continue;
    const doc = await profiles.get(k.key);
    if (doc === undefined) continue;
    const revisions = keys.filter(
      (r) => r.session === k.session && r.token === k.token && r.revision !== undefined,
    );
    rows.push({ ...summary(doc), revisions: revisions.map((r) => r.revision!) });
  }
  return rows;
}

async function sessionRecord(ctx: ClusterContext, id: string): Promise<SessionRecord | undefined> {
  const { js } = await ctx.broker();
  return (await (await SessionStore.open(js)).get(id))?.record;
}

/** A file, or SESSION/WORKLOAD[@REVISION] from the profile store. */
async function loadSource(
  ctx: ClusterContext | undefined,
  ref: string,
): Promise<{ name: string; source: ProfileSource }> {
  if (existsSync(ref)) {
    const input = await loadMergeInput(ref);
    return {
      name: ref,
      source: input.kind === "document" ? allowedBy(input.document, {}, ref) : unionSources([input.source]),
    };
  }
  const m = /^([A-Za-z0-9_-]{1,64})\/(.+?)(?:@(\d+))?$/.exec(ref);
  if (m === null || ctx === undefined) {
    throw new SeccomposeError(
      "SC_USAGE",
      `"${ref}" is neither a file nor SESSION/WORKLOAD[@REVISION] (e.g. s1/shop/Deployment/web/nginx@2)`,
    );
  }
  const [, session, query, rev] = m as unknown as [string, string, string, string | undefined];
  const { nc, js } = await ctx.broker();
  const profiles = await ProfileStore.open(nc, js);
  const { token, workload } = resolveWorkload(query, await knownWorkloads(profiles, session), session);
  const doc = await profiles.require(session, token, rev !== undefined ? Number(rev) : undefined);
  const name = `${session}/${workloadId(workload)}@${doc.revision}`;
  return { name, source: allowedBy(doc, (await sessionRecord(ctx, session))?.profile ?? {}, name) };
}

/**
 * What a profile allows, as rendered: documents (stored, or files) are rendered first, with their
 * session's options, so that documents and rendered profiles compare alike.
 */
function allowedBy(doc: ProfileDocument, options: SessionRecord["profile"], name: string): ProfileSource {
  return unionSources([sourceFromSeccomp(renderProfileDocument(doc, options, "oci").result.profile, name)]);
}
