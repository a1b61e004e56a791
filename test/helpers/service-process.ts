/**
 * A seccompose service (agent or aggregator) as a child process: its pino JSON log lines are
 * collected, and start-up is over when a given line appears.
 */
import { spawn } from "node:child_process";

export interface ServiceProcess {
  readonly pid: number;
  /** Every JSON log line written so far (non-JSON lines as `{ raw }`). */
  readonly logs: Array<Record<string, unknown>>;
  readonly exited: Promise<number | null>;
  /** SIGTERM and wait for the exit (services flush first). */
  stop(): Promise<number | null>;
  /** SIGKILL, no clean-up. */
  kill(): Promise<void>;
}

/** Starts `args` with Node and resolves with the first log line `isReady` accepts. */
export async function startServiceProcess(
  name: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  isReady: (entry: Record<string, unknown>) => boolean,
  timeoutMs = 30_000,
): Promise<{ service: ServiceProcess; ready: Record<string, unknown> }> {
  const child = spawn(process.execPath, args, {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const logs: Array<Record<string, unknown>> = [];
  let stderr = "";
  let buffered = "";
  let resolveReady!: (entry: Record<string, unknown>) => void;
  const ready = new Promise<Record<string, unknown>>((resolve) => (resolveReady = resolve));
  child.stdout.on("data", (chunk: Buffer) => {
    buffered += chunk.toString();
    let nl: number;
    while ((nl = buffered.indexOf("\n")) !== -1) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        entry = { raw: line };
      }
      logs.push(entry);
      if (isReady(entry)) resolveReady(entry);
    }
  });
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const failed = exited.then((code): never => {
    throw new Error(
      `${name} exited with ${code} before it was ready: ${stderr}${JSON.stringify(logs.slice(-5))}`,
    );
  });
  failed.catch(() => {});
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${name} was not ready in ${timeoutMs} ms: ${stderr}`)),
      timeoutMs,
    );
  });
  const entry = await Promise.race([ready, failed, timeout]).finally(() => clearTimeout(timer));
  return {
    ready: entry,
    service: {
      pid: child.pid!,
      logs,
      exited,
      async stop() {
        child.kill("SIGTERM");
        return exited;
      },
      async kill() {
        child.kill("SIGKILL");
        await exited;
      },
    },
  };
}
