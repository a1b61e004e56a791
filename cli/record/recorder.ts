import { access, constants } from "node:fs/promises";
import { hostname } from "node:os";
import { delimiter, join } from "node:path";
import { SeccomposeError } from "../../lib/errors.ts";
import { argSpecFor, argTupleFromRaw } from "../../lib/profile/arg-specs.ts";
import { WorkloadObservations } from "../../lib/profile/observations.ts";
import { unknownSyscallNumber, type StraceRecord } from "../../lib/strace/parse.ts";
import { traceCommand } from "../../lib/strace/record.ts";
import { localNodeArch, nativeScmpArch, scmpArchesForNode } from "../../lib/syscalls/architectures.ts";
import { syscallNameForNumber } from "../../lib/syscalls/tables.ts";
import type { WorkloadKey } from "../../lib/contracts/types.ts";
import { userPath } from "./user-path.ts";

export interface RecordOptions {
  /** Syscalls whose scalar arguments become argument rules. */
  argSyscalls: readonly string[];
  /** PATH used to find strace and the command, and given to it; default the user's PATH (user-path.ts). */
  path?: string;
  /** Name of this run in the observations (default `<hostname>/<pid>`), so runs merged later stay apart. */
  runName?: string;
  workload?: WorkloadKey;
  /** Default process.platform; tests pass another. */
  platform?: NodeJS.Platform;
}

export interface Recording {
  observations: WorkloadObservations;
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  processes: number;
  events: number;
  nodeArch: string;
  /** strace lines that could not be read; counted, never fatal, so a recording is never lost. */
  garbledLines: number;
}

async function findExecutable(name: string, path: string): Promise<string | undefined> {
  const candidates = name.includes("/")
    ? [name]
    : path
        .split(delimiter)
        .filter(Boolean)
        .map((dir) => join(dir, name));
  for (const file of candidates) {
    try {
      await access(file, constants.X_OK);
      return file;
    } catch {
      // not here; try the next PATH entry
    }
  }
  return undefined;
}

/**
 * Runs `cmd` under strace (all processes and threads, lib/strace/record.ts) on this terminal and
 * returns what it did. Ctrl-C reaches the traced command, not us, so an interrupted run still
 * yields its recording; a garbled strace line is counted, never fatal.
 */
export async function recordCommand(cmd: readonly string[], opts: RecordOptions): Promise<Recording> {
  const platform = opts.platform ?? process.platform;
  if (platform !== "linux") {
    throw new SeccomposeError(
      "SC_STRACE_MISSING",
      `seccompose record runs on Linux only (it traces with strace), not on ${platform}: record inside a Linux VM or container (with SYS_PTRACE), or record in a cluster with seccompose start`,
    );
  }
  const path = opts.path ?? userPath(process.env.PATH ?? "/usr/bin:/bin");
  const strace = await findExecutable("strace", path);
  if (!strace) {
    throw new SeccomposeError(
      "SC_STRACE_MISSING",
      "strace is not installed or not on PATH: install it (Debian/Ubuntu: apt-get install strace; Fedora/RHEL: dnf install strace) and run again",
    );
  }
  if (cmd.length === 0 || !(await findExecutable(cmd[0]!, path))) {
    throw new SeccomposeError("SC_USAGE", `command not found or not executable: ${cmd[0] ?? "(none given)"}`);
  }

  const recording = newRecording(opts);
  const run = await traceCommand(cmd, recording.take, {
    strace,
    stdio: "inherit",
    lenient: true,
    env: { ...process.env, PATH: path },
  });
  const result = recording.finish(run.garbledLines);
  if (result.events === 0) {
    throw new SeccomposeError(
      "SC_STRACE_FAILED",
      `strace recorded no syscalls of ${cmd[0]} (strace exit ${run.code ?? run.signal}): see strace's message above; inside a container strace needs the SYS_PTRACE capability`,
    );
  }
  return { ...result, exitCode: run.code, signal: run.signal };
}

/** Turns strace records, as they come, into the observations of one run. */
function newRecording(opts: RecordOptions) {
  const nodeArch = localNodeArch();
  const run = opts.runName ?? `${hostname()}/${process.pid}`;
  const tally = new Map<
    string,
    { name: string; args: readonly string[] | undefined; count: number; firstSeen: number }
  >();
  const pids = new Set<number>();
  let events = 0;
  const book = (name: string, rawArgs: readonly bigint[] | null) => {
    const spec = opts.argSyscalls.includes(name) ? argSpecFor(name) : undefined;
    const args = spec && rawArgs ? (argTupleFromRaw(spec, rawArgs) ?? undefined) : undefined;
    const key = args ? `${name}(${args.join(",")})` : name;
    const entry = tally.get(key);
    if (entry) entry.count++;
    else tally.set(key, { name, args, count: 1, firstSeen: Date.now() });
    events++;
  };

  // strace prints a syscall it has no name for as `syscall_0x1d5`; the number is resolved on the
  // architecture the process ran in at the time (strace announces 32-bit and x32 mode switches).
  const native = nativeScmpArch(nodeArch);
  const compat = scmpArchesForNode(nodeArch).find((a) => a !== native && a !== "SCMP_ARCH_X32");
  const modeArch = new Map<number, string>();

  return {
    take(rec: StraceRecord): void {
      pids.add(rec.pid);
      if (rec.kind === "arch") {
        const arch = rec.arch === "64 bit" ? native : rec.arch === "x32" ? "SCMP_ARCH_X32" : compat;
        if (arch !== undefined) modeArch.set(rec.pid, arch);
        return;
      }
      const number = unknownSyscallNumber(rec.name);
      const resolved =
        number === null ? undefined : syscallNameForNumber(modeArch.get(rec.pid) ?? native, number);
      book(resolved ?? rec.name, rec.args);
    },
    finish(garbledLines: number): Omit<Recording, "exitCode" | "signal"> {
      const observations = new WorkloadObservations(
        opts.workload ?? { namespace: "local", kind: "Command", name: "command", container: "command" },
      );
      observations.noteNode(run, nodeArch, 0);
      for (const { name, args, count, firstSeen } of tally.values())
        observations.observe(run, name, count, firstSeen, args);
      return { observations, processes: pids.size, events, nodeArch, garbledLines };
    },
  };
}
