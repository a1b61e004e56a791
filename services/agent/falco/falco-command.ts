/**
 * Runs Falco once to completion for what it prints (`--version`, `--list=syscall`), as opposed to
 * the supervised Falco that captures: bounded in time and in the output kept.
 */
import type { ChildProcess, SpawnOptions } from "node:child_process";
import { describeExit } from "./falco-log.ts";

/** Stdout kept at most; the field list of Falco with plugins is well under it. */
const MAX_OUTPUT_BYTES = 8 * 1024 * 1024;
const MAX_STDERR_CHARS = 4096;

export interface FalcoCommand {
  spawn: (command: string, args: readonly string[], options: SpawnOptions) => ChildProcess;
  binary: string;
  argv: readonly string[];
  env: NodeJS.ProcessEnv;
  timeoutMs: number;
}

/**
 * Stdout of `binary argv`; rejects, naming the exit and the head of stderr, when it fails, and
 * kills it (SIGKILL) after `timeoutMs`.
 */
export function runFalcoCommand(c: FalcoCommand, what: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = c.spawn(c.binary, c.argv, { stdio: ["ignore", "pipe", "pipe"], env: c.env });
    const stdout: Buffer[] = [];
    let stdoutBytes = 0;
    let stderr = "";
    const timer = setTimeout(() => child.kill("SIGKILL"), c.timeoutMs);
    child.stdout?.on("data", (chunk: Buffer) => {
      if (stdoutBytes < MAX_OUTPUT_BYTES) stdout.push(chunk);
      stdoutBytes += chunk.length;
    });
    child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
      if (stderr.length < MAX_STDERR_CHARS) stderr += chunk;
    });
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(Buffer.concat(stdout).toString("utf8"));
      else reject(new Error(`${what}: ${describeExit(code, signal)} ${stderr.trim()}`.trim()));
    });
  });
}
