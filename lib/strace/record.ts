import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ErrorCodes, SeccomposeError } from "../errors.ts";
import { straceCommand } from "./command.ts";
import { StraceParser, type StraceParserOptions, type StraceRecord } from "./parse.ts";
import { readStraceFile } from "./read.ts";

export interface StraceRecording {
  records: StraceRecord[];
  /** strace's exit status, which is the command's unless strace itself failed. */
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  garbledLines: number;
}

export interface RecordOptions extends Pick<StraceParserOptions, "lenient"> {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** "null": the command's stdout is /dev/null, as under a daemon (programs probe a terminal differently). */
  stdout?: "pipe" | "null";
}

/** Run `cmd` to completion under strace (via a temp file) and parse what it did. */
export async function recordStrace(cmd: string[], opts: RecordOptions = {}): Promise<StraceRecording> {
  const dir = await mkdtemp(join(tmpdir(), "seccompose-strace-"));
  try {
    const output = join(dir, "trace");
    const run = await runToEnd(straceCommand(output, cmd), opts);
    const parser = new StraceParser({ lenient: opts.lenient, source: output });
    const records: StraceRecord[] = [];
    for await (const record of readStraceFile(output, parser)) records.push(record);
    return { ...run, records, garbledLines: parser.garbledLines };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

type Finished = Pick<StraceRecording, "code" | "signal" | "stdout" | "stderr">;

function runToEnd([file = "strace", ...args]: string[], opts: RecordOptions): Promise<Finished> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      cwd: opts.cwd,
      env: opts.env,
      stdio: ["ignore", opts.stdout === "null" ? "ignore" : "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout?.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    child.on("error", (err: NodeJS.ErrnoException) =>
      reject(
        err.code === "ENOENT"
          ? new SeccomposeError(ErrorCodes.SC_STRACE_MISSING, `strace is not installed or not on PATH`, {
              cause: err,
            })
          : new SeccomposeError(ErrorCodes.SC_STRACE_FAILED, `cannot start strace: ${err.message}`, {
              cause: err,
            }),
      ),
    );
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}
