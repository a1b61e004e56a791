import { spawn, type StdioOptions } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ErrorCodes, SeccomposeError } from "../errors.ts";
import { straceCommand } from "./command.ts";
import { StraceParser, type StraceParserOptions, type StraceRecord } from "./parse.ts";
import { readStraceFile } from "./read.ts";

export interface StraceRun {
  /** strace's exit status, which is the command's unless strace itself failed. */
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The command's output; empty unless `stdio` is "pipe" (stdout) or not "inherit" (stderr). */
  stdout: string;
  stderr: string;
  garbledLines: number;
}

export interface StraceRecording extends StraceRun {
  records: StraceRecord[];
}

export interface TraceOptions extends Pick<StraceParserOptions, "lenient"> {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** The strace executable (default: `strace` on PATH). */
  strace?: string;
  /**
   * - "pipe" (default): stdout and stderr are captured.
   * - "null": stdout is /dev/null, as under a daemon (programs probe a terminal differently).
   * - "inherit": the command uses this process's terminal, as `seccompose record` wants: Ctrl-C
   *   reaches the command, not us, and SIGTERM is passed on, so an interrupted run still yields
   *   its trace.
   */
  stdio?: "pipe" | "null" | "inherit";
}

/**
 * Runs `cmd` to completion under strace (all processes and threads), the trace going to a private
 * temporary file that is removed afterwards, and hands every record to `onRecord` as it is read.
 */
export async function traceCommand(
  cmd: readonly string[],
  onRecord: (record: StraceRecord) => void,
  opts: TraceOptions = {},
): Promise<StraceRun> {
  const dir = await mkdtemp(join(tmpdir(), "seccompose-strace-"));
  try {
    const output = join(dir, "trace");
    const run = await runToEnd(straceCommand(output, [...cmd]), opts);
    const parser = new StraceParser({ lenient: opts.lenient, source: "strace output" });
    for await (const record of readStraceFile(output, parser)) onRecord(record);
    return { ...run, garbledLines: parser.garbledLines };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Like traceCommand, collecting the records. */
export async function recordStrace(
  cmd: readonly string[],
  opts: TraceOptions = {},
): Promise<StraceRecording> {
  const records: StraceRecord[] = [];
  const run = await traceCommand(cmd, (r) => records.push(r), opts);
  return { ...run, records };
}

const STDIO: Record<NonNullable<TraceOptions["stdio"]>, StdioOptions> = {
  pipe: ["ignore", "pipe", "pipe"],
  null: ["ignore", "ignore", "pipe"],
  inherit: "inherit",
};

function runToEnd([, ...args]: string[], opts: TraceOptions): Promise<Omit<StraceRun, "garbledLines">> {
  return new Promise((resolve, reject) => {
    const child = spawn(opts.strace ?? "strace", args, {
      cwd: opts.cwd,
      env: opts.env,
      stdio: STDIO[opts.stdio ?? "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout?.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    const ignore = () => {};
    const forward = (signal: NodeJS.Signals) => child.kill(signal);
    if (opts.stdio === "inherit") {
      process.on("SIGINT", ignore);
      process.on("SIGTERM", forward);
    }
    const settle = () => {
      process.off("SIGINT", ignore);
      process.off("SIGTERM", forward);
    };
    child.on("error", (err: NodeJS.ErrnoException) => {
      settle();
      reject(
        err.code === "ENOENT"
          ? new SeccomposeError(ErrorCodes.SC_STRACE_MISSING, `strace is not installed or not on PATH`, {
              cause: err,
            })
          : new SeccomposeError(ErrorCodes.SC_STRACE_FAILED, `cannot start strace: ${err.message}`, {
              cause: err,
            }),
      );
    });
    child.on("close", (code, signal) => {
      settle();
      resolve({ code, signal, stdout, stderr });
    });
  });
}
