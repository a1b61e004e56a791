import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

export const CLI_MAIN = fileURLToPath(new URL("../../cli/main.ts", import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real `seccompose` CLI to completion. */
export function runCli(
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<CliResult> {
  return spawnCli(args, opts.env ?? process.env, opts.cwd).exited;
}

export interface RunningCli {
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves once stdout (or stderr) matches, rejects after `timeoutMs` or when the process exits first. */
  waitFor(pattern: RegExp, stream?: "stdout" | "stderr", timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Sends `signal` (default SIGINT) and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<CliResult>;
  readonly exited: Promise<CliResult>;
}

/** The real `seccompose` CLI in a child process, as a user would run it, for commands that keep running. */
export function spawnCli(args: string[], env: NodeJS.ProcessEnv = process.env, cwd?: string): RunningCli {
  const child = spawn(process.execPath, [CLI_MAIN, ...args], { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout!.on("data", (c: Buffer) => (out += c.toString()));
  child.stderr!.on("data", (c: Buffer) => (err += c.toString()));
  const exited = new Promise<CliResult>((resolve) =>
    child.on("close", (code) => resolve({ code, stdout: out, stderr: err })),
  );
  let done = false;
  void exited.then(() => (done = true));
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    async waitFor(pattern, stream = "stdout", timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const m = (stream === "stdout" ? out : err).match(pattern);
        if (m) return m;
        if (done || Date.now() > deadline) {
          throw new Error(
            `seccompose ${args.join(" ")} ${done ? "exited" : "timed out"} before ${stream} matched ${pattern}\nstdout: ${out}\nstderr: ${err}`,
          );
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async stop(signal = "SIGINT") {
      if (!done) child.kill(signal);
      return exited;
    },
  };
}
