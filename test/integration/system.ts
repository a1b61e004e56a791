/**
 * The whole system as it runs, on loopback: nats-server (one, or a 3-node JetStream cluster), an
 * aggregator process and N agent processes, each supervising a stand-in Falco that runs real
 * commands under strace for its node's pods. Tests drive it through the `seccompose` CLI binary.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { startAgentProcess, type AgentProcess } from "../helpers/agent-process.ts";
import { startAggregatorProcess, type AggregatorProcess } from "../helpers/aggregator-process.ts";
import { healthProblem } from "../../cli/cluster/agents.ts";
import { control } from "../helpers/cluster.ts";
import { eventually } from "../helpers/eventually.ts";
import { startNatsCluster, startNatsServer, type NatsServerHandle } from "../helpers/nats.ts";
import { runCli, type CliResult } from "./cli.ts";

export interface PodSpec {
  uid: string;
  name: string;
  namespace: string;
  owner: { kind: string; name: string };
  container: string;
  containerId: string;
  cmd: string[];
}

export interface NodeSpec {
  node: string;
  pods: PodSpec[];
  /** Extra environment of the agent (and so of its stand-in Falco). */
  env?: NodeJS.ProcessEnv;
}

export class System {
  readonly dir: string;
  readonly servers: NatsServerHandle[];
  readonly urls: string[];
  readonly nc: NatsConnection;
  readonly agents = new Map<string, AgentProcess>();
  aggregator: AggregatorProcess;
  readonly #nodes: NodeSpec[];
  readonly #stop: () => Promise<void>;

  private constructor(
    dir: string,
    servers: NatsServerHandle[],
    stop: () => Promise<void>,
    nc: NatsConnection,
    aggregator: AggregatorProcess,
    nodes: NodeSpec[],
  ) {
    this.dir = dir;
    this.servers = servers;
    this.urls = servers.map((s) => s.url);
    this.#stop = stop;
    this.nc = nc;
    this.aggregator = aggregator;
    this.#nodes = nodes;
  }

  static async start(dir: string, nodes: NodeSpec[], opts: { cluster?: boolean } = {}): Promise<System> {
    await mkdir(dir, { recursive: true });
    let servers: NatsServerHandle[];
    let stop: () => Promise<void>;
    if (opts.cluster) {
      const cluster = await startNatsCluster(3);
      servers = cluster.servers;
      stop = () => cluster.stop();
    } else {
      const server = await startNatsServer();
      servers = [server];
      stop = () => server.stop();
    }
    const urls = servers.map((s) => s.url);
    const nc = await connect({ servers: urls, maxReconnectAttempts: -1 });
    const aggregator = await startAggregatorProcess({
      natsUrls: urls,
      extraArgs: ["--replicas", String(servers.length), "--checkpoint-interval-ms", "500"],
    });
    const system = new System(dir, servers, stop, nc, aggregator, nodes);
    for (const spec of nodes) await system.startAgent(spec.node);
    await system.ready();
    return system;
  }

  /**
   * Waits until every agent answers `health` and is fit to record, so that `start`'s own health
   * check finds them all however loaded the machine is (the "agent started" log line comes before
   * the agent answers on NATS).
   */
  async ready(): Promise<void> {
    const nodes = [...this.agents.keys()].sort();
    await eventually(
      `agents ${nodes.join(", ")} to answer health`,
      async () => {
        const replies = await control(this.nc, "health", {}, nodes.length, 3000);
        const healthy = replies
          .filter((r) => r.ok && r.health !== undefined && healthProblem(r.health) === undefined)
          .map((r) => r.node)
          .sort();
        return healthy.join(",") === nodes.join(",") ? true : undefined;
      },
      90_000,
      200,
    );
  }

  /** Waits until every agent runs `session` with its Falco capturing (it opened its event source). */
  async capturing(session: string): Promise<void> {
    const nodes = [...this.agents.keys()].sort();
    await eventually(
      `every agent's Falco to capture for ${session}`,
      async () => {
        const replies = await control(this.nc, "health", {}, nodes.length, 3000);
        const capturing = replies
          .filter((r) => r.health?.falco.state === "running" && r.health.activeSessions.includes(session))
          .map((r) => r.node)
          .sort();
        return capturing.join(",") === nodes.join(",") ? true : undefined;
      },
      90_000,
      200,
    );
  }

  spec(node: string): NodeSpec {
    const spec = this.#nodes.find((n) => n.node === node);
    if (!spec) throw new Error(`no node ${node}`);
    return spec;
  }

  /** Starts (or restarts, with the same state directory) the agent of `node`. */
  async startAgent(node: string): Promise<AgentProcess> {
    const spec = this.spec(node);
    const podsFile = join(this.dir, `${node}.pods.json`);
    const commandsFile = join(this.dir, `${node}.commands.json`);
    await writeFile(
      podsFile,
      JSON.stringify({
        pods: spec.pods.map((p) => ({
          uid: p.uid,
          name: p.name,
          namespace: p.namespace,
          owner: p.owner,
          containers: [{ name: p.container, id: p.containerId }],
        })),
      }),
    );
    await writeFile(
      commandsFile,
      JSON.stringify(spec.pods.map((p) => ({ cmd: p.cmd, podUid: p.uid, containerId: p.containerId }))),
    );
    const agent = await startAgentProcess({
      node,
      natsUrls: this.urls,
      stateDir: join(this.dir, `${node}.state`),
      podsFile,
      env: { STANDIN_MODE: "strace", STANDIN_COMMANDS: commandsFile, ...spec.env },
    });
    this.agents.set(node, agent);
    return agent;
  }

  async restartAggregator(): Promise<void> {
    this.aggregator = await startAggregatorProcess({
      natsUrls: this.urls,
      extraArgs: ["--replicas", String(this.servers.length), "--checkpoint-interval-ms", "500"],
    });
  }

  /** The NATS server the CLI is pointed at; a fault that kills it points the CLI at another. */
  cliUrl: string | undefined;

  /** The real CLI, pointed at this system's NATS. */
  cli(args: string[]): Promise<CliResult> {
    return runCli([...args, "--nats-url", this.cliUrl ?? this.urls[0]!]);
  }

  /** Waits until every agent has seen events of `session` and none has seen more for a few seconds. */
  async settle(session: string, expectContainers: Map<string, number>): Promise<void> {
    let last = "";
    let stable = 0;
    await eventually(
      `agents to finish recording ${session}`,
      async () => {
        const replies = await control(this.nc, "status", { sessionId: session }, this.agents.size, 3000);
        const seen = replies
          .map((r) => `${r.node}:${r.sessions?.[0]?.eventsSeen ?? 0}:${r.sessions?.[0]?.containers ?? 0}`)
          .sort()
          .join(",");
        const complete =
          replies.length === this.agents.size &&
          replies.every((r) => (r.sessions?.[0]?.containers ?? 0) >= (expectContainers.get(r.node) ?? 1));
        stable = complete && seen === last ? stable + 1 : 0;
        last = seen;
        return stable >= 4 ? true : undefined;
      },
      90_000,
      500,
    );
  }

  async stop(): Promise<void> {
    for (const agent of this.agents.values()) await agent.kill().catch(() => {});
    await this.aggregator.kill().catch(() => {});
    await this.nc.close().catch(() => {});
    await this.#stop();
  }
}
