/** Runs the real aggregator (services/aggregator/main.ts) as a separate process, for integration tests and benchmarks. */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { getFreePort } from "./nats.ts";

export const AGGREGATOR_MAIN = fileURLToPath(new URL("../../services/aggregator/main.ts", import.meta.url));

export interface AggregatorProcess {
  readonly pid: number;
  readonly httpPort: number;
  readonly logs: Array<Record<string, unknown>>;
  readonly exited: Promise<number | null>;
  stop(): Promise<number | null>;
  kill(): Promise<void>;
}

export async function startAggregatorProcess(opts: {
  natsUrls: string[];
  extraArgs?: string[];
  env?: NodeJS.ProcessEnv;
}): Promise<AggregatorProcess> {
  const httpPort = await getFreePort();
  const child = spawn(
    process.execPath,
    [
      AGGREGATOR_MAIN,
      ...opts.natsUrls.flatMap((u) => ["--nats-url", u]),
      "--http-port",
      String(httpPort),
      "--replicas",
      "1",
      ...(opts.extraArgs ?? []),
    ],
    { env: { ...process.env, ...opts.env }, stdio: ["ignore", "pipe", "pipe"] },
  );
  const logs: Array<Record<string, unknown>> = [];
  let stderr = "";
  let buffered = "";
  let consuming: () => void;
  const started = new Promise<void>((resolve) => (consuming = resolve));
  child.stdout.on("data", (chunk: Buffer) => {
    buffered += chunk.toString();
    let nl: number;
    while ((nl = buffered.indexOf("\n")) !== -1) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      try {
        const entry = JSON.parse(line) as Record<string, unknown>;
        logs.push(entry);
        if (entry.msg === "aggregator consuming") consuming();
      } catch {
        logs.push({ raw: line });
      }
    }
  });
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const failed = exited.then((code) => {
    throw new Error(
      `aggregator exited with ${code} before consuming: ${stderr}${JSON.stringify(logs.slice(-5))}`,
    );
  });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`aggregator did not start in 30 s: ${stderr}`)), 30_000);
  });
  await Promise.race([started, failed, timeout]).finally(() => clearTimeout(timer));
  failed.catch(() => {});
  return {
    pid: child.pid!,
    httpPort,
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
  };
}
