/**
 * Scale simulation: N = 100, 300 and 1,000 agent nodes against a real nats-server and the real
 * aggregator process(es), K = 1 and K = 3 replicas, since no machine here runs a thousand-node
 * cluster. One process stands in for the N agents: per simulated node it publishes what the agent
 * would (lib/nats/codec.ts encoding, `sc.ev.<partition>.<session>.<node>` subjects, batch and FIN
 * message ids, per-node batch numbering, the FIN after the node's batches were acknowledged).
 *
 * Traffic comes from the agent's own NoveltyTracker, fed as the agent feeds it: every node has 30
 * target containers, 10 in each of 3 concurrent sessions (one per partition, each session's record
 * expecting all N nodes, its partition chosen as `seccompose start` chooses it); a container makes
 * 40 syscalls at skewed rates (rank k about 50/(k+1)^1.2 calls per 2 s flush, times a per-container
 * factor from 0.5 to 2) and 3 more syscalls arrive for the first time later in the session. The
 * tracker sends new tuples at the next flush, count updates when a count reaches a power of two,
 * and exact counts in the last flush before the FIN. To keep the CPU affordable, TEMPLATES trackers
 * per session are fed and each simulated node replays one of them under its own node name,
 * container ids, pods and workloads (10 replicas per Deployment spread over 10 nodes): the traffic
 * of every node is what a real tracker produced, but nodes of one template cross powers of two at
 * the same flushes.
 *
 * Time is compressed and the session is short, to keep the whole bench near 3 minutes on 2 cores: a
 * simulated session of SIM_FLUSHES flushes of 2 s (40 simulated seconds) is played with one flush
 * round every ROUND_MS of real time (20× faster), or slower when the machine cannot keep up. So
 * this is the start burst, the early count updates and the stop burst of a session, not hours of
 * steady state (bench/agent-traffic.bench.ts measures those for one node).
 *
 * Per N and K: events/s and bytes/s on the bus (real time), events per node per simulated second,
 * the stream's stored bytes beside the payload bytes published, consumer lag, aggregator CPU
 * seconds (/proc/<pid>/stat) with events merged per CPU second beside a raw durable consumer of
 * the same stream, peak RSS beside the same process idle, and last FIN acknowledged → the
 * session's finalised event (published after its final documents are in KV) beside the same
 * documents put into a scratch KV bucket by one client.
 *
 *   npx node bench/scale-sim.bench.ts          (SCALE_NODES=100,300 SCALE_REPLICAS=1 to narrow it;
 *   SCALE_AGGREGATOR_NODE_OPTIONS="--cpu-prof --cpu-prof-dir=DIR" profiles the aggregators)
 */
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { performance } from "node:perf_hooks";
import { AckPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { JetStreamClient, PubAck } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { connect } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/transport-node";
import { parse as parseYaml } from "yaml";
import type {
  EventMessage,
  SessionFinalisedEvent,
  SessionRecord,
  WorkloadEvents,
  WorkloadKey,
} from "../lib/contracts/types.ts";
import { encodeEventMessage } from "../lib/nats/codec.ts";
import { partitionOf } from "../lib/partitions.ts";
import {
  BUCKET_AGGREGATOR_LEASES,
  BUCKET_PROFILES,
  BUCKET_SESSIONS,
  STREAM_EVENTS,
  aggregatorDurable,
  batchMessageId,
  eventSubject,
  finMessageId,
  statusEventSubject,
} from "../lib/subjects.ts";
import { nonReturningSyscalls } from "../lib/syscalls/non-returning.ts";
import { syscallNames } from "../lib/syscalls/tables.ts";
import { NoveltyTracker } from "../services/agent/edge/novelty-tracker.ts";
import { startAggregatorProcess, type AggregatorProcess } from "../test/helpers/aggregator-process.ts";
import { sessionRecord } from "../test/helpers/cluster.ts";
import { startNatsServer, type NatsServerHandle } from "../test/helpers/nats.ts";
import { formatSpread, percentile, ratio, spread } from "./stats.ts";

const NODE_COUNTS = (process.env.SCALE_NODES ?? "100,300,1000").split(",").map(Number);
const REPLICA_COUNTS = (process.env.SCALE_REPLICAS ?? "1,3").split(",").map(Number);
const SIM_FLUSHES = Number(process.env.SCALE_FLUSHES ?? 20);
const ROUND_MS = Number(process.env.SCALE_ROUND_MS ?? 100);
const FLUSH_SECONDS = 2;
/** One session per partition, so that with K = 3 each replica holds one. */
const PARTITIONS = 3;
const SESSIONS = PARTITIONS;
const CONTAINERS_PER_SESSION = 10;
const SYSCALLS = 40;
const LATE_SYSCALLS = 3;
const REPLICAS_PER_WORKLOAD = 10;
const TEMPLATES = 4;
/** The agent's defaults (services/agent/config.ts, session-manager.ts). */
const MAX_EVENTS_PER_BATCH = 5000;
const MAX_BATCHES_PER_FLUSH = 20;
const MAX_IN_FLIGHT = 512;
const CONNECTIONS = 4;
const ARCH = "x86_64";
const SCMP_ARCH = "SCMP_ARCH_X86_64";
const TARGET_STOP_P99_MS = 5000;
const CLK_TCK = 100;
const MiB = 1024 * 1024;

const DEPLOYMENT = fileURLToPath(
  new URL("../deploy/kustomize/base/aggregator/deployment.yaml", import.meta.url),
);

/** The NODE_OPTIONS the shipped aggregator Deployment sets, so memory is what ships. */
async function shippedNodeOptions(): Promise<string> {
  const deployment = parseYaml(await readFile(DEPLOYMENT, "utf8")) as {
    spec: {
      template: {
        spec: { containers: Array<{ name: string; env?: Array<{ name: string; value?: string }> }> };
      };
    };
  };
  const container = deployment.spec.template.spec.containers.find((c) => c.name === "aggregator");
  return container?.env?.find((e) => e.name === "NODE_OPTIONS")?.value ?? "";
}
const NODE_OPTIONS = await shippedNodeOptions();

/** A small seeded generator (mulberry32), so every run plays the same traffic. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const NON_RETURNING = nonReturningSyscalls([SCMP_ARCH]);
/** Low syscall numbers are the common ones (read, write, open, …); the rare tail is left out. */
const POOL = syscallNames(SCMP_ARCH)
  .filter((n) => !NON_RETURNING.includes(n))
  .slice(0, 160);

/** What the containers in slot `c` of session `s` call: the same on every node (one Deployment). */
const slotSyscalls = Array.from({ length: SESSIONS }, (_, s) =>
  Array.from({ length: CONTAINERS_PER_SESSION }, (_, c) => {
    const r = rng(1000 + s * 100 + c);
    const names = [...POOL];
    for (let i = names.length - 1; i > 0; i--) {
      const j = Math.floor(r() * (i + 1));
      [names[i], names[j]] = [names[j]!, names[i]!];
    }
    return names.slice(0, SYSCALLS + LATE_SYSCALLS);
  }),
);

interface TemplateContainer {
  key: string;
  names: string[];
  /** Calls per flush of each name; a late name calls once per flush from its first flush on. */
  rates: Float64Array;
  owed: Float64Array;
  firstFlush: Int32Array;
}

/** One template node: a real tracker per session, fed with the calls of its containers. */
class Template {
  readonly trackers: NoveltyTracker[];
  readonly containers: TemplateContainer[][];

  constructor(t: number) {
    this.trackers = Array.from({ length: SESSIONS }, () => new NoveltyTracker(NON_RETURNING));
    this.containers = Array.from({ length: SESSIONS }, (_, s) =>
      Array.from({ length: CONTAINERS_PER_SESSION }, (_, c) => {
        const r = rng(7 + t * 1000 + s * 100 + c);
        const factor = 0.5 + 1.5 * r();
        const names = slotSyscalls[s]![c]!;
        const rates = new Float64Array(names.length);
        const firstFlush = new Int32Array(names.length);
        for (let k = 0; k < names.length; k++) {
          if (k < SYSCALLS) rates[k] = (factor * 50) / (k + 1) ** 1.2;
          else {
            rates[k] = 1;
            firstFlush[k] = Math.floor(SIM_FLUSHES / 4 + r() * ((3 * SIM_FLUSHES) / 4));
          }
        }
        return { key: `t${t}-s${s}-c${c}`, names, rates, owed: new Float64Array(names.length), firstFlush };
      }),
    );
  }

  /** Books one flush interval of calls; `timeMs` is the simulated time. */
  record(flush: number, timeMs: number): void {
    for (let s = 0; s < SESSIONS; s++) {
      const tracker = this.trackers[s]!;
      for (const [c, container] of this.containers[s]!.entries()) {
        const workload: WorkloadKey = {
          namespace: `team-${s}`,
          kind: "Deployment",
          name: `slot-${c}`,
          container: "main",
        };
        const meta = { pod: container.key, podUid: container.key, containerId: container.key };
        for (let k = 0; k < container.names.length; k++) {
          if (flush < container.firstFlush[k]!) continue;
          const owed = container.owed[k]! + container.rates[k]!;
          const calls = Math.floor(owed);
          container.owed[k] = owed - calls;
          for (let n = 0; n < calls; n++)
            tracker.record(container.key, workload, meta, container.names[k]!, undefined, timeMs);
        }
      }
    }
  }

  /** What the agent's flush drains per session: at most 20 batches, or everything at stop. */
  drain(everything: boolean): WorkloadEvents[][][] {
    return this.trackers.map((tracker) => {
      if (everything) tracker.queueStaleCounts();
      const batches: WorkloadEvents[][] = [];
      while (everything || batches.length < MAX_BATCHES_PER_FLUSH) {
        const workloads = tracker.drain(MAX_EVENTS_PER_BATCH);
        if (workloads.length === 0) break;
        batches.push(workloads);
      }
      return batches;
    });
  }
}

const hex = (n: number, width: number) => n.toString(16).padStart(width, "0");

/** Node `i`'s identity: its name, and per session and slot its container, pod and workload. */
class SimNode {
  readonly name: string;
  readonly template: number;
  readonly nextSeq = new Array<number>(SESSIONS).fill(1);
  readonly #entries: Map<string, Omit<WorkloadEvents, "syscalls">>;

  constructor(i: number, nodes: number) {
    this.name = `node-${hex(i, 4)}`;
    this.template = i % TEMPLATES;
    const groups = nodes / REPLICAS_PER_WORKLOAD;
    this.#entries = new Map();
    for (let s = 0; s < SESSIONS; s++)
      for (let c = 0; c < CONTAINERS_PER_SESSION; c++) {
        // Workload a runs slot a % 10 on the 10 nodes i with i % (N / 10) = floor(a / 10).
        const app = c + CONTAINERS_PER_SESSION * (i % groups);
        const id = (i * SESSIONS + s) * CONTAINERS_PER_SESSION + c;
        this.#entries.set(`t${this.template}-s${s}-c${c}`, {
          workload: { namespace: `team-${s}`, kind: "Deployment", name: `app-${app}`, container: "main" },
          pod: `app-${app}-${hex(i, 4)}${hex(c, 1)}`,
          podUid: `${hex(i, 8)}-${hex(s, 4)}-4${hex(c, 3)}-8000-${hex(id, 12)}`,
          containerId: hex(id, 64),
        });
      }
  }

  /** The template's entries under this node's containers (event arrays are shared, never changed). */
  relabel(workloads: WorkloadEvents[]): WorkloadEvents[] {
    return workloads.map((w) => ({ ...this.#entries.get(w.containerId!)!, syscalls: w.syscalls }));
  }
}

/** utime + stime of a process, in seconds. */
async function cpuOf(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

async function memOf(pid: number, field: "VmHWM" | "VmRSS"): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  return Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) / 1024;
}

/** Publishes with a bounded number of PubAcks outstanding, over a few connections. */
class Bus {
  readonly #clients: JetStreamClient[];
  readonly #inflight = new Set<Promise<PubAck>>();
  #next = 0;
  messages = 0;
  bytes = 0;

  constructor(connections: NatsConnection[]) {
    this.#clients = connections.map((c) => jetstream(c));
  }

  /** Resolves once the publish is under way, with its acknowledgement. */
  async publish(subject: string, data: Uint8Array, msgID: string): Promise<{ ack: Promise<PubAck> }> {
    while (this.#inflight.size >= MAX_IN_FLIGHT) await Promise.race(this.#inflight);
    const client = this.#clients[this.#next++ % this.#clients.length]!;
    const ack = client.publish(subject, data, { msgID });
    this.#inflight.add(ack);
    void ack.finally(() => this.#inflight.delete(ack)).catch(() => {});
    this.messages++;
    this.bytes += data.length;
    return { ack };
  }

  async settle(): Promise<void> {
    await Promise.all(this.#inflight);
  }
}

async function leaseHolders(nc: NatsConnection): Promise<Set<string>> {
  const kv = await new Kvm(jetstream(nc)).open(BUCKET_AGGREGATOR_LEASES);
  const holders = new Map<string, string>();
  for await (const key of await kv.keys("partition.*")) {
    const e = await kv.get(key);
    if (e?.operation === "PUT") holders.set(key, e.json<{ replica: string }>().replica);
  }
  return holders.size === PARTITIONS ? new Set(holders.values()) : new Set();
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 60_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Session ids whose partitions (as `seccompose start` computes them) are 0, 1, 2. */
function sessionIds(prefix: string): string[] {
  const ids: string[] = [];
  for (let p = 0; p < PARTITIONS; p++) {
    let n = 0;
    while (partitionOf(`${prefix}-${p}-${n}`, PARTITIONS) !== p) n++;
    ids.push(`${prefix}-${p}-${n}`);
  }
  return ids;
}

interface RunResult {
  nodes: number;
  replicas: number;
  sessionEvents: number;
  sessionBytes: number;
  sessionSeconds: number;
  steadyEventsPerNodeSimSecond: number;
  wholeEventsPerNodeSimSecond: number;
  stopEvents: number;
  stopBytes: number;
  messages: number;
  storedBytes: number;
  payloadBytes: number;
  maxLag: number;
  lagAtStop: number;
  aggregatorCpu: number;
  natsCpu: number;
  generatorCpu: number;
  eventsMerged: number;
  rawEventsPerSecond: number;
  rawEventsPerCpuSecond: number;
  peakRss: number[];
  idleRss: number[];
  finLatencies: number[];
  stopLatencies: number[];
  kvFloor: number[];
  statuses: string[];
  workloads: number;
}

async function startReplicas(server: NatsServerHandle, k: number): Promise<AggregatorProcess[]> {
  const args = [
    "--partitions",
    String(PARTITIONS),
    // A cluster-wide session of 1,000 nodes × 10 containers × 47 tuples is over the default 200,000.
    "--max-tuples-per-session",
    "2000000",
  ];
  const env = { NODE_OPTIONS: `${NODE_OPTIONS} ${process.env.SCALE_AGGREGATOR_NODE_OPTIONS ?? ""}`.trim() };
  const first = await startAggregatorProcess({ natsUrls: [server.url], extraArgs: args, env });
  const rest = await Promise.all(
    Array.from({ length: k - 1 }, () =>
      startAggregatorProcess({ natsUrls: [server.url], extraArgs: args, env, standby: true }),
    ),
  );
  return [first, ...rest];
}

async function oneRun(nodes: number, k: number): Promise<RunResult> {
  const server = await startNatsServer();
  const connections = await Promise.all(
    Array.from({ length: CONNECTIONS }, () => connect({ servers: server.url, noAsyncTraces: true })),
  );
  const nc = connections[0]!;
  const aggregators = await startReplicas(server, k);
  try {
    const jsm = await jetstreamManager(nc);
    await until("the partitions spread over the replicas", async () =>
      (await leaseHolders(nc)).size === k ? true : undefined,
    );
    // Every partition's durable exists once its holder consumes.
    await until("every partition consumed", async () => {
      for (let p = 0; p < PARTITIONS; p++)
        if (!(await jsm.consumers.info(STREAM_EVENTS, aggregatorDurable(p)).catch(() => undefined)))
          return undefined;
      return true;
    });
    const idleRss = await Promise.all(aggregators.map((a) => memOf(a.pid, "VmRSS")));

    const templates = Array.from({ length: TEMPLATES }, (_, t) => new Template(t));
    const simNodes = Array.from({ length: nodes }, (_, i) => new SimNode(i, nodes));
    const ids = sessionIds(`sim-n${nodes}-k${k}`);
    const sessions = await new Kvm(jetstream(nc)).open(BUCKET_SESSIONS);
    const simStart = Date.now() - (SIM_FLUSHES + 1) * FLUSH_SECONDS * 1000;
    const records = ids.map((id) =>
      sessionRecord(id, {
        createdAt: new Date(simStart).toISOString(),
        targets: { namespaces: [`team-${ids.indexOf(id)}`] },
        expectedNodes: simNodes.map((n) => n.name),
        partition: partitionOf(id, PARTITIONS),
      }),
    );
    for (const r of records) await sessions.put(r.id, JSON.stringify(r));

    const finalised = new Map<string, { at: number; event: SessionFinalisedEvent }>();
    const subs = ids.map((id) =>
      nc.subscribe(statusEventSubject(id), {
        callback: (_err, msg) => {
          const event = msg.json<SessionFinalisedEvent>();
          if (event.kind === "SessionFinalised" && !finalised.has(id))
            finalised.set(id, { at: performance.now(), event });
        },
      }),
    );

    const bus = new Bus(connections);
    let maxLag = 0;
    let sampling = true;
    const lag = async () => {
      let pending = 0;
      for (let p = 0; p < PARTITIONS; p++) {
        const info = await jsm.consumers.info(STREAM_EVENTS, aggregatorDurable(p)).catch(() => undefined);
        pending += info?.num_pending ?? 0;
      }
      return pending;
    };
    const sampler = (async () => {
      while (sampling) {
        maxLag = Math.max(maxLag, await lag());
        await new Promise((r) => setTimeout(r, 250));
      }
    })();

    const cpuBefore = await Promise.all(aggregators.map((a) => cpuOf(a.pid)));
    const natsBefore = await cpuOf(server.pid);
    const generatorBefore = process.cpuUsage();
    const eventsPerSession = new Array<number>(SESSIONS).fill(0);
    const eventsPerFlush: number[] = [];

    /** Publishes one flush of every node: `drained[t][s]` are template t's batches for session s. */
    const publishRound = async (drained: WorkloadEvents[][][][], sentAt: number): Promise<number> => {
      let events = 0;
      for (const node of simNodes) {
        const byTemplate = drained[node.template]!;
        for (let s = 0; s < SESSIONS; s++) {
          for (const workloads of byTemplate[s]!) {
            const seq = node.nextSeq[s]!++;
            const message: EventMessage = {
              schemaVersion: 1,
              kind: "batch",
              session: ids[s]!,
              node: node.name,
              arch: ARCH,
              seq,
              sentAt,
              droppedEvents: 0,
              workloads: node.relabel(workloads),
            };
            for (const w of workloads) events += w.syscalls.length;
            for (const w of workloads) eventsPerSession[s]! += w.syscalls.length;
            await bus.publish(
              eventSubject(records[s]!.partition!, ids[s]!, node.name),
              encodeEventMessage(message),
              batchMessageId(ids[s]!, node.name, seq),
            );
          }
        }
      }
      return events;
    };

    // The session: one flush round every ROUND_MS of real time, or as fast as the machine allows.
    const sessionStart = performance.now();
    for (let f = 0; f < SIM_FLUSHES; f++) {
      const wait = sessionStart + f * ROUND_MS - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const timeMs = simStart + f * FLUSH_SECONDS * 1000;
      for (const t of templates) t.record(f, timeMs);
      eventsPerFlush.push(
        await publishRound(
          templates.map((t) => t.drain(false)),
          timeMs + FLUSH_SECONDS * 1000,
        ),
      );
    }
    await bus.settle();
    process.stderr.write(`N=${nodes} K=${k}: session phase published\n`);
    const sessionSeconds = (performance.now() - sessionStart) / 1000;
    const sessionEvents = eventsPerFlush.reduce((a, b) => a + b, 0);
    const sessionBytes = bus.bytes;
    const lagAtStop = await lag();

    // The stop: records say stopping (as `seccompose stop` writes them), every node's last flush
    // with exact counts, and once its batches are acknowledged its FIN.
    const stopAt = performance.now();
    for (const r of records) {
      const now = Date.now();
      await sessions.put(
        r.id,
        JSON.stringify({
          ...r,
          state: "stopping",
          stopRequestedAt: new Date(now).toISOString(),
          stopDeadline: new Date(now + 120_000).toISOString(),
        } satisfies SessionRecord),
      );
    }
    const stopTime = simStart + SIM_FLUSHES * FLUSH_SECONDS * 1000;
    for (const t of templates) t.record(SIM_FLUSHES, stopTime);
    const stopEvents = await publishRound(
      templates.map((t) => t.drain(true)),
      stopTime,
    );
    await bus.settle();
    const stopBytes = bus.bytes - sessionBytes;
    const lastFin = new Array<number>(SESSIONS).fill(0);
    const finAcks: Promise<void>[] = [];
    for (const node of simNodes)
      for (let s = 0; s < SESSIONS; s++) {
        const fin: EventMessage = {
          schemaVersion: 1,
          kind: "fin",
          session: ids[s]!,
          node: node.name,
          batches: node.nextSeq[s]! - 1,
          sentAt: stopTime,
          droppedEvents: 0,
        };
        const { ack } = await bus.publish(
          eventSubject(records[s]!.partition!, ids[s]!, node.name),
          encodeEventMessage(fin),
          finMessageId(ids[s]!, node.name),
        );
        finAcks.push(ack.then(() => void (lastFin[s] = Math.max(lastFin[s]!, performance.now()))));
      }
    await Promise.all(finAcks);
    process.stderr.write(`N=${nodes} K=${k}: FINs acknowledged\n`);
    await until(
      "every session finalised",
      async () => (finalised.size === SESSIONS ? true : undefined),
      180_000,
    );
    sampling = false;
    await sampler;
    for (const sub of subs) sub.unsubscribe();

    const aggregatorCpu = (await Promise.all(aggregators.map((a) => cpuOf(a.pid)))).reduce(
      (n, c, i) => n + c - cpuBefore[i]!,
      0,
    );
    const natsCpu = (await cpuOf(server.pid)) - natsBefore;
    const used = process.cpuUsage(generatorBefore);
    const generatorCpu = (used.user + used.system) / 1e6;
    const peakRss = await Promise.all(aggregators.map((a) => memOf(a.pid, "VmHWM")));
    const info = await jsm.streams.info(STREAM_EVENTS);

    // Every event reached the final documents: merged counts as the status of each session says.
    let eventsMerged = 0;
    for (const [s, id] of ids.entries()) {
      const reply = await nc.request("sc.agg.status", JSON.stringify({ session: id }), { timeout: 5000 });
      const status = reply.json<{ sessions: Array<{ eventsMerged?: number; refused?: unknown }> }>();
      const merged = status.sessions[0]?.eventsMerged ?? 0;
      if (merged !== eventsPerSession[s])
        throw new Error(
          `session ${id}: ${merged} events merged of ${eventsPerSession[s]} published (${JSON.stringify(status.sessions[0]?.refused)})`,
        );
      eventsMerged += merged;
    }
    const results = ids.map((id) => finalised.get(id)!);

    for (const a of aggregators) await a.stop();

    // Baseline: NATS alone reads the same stream with a plain durable consumer.
    await jsm.consumers.add(STREAM_EVENTS, { durable_name: "bench_raw", ack_policy: AckPolicy.Explicit });
    const rawCpuBefore = process.cpuUsage();
    const rawStart = performance.now();
    const messages = await (
      await jetstream(nc).consumers.get(STREAM_EVENTS, "bench_raw")
    ).consume({ max_bytes: 4 * MiB });
    let read = 0;
    for await (const m of messages) {
      m.ack();
      if (++read === info.state.messages) break;
    }
    const rawSeconds = (performance.now() - rawStart) / 1000;
    const rawUsed = process.cpuUsage(rawCpuBefore);
    await messages.close();
    const totalEvents = sessionEvents + stopEvents;

    // Baseline: the sessions' final documents put into a scratch bucket by one client, in turn.
    const profiles = await new Kvm(jetstream(nc)).open(BUCKET_PROFILES);
    const scratch = await new Kvm(jetstream(nc)).create("bench_scratch");
    const kvFloor: number[] = [];
    for (const { event } of results) {
      const docs = await Promise.all(event.profiles.map(async (p) => (await profiles.get(p.key))!.value));
      const t0 = performance.now();
      for (const [i, doc] of docs.entries()) await scratch.put(`${event.session}.${i}`, doc);
      kvFloor.push(performance.now() - t0);
    }

    const simSeconds = SIM_FLUSHES * FLUSH_SECONDS;
    const steadyFrom = Math.floor(SIM_FLUSHES / 2);
    const steadyEvents = eventsPerFlush.slice(steadyFrom).reduce((a, b) => a + b, 0);
    return {
      nodes,
      replicas: k,
      sessionEvents,
      sessionBytes,
      sessionSeconds,
      steadyEventsPerNodeSimSecond: steadyEvents / nodes / ((SIM_FLUSHES - steadyFrom) * FLUSH_SECONDS),
      wholeEventsPerNodeSimSecond: sessionEvents / nodes / simSeconds,
      stopEvents,
      stopBytes,
      messages: bus.messages,
      storedBytes: info.state.bytes,
      payloadBytes: bus.bytes,
      maxLag,
      lagAtStop,
      aggregatorCpu,
      natsCpu,
      generatorCpu,
      eventsMerged,
      rawEventsPerSecond: totalEvents / rawSeconds,
      rawEventsPerCpuSecond: totalEvents / ((rawUsed.user + rawUsed.system) / 1e6),
      peakRss,
      idleRss,
      finLatencies: ids.map((_, s) => results[s]!.at - lastFin[s]!),
      stopLatencies: results.map((r) => r.at - stopAt),
      kvFloor,
      statuses: results.map((r) => r.event.status),
      workloads: results.reduce((n, r) => n + r.event.profiles.length, 0),
    };
  } finally {
    // Warnings and errors of the aggregators go to stderr (not into docs/benchmarks.md).
    for (const a of aggregators)
      for (const l of a.logs.filter((e) => Number(e.level) >= 40).slice(0, 10))
        process.stderr.write(`aggregator ${a.pid}: ${JSON.stringify(l)}\n`);
    for (const a of aggregators) await a.kill().catch(() => {});
    for (const c of connections) await c.close();
    await server.stop();
  }
}

const fmt = (n: number, digits = 0) =>
  n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
const ms = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
};

console.log(
  `scale simulation: ${SESSIONS} concurrent sessions (one per partition of ${PARTITIONS}), each expecting every node; ` +
    `per node ${SESSIONS * CONTAINERS_PER_SESSION} target containers × ${SYSCALLS} syscalls (+${LATE_SYSCALLS} arriving later), ` +
    `${SIM_FLUSHES} flushes of ${FLUSH_SECONDS} s (${SIM_FLUSHES * FLUSH_SECONDS} simulated seconds) played one per ${ROUND_MS} ms; ` +
    `real nats-server (single), real aggregator processes (NODE_OPTIONS ${NODE_OPTIONS || "(none)"}); 1 run per N and K`,
);
// What steady state mostly sends: a batch holding one count update of one container.
const lone = new SimNode(999, 1000);
const loneBatch = encodeEventMessage({
  schemaVersion: 1,
  kind: "batch",
  session: "sim-n1000-k1-0-0",
  node: lone.name,
  arch: ARCH,
  seq: 1234,
  sentAt: 1_800_000_000_000,
  droppedEvents: 0,
  workloads: lone.relabel([
    {
      workload: { namespace: "", kind: "", name: "", container: "" },
      pod: "",
      podUid: "",
      containerId: `t${lone.template}-s0-c0`,
      syscalls: [{ name: "epoll_wait", count: 4096, firstSeen: 1_800_000_000_000 }],
    },
  ]),
});
console.log(`a batch with one count update (most of steady state): ${loneBatch.length} bytes of payload`);
for (const nodes of NODE_COUNTS) {
  for (const k of REPLICA_COUNTS) {
    const started = performance.now();
    const r = await oneRun(nodes, k);
    const lat = ms(r.finLatencies);
    const stop = ms(r.stopLatencies);
    const floor = ms(r.kvFloor);
    const busRate = r.sessionEvents / r.sessionSeconds;
    const perCpu = r.eventsMerged / r.aggregatorCpu;
    console.log(
      `N = ${nodes} nodes, K = ${k} aggregator replica${k === 1 ? "" : "s"} (${r.workloads} workloads, final status ${[...new Set(r.statuses)].join("/")}; run took ${((performance.now() - started) / 1000).toFixed(1)} s)`,
    );
    console.log(
      `  bus, session (${r.sessionSeconds.toFixed(1)} s real): ${fmt(busRate)} events/s, ${fmt(r.sessionBytes / r.sessionSeconds / 1e6, 2)} MB/s; ` +
        `${fmt(r.wholeEventsPerNodeSimSecond, 2)} events per node per simulated second, ${fmt(r.steadyEventsPerNodeSimSecond, 2)} in its second half`,
    );
    console.log(
      `  bus, stop burst: ${fmt(r.stopEvents)} events, ${mb(r.stopBytes)}; ${fmt(r.messages)} messages in all`,
    );
    console.log(
      `  stream stored ${mb(r.storedBytes)} for ${mb(r.payloadBytes)} of payload: ${ratio(r.storedBytes, r.payloadBytes)}; ` +
        `consumer lag max ${fmt(r.maxLag)} messages, ${fmt(r.lagAtStop)} when the session phase ended`,
    );
    console.log(
      `  aggregator CPU ${r.aggregatorCpu.toFixed(1)} s for ${fmt(r.eventsMerged)} events: ${fmt(perCpu)} events per CPU second; ` +
        `raw durable consumer of the same stream ${fmt(r.rawEventsPerCpuSecond)} events per CPU second (${fmt(r.rawEventsPerSecond)} events/s): ${ratio(perCpu, r.rawEventsPerCpuSecond)}`,
    );
    console.log(
      `  same interval: nats-server CPU ${r.natsCpu.toFixed(1)} s, load generator CPU ${r.generatorCpu.toFixed(1)} s`,
    );
    console.log(
      `  aggregator peak RSS ${r.peakRss.map((m) => m.toFixed(0)).join(", ")} MiB; idle before the session ${r.idleRss.map((m) => m.toFixed(0)).join(", ")} MiB: ` +
        `${ratio(Math.max(...r.peakRss), Math.max(...r.idleRss))}`,
    );
    console.log(
      `  last FIN acknowledged -> session finalised (final documents in KV), ${SESSIONS} sessions: ${formatSpread(spread(r.finLatencies), "ms")}; p50 ${fmt(lat.p50)} ms, p99 ${fmt(lat.p99)} ms ` +
        `(target p99 < ${fmt(TARGET_STOP_P99_MS)} ms: ${lat.p99 < TARGET_STOP_P99_MS ? "met" : "NOT met"})`,
    );
    console.log(
      `  stop (records stopping, last flush begins) -> finalised: p50 ${fmt(stop.p50)} ms, p99 ${fmt(stop.p99)} ms; ` +
        `floor: the same final documents put into KV by one client, p50 ${fmt(floor.p50)} ms; FIN -> finalised p50 / floor p50: ${ratio(lat.p50, floor.p50)}`,
    );
  }
}
