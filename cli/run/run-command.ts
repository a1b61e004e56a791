import { spawn, spawnSync } from "node:child_process";
import { constants } from "node:os";
import type { Command } from "commander";
import { ErrorCodes, SeccomposeError } from "../../lib/errors.ts";
import { readYamlMapping } from "../../lib/structured-file.ts";
import { terminalSafe } from "../output.ts";
import { parseLoggedSyscalls, readKernelLog } from "./kernel-log.ts";
import { LOADER_SCRIPT, SYSTEM_PYTHON, checkLoader, loaderArgv } from "./loader.ts";

interface RunFlags {
  profile: string;
}

export function registerRun(program: Command, setExitCode: (code: number) => void): void {
  program
    .command("run")
    .summary("run a command under a seccomp profile, loaded as runc loads it")
    .description(
      "Loads the OCI seccomp profile into a libseccomp filter the way runc does, then runs CMD under it, " +
        "so a profile can be tried before it is enforced. Exits with CMD's own exit status (128+N when " +
        "signal N ended it). When the profile logs instead of denying (SCMP_ACT_LOG, as `--complain` " +
        "writes), prints one line naming what it would have denied, read from the kernel log where it is " +
        "readable. Needs Linux and libseccomp's Python binding (python3-seccomp).",
    )
    .requiredOption(
      "--profile <file>",
      "the OCI seccomp profile (JSON), e.g. from `record`, `stop` or `profile get`",
    )
    .argument("<cmd...>", "the command to run, after --")
    .action(async (cmd: string[], flags: RunFlags) => {
      const profile = await readYamlMapping(flags.profile, "profile");
      checkLoader();
      const check = spawnSync(SYSTEM_PYTHON, ["-I", LOADER_SCRIPT, "--check", flags.profile], {
        encoding: "utf8",
      });
      if (check.status !== 0) {
        throw new SeccomposeError(
          ErrorCodes.SC_PROFILE_INVALID,
          check.stderr.trim().replace(/^run-under-profile: /, "") || `${flags.profile}: not loadable`,
        );
      }
      const complain = profile.defaultAction === "SCMP_ACT_LOG";
      const startedMs = Date.now();
      const status = await runLoaded(flags.profile, cmd);
      if (complain) process.stderr.write(`${await complainReport(startedMs)}\n`);
      setExitCode(status);
    });
}

/** Runs CMD under the loaded profile with this terminal; resolves to its exit status, shell-style for signals. */
function runLoaded(profilePath: string, cmd: string[]): Promise<number> {
  const [file, args] = loaderArgv(profilePath, cmd);
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: "inherit" });
    // Ctrl-C and friends are for the command: it is in our process group and gets them itself.
    const ignore = () => {};
    const signals = ["SIGINT", "SIGQUIT", "SIGTERM", "SIGHUP"] as const;
    for (const s of signals) process.on(s, ignore);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      for (const s of signals) process.off(s, ignore);
      resolve(code ?? 128 + (signal === null ? 0 : constants.signals[signal]));
    });
  });
}

async function complainReport(sinceMs: number): Promise<string> {
  const log = await readKernelLog();
  if ("unreadable" in log) {
    return `seccompose: complain mode: what the profile would have denied is in the kernel log, which cannot be read here (${log.unreadable})`;
  }
  // Audit times have millisecond resolution; a record of the command's first call may carry the same millisecond.
  const logged = parseLoggedSyscalls(log.text, sinceMs - 1);
  if (logged.length === 0) return "seccompose: complain mode: the profile would have denied nothing";
  const list = logged.map((l) => `${l.name} (${l.count}× by ${l.processes.join(", ")})`).join(", ");
  // Process names come from the workload: escape them before they reach the terminal.
  return terminalSafe(`seccompose: complain mode: the profile would have denied ${list}`);
}
