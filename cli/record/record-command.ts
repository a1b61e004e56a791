import { constants } from "node:os";
import { basename } from "node:path";
import type { Command } from "commander";
import { validateArgSyscalls } from "../../lib/profile/arg-specs.ts";
import { toProfileDocument } from "../../lib/profile/document.ts";
import { toJsonText } from "../../lib/profile/json.ts";
import { sourceFromObservations } from "../../lib/profile/profile-source.ts";
import { scmpArchesForNode } from "../../lib/syscalls/architectures.ts";
import { parseBaseline, parseFormat, renderNotes, renderProfileText } from "../profile-output.ts";
import { refusedOutputOption } from "../output-option.ts";
import { recordCommand } from "./recorder.ts";
import { checkWritable, writeFileAtomic } from "../../lib/atomic-file.ts";
import { listItems } from "../../lib/list-items.ts";

interface RecordFlags {
  outputFile?: string;
  format: string;
  baseline: string;
  args?: string;
  complain?: boolean;
  observations?: string;
}

export function registerRecord(program: Command, setExitCode: (code: number) => void): void {
  program
    .command("record")
    .summary("trace a command locally and write its seccomp profile")
    .description(
      "Runs CMD under strace, following every child process and thread, and writes the profile it needs. " +
        "No cluster or broker is involved. Exits with CMD's own exit status. seccompose's options go before CMD; " +
        "everything from CMD on is CMD's (write -- before CMD when it starts with -). Linux only.",
    )
    .option("--output-file <file>", "profile file (default: <cmd>.seccomp.json, or .yaml for --format spo)")
    .addOption(
      refusedOutputOption("record prints nothing of its own on stdout (it is CMD's)", {
        flag: "--output-file",
        what: "the profile",
      }),
    )
    .option(
      "--format <format>",
      "oci (runtime-spec JSON) or spo (Security Profiles Operator SeccompProfile)",
      "oci",
    )
    .option(
      "--baseline <runtime>",
      "add the syscalls the runtime makes after installing the filter: runc, crun or none",
      "runc",
    )
    .option(
      "--args <syscalls>",
      "comma-separated syscalls whose scalar arguments become argument rules, e.g. personality,socket",
    )
    .option("--complain", "log instead of deny what the profile does not allow (SCMP_ACT_LOG)")
    .option(
      "--observations <file>",
      "also write the recorded observations (ProfileDocument JSON), for `seccompose merge`",
    )
    .argument("<cmd...>", "the command to trace and its arguments, best after --")
    // `record ls -l` traces `ls -l`: options after CMD are CMD's, as with strace and sudo.
    .passThroughOptions()
    .showHelpAfterError(
      "hint: seccompose's options go before the command, and the command after --, e.g. seccompose record --output-file ls.json -- ls -l",
    )
    .action(async (cmd: string[], flags: RecordFlags) => {
      const format = parseFormat(flags.format);
      const baseline = parseBaseline(flags.baseline);
      const argSyscalls = validateArgSyscalls(flags.args ? listItems(flags.args) : []);
      const name = basename(cmd[0]!);
      const workload = { namespace: "local", kind: "Command", name, container: name };
      const output = flags.outputFile ?? `${name}.seccomp.${format === "spo" ? "yaml" : "json"}`;

      // Checked before CMD runs: a recording that cannot be written is lost, and CMD's status with it.
      await checkWritable(output, "the profile");
      if (flags.observations) await checkWritable(flags.observations, "the observations");
      const rec = await recordCommand(cmd, { argSyscalls, workload });
      const { text, result } = renderProfileText(
        sourceFromObservations(rec.observations, argSyscalls),
        { format, baseline, complain: flags.complain ?? false },
        { workload },
      );
      await writeFileAtomic(output, text);
      if (flags.observations) {
        const doc = toProfileDocument(rec.observations, {
          session: "local",
          revision: 1,
          status: "complete",
          argSyscalls,
        });
        await writeFileAtomic(flags.observations, toJsonText(doc));
      }

      const status = rec.signal ? `killed by ${rec.signal}` : `exit status ${rec.exitCode}`;
      const lines = [
        `recorded ${rec.observations.syscalls.size} syscalls (${rec.events} calls) from ${rec.processes} processes/threads; ${name}: ${status}`,
        `architectures: ${scmpArchesForNode(rec.nodeArch).join(", ")}`,
        ...(result.impliedSyscalls.length > 0
          ? [
              `also allowed, not made by ${name} itself: ${result.impliedSyscalls.length} syscalls (${baseline} baseline, syscalls that never return)`,
            ]
          : []),
        ...(rec.garbledLines > 0
          ? [`${rec.garbledLines} strace lines could not be read and were skipped`]
          : []),
        ...renderNotes(result),
        `profile written to ${output}${flags.observations ? `, observations to ${flags.observations}` : ""}`,
      ];
      for (const line of lines) process.stderr.write(`seccompose: ${line}\n`);
      setExitCode(rec.signal ? 128 + constants.signals[rec.signal] : (rec.exitCode ?? 1));
    });
}
