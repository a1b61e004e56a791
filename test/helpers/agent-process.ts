/**
 * Runs the real node agent (services/agent/main.ts) as a separate process, supervising the
 * stand-in Falco exactly as it would supervise Falco, for integration tests and benchmarks.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

export const AGENT_MAIN = fileURLToPath(new URL("../../services/agent/main.ts", import.meta.url));
export const STANDIN_FALCO = fileURLToPath(new URL("../standin-falco/standin-falco.ts", import.meta.url));

export interface AgentProcessOptions {
  node: string;
  natsUrls: string[];
  stateDir: string;
  /** Pods from a file; without it the agent watches the Kubernetes API given by `kubeconfig`. */
  podsFile?: string;
  kubeconfig?: string;
  /** Stand-in variables (STANDIN_MODE, ...) and anything else for the agent's environment. */
  env?: NodeJS.ProcessEnv;
  alertFormat?: "json" | "compact";
  extraArgs?: string[];
}

export interface AgentProcess {
  readonly options: AgentProcessOptions;
  readonly httpPort: number;
  readonly pid: number;
  /** Every JSON log line the agent wrote so far. */
  readonly logs: Array<Record<string, unknown>>;
  /** SIGTERM and wait for a clean exit (the agent flushes first). */
  stop(): Promise<number | null>;
  /** SIGKILL, no clean-up. */
  kill(): Promise<void>;
  exited: Promise<number | null>;
}

export async function startAgentProcess(options: AgentProcessOptions): Promise<AgentProcess> {
  const args = [
    AGENT_MAIN,
    "--node-name",
    options.node,
    ...options.natsUrls.flatMap((u) => ["--nats-url", u]),
    "--state-dir",
    options.stateDir,
    ...(options.podsFile ? ["--pods-file", options.podsFile] : []),
    ...(options.kubeconfig ? ["--kubeconfig", options.kubeconfig] : []),
    "--http-port",
    "0",
    "--falco-binary",
    process.execPath,
    "--falco-arg",
    STANDIN_FALCO,
    "--alert-format",
    options.alertFormat ?? "compact",
    ...(options.extraArgs ?? []),
  ];
  const child: ChildProcess = spawn(process.execPath, args, {
    env: { ...process.env, ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const logs: Array<Record<string, unknown>> = [];
  let stderr = "";
  let buffered = "";
  let resolvePort: (port: number) => void;
  let rejectPort: (err: Error) => void;
  const portKnown = new Promise<number>((resolve, reject) => {
    resolvePort = resolve;
    rejectPort = reject;
  });
  child.stdout!.on("data", (chunk: Buffer) => {
    buffered += chunk.toString();
    let nl: number;
    while ((nl = buffered.indexOf("\n")) !== -1) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      try {
        const entry = JSON.parse(line) as Record<string, unknown>;
        logs.push(entry);
        if (entry.msg === "agent started") resolvePort(entry.httpPort as number);
      } catch {
        logs.push({ raw: line });
      }
    }
  });
  child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  void exited.then((code) =>
    rejectPort(
      new Error(
        `agent ${options.node} exited with ${code} before starting: ${stderr}${JSON.stringify(logs.slice(-5))}`,
      ),
    ),
  );
  const timer = setTimeout(
    () => rejectPort(new Error(`agent ${options.node} did not start in 30 s: ${stderr}`)),
    30_000,
  );
  const httpPort = await portKnown.finally(() => clearTimeout(timer));
  return {
    options,
    httpPort,
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
  };
}

/** GET a path of the agent's HTTP server. */
export async function agentHttp(
  agent: AgentProcess,
  path: string,
): Promise<{ status: number; text: string }> {
  const res = await fetch(`http://127.0.0.1:${agent.httpPort}${path}`);
  return { status: res.status, text: await res.text() };
}
