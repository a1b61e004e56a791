/**
 * Runs the real node agent (services/agent/main.ts) as a separate process, supervising the
 * stand-in Falco exactly as it would supervise Falco (or a real Falco given by `falcoBinary`), for
 * integration tests and benchmarks.
 */
import { fileURLToPath } from "node:url";
import { startServiceProcess, type ServiceProcess } from "./service-process.ts";

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
  /** A real Falco binary to supervise instead of the stand-in. */
  falcoBinary?: string;
  extraArgs?: string[];
}

export interface AgentProcess extends ServiceProcess {
  readonly options: AgentProcessOptions;
  readonly httpPort: number;
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
    ...(options.falcoBinary !== undefined
      ? ["--falco-binary", options.falcoBinary]
      : ["--falco-binary", process.execPath, "--falco-arg", STANDIN_FALCO]),
    "--alert-format",
    options.alertFormat ?? "compact",
    ...(options.extraArgs ?? []),
  ];
  const { service, ready } = await startServiceProcess(
    `agent ${options.node}`,
    args,
    options.env ?? {},
    (e) => e.msg === "agent started",
  );
  return Object.assign(service, { options, httpPort: ready.httpPort as number });
}

/** GET a path of the agent's HTTP server. */
export async function agentHttp(
  agent: AgentProcess,
  path: string,
): Promise<{ status: number; text: string }> {
  const res = await fetch(`http://127.0.0.1:${agent.httpPort}${path}`);
  return { status: res.status, text: await res.text() };
}

/** The value of one unlabelled Prometheus metric of the agent. */
export async function agentMetric(agent: AgentProcess, name: string): Promise<number> {
  const { text } = await agentHttp(agent, "/metrics");
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  if (line === undefined) throw new Error(`agent metric ${name} not found`);
  return Number(line.slice(name.length + 1));
}
