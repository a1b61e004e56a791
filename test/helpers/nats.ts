/**
 * Real nats-server processes for integration tests and benchmarks.
 *
 * Each server gets its own temporary directory holding `nats.conf`, `nats.log` and (unless the caller
 * gives one) the JetStream store, and listens on loopback ports that stay the same across restarts so
 * that clients and cluster routes reconnect to it. Every process spawned here is SIGKILLed and its
 * temporary directory removed when the test process exits, so a crashed test leaves nothing behind.
 */
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { closeSync, existsSync, openSync, rmSync } from "node:fs";
import { mkdir, mkdtemp, open, rm, stat, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

/** Debian installs the binary in /usr/sbin, which is often missing from a non-root PATH. */
const NATS_SERVER_BIN =
  process.env.NATS_SERVER_BIN ??
  (existsSync("/usr/sbin/nats-server") ? "/usr/sbin/nats-server" : "nats-server");
const HOST = "127.0.0.1";
const START_TIMEOUT_MS = 20_000;
const CLUSTER_START_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 10_000;
const POLL_INTERVAL_MS = 50;
const LOG_TAIL_LINES = 40;

export interface NatsServerOptions {
  /** Enable JetStream (default true). */
  jetstream?: boolean;
  /** Extra nats.conf text appended after the generated settings, e.g. `authorization` or `accounts` blocks. */
  config?: string;
  /** Client port; a free loopback port by default. */
  port?: number;
  /** JetStream store directory; a directory inside the server's temp dir by default. Never removed if given. */
  storeDir?: string;
}

export interface NatsServerHandle {
  /** The server_name, as JetStream reports it for stream leaders and replicas. */
  readonly name: string;
  readonly url: string;
  readonly port: number;
  readonly monitorPort: number;
  readonly storeDir: string;
  /** The server's temp dir holding `nats.conf` and `nats.log`. */
  readonly dir: string;
  readonly logFile: string;
  /** Process id of the current incarnation; it changes on restart(). */
  readonly pid: number;
  /** SIGTERM, wait for exit, then remove the temp dir. Final: the handle cannot be restarted afterwards. */
  stop(): Promise<void>;
  /** SIGKILL and wait for exit; the store is kept, so restart() recovers it. */
  kill(): Promise<void>;
  /** Stop the process if it runs, start it again on the same ports and store, and wait until healthy. */
  restart(): Promise<void>;
}

export interface NatsClusterOptions {
  /** Extra nats.conf text appended to every node's config. */
  config?: string;
}

export interface NatsClusterHandle {
  /** Client URLs of all nodes, in node order. */
  readonly urls: string[];
  readonly servers: NatsServerHandle[];
  /** Stop every node (see NatsServerHandle.stop). */
  stop(): Promise<void>;
}

interface ClusterSpec {
  name: string;
  port: number;
  routePorts: number[];
}

interface ServerSpec {
  serverName: string;
  port: number;
  monitorPort: number;
  dir: string;
  storeDir: string;
  jetstream: boolean;
  config: string;
  cluster?: ClusterSpec;
}

interface Incarnation {
  child: ChildProcess;
  exited: Promise<void>;
}

const liveChildren = new Set<ChildProcess>();
const ownedDirs = new Set<string>();
let exitHandlersInstalled = false;

function cleanUpSync(): void {
  for (const child of liveChildren) child.kill("SIGKILL");
  liveChildren.clear();
  for (const dir of ownedDirs) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // Best effort at exit: a directory we cannot remove must not mask the test's own outcome.
    }
  }
  ownedDirs.clear();
}

function installExitHandlers(): void {
  if (exitHandlersInstalled) return;
  exitHandlersInstalled = true;
  process.once("exit", cleanUpSync);
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.once(signal, () => {
      cleanUpSync();
      // Our listener replaced the default "terminate" action; restore it unless someone else handles it.
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    });
  }
}

const issuedPorts = new Set<number>();

function bindEphemeralPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, HOST, () => {
      const address = server.address();
      server.close(() => {
        if (address !== null && typeof address === "object") resolve(address.port);
        else reject(new Error(`could not read the port bound on ${HOST}`));
      });
    });
  });
}

/** A TCP port on 127.0.0.1 that was free a moment ago and is not handed out twice by this process. */
export async function getFreePort(): Promise<number> {
  for (;;) {
    const port = await bindEphemeralPort();
    if (!issuedPorts.has(port)) {
      issuedPorts.add(port);
      return port;
    }
  }
}

function renderConfig(spec: ServerSpec): string {
  const lines = [
    `server_name: ${JSON.stringify(spec.serverName)}`,
    `listen: "${HOST}:${spec.port}"`,
    `http: "${HOST}:${spec.monitorPort}"`,
  ];
  if (spec.jetstream) {
    // Without explicit limits JetStream sizes itself from the host, and several servers share the host.
    lines.push(
      `jetstream { store_dir: ${JSON.stringify(spec.storeDir)}, max_memory_store: 256MB, max_file_store: 8GB }`,
    );
  }
  if (spec.cluster) {
    const routes = spec.cluster.routePorts.map((p) => `"nats-route://${HOST}:${p}"`).join(", ");
    lines.push(
      `cluster { name: ${JSON.stringify(spec.cluster.name)}, listen: "${HOST}:${spec.cluster.port}", no_advertise: true, routes: [${routes}] }`,
    );
  }
  lines.push(spec.config);
  return lines.join("\n") + "\n";
}

async function readLogTail(logFile: string, fromByte: number): Promise<string> {
  try {
    const handle = await open(logFile, "r");
    try {
      const { size } = await handle.stat();
      const length = Math.max(0, size - fromByte);
      const buffer = Buffer.alloc(length);
      await handle.read(buffer, 0, length, fromByte);
      const text = buffer.toString("utf8").trimEnd();
      return text === "" ? "(nothing logged)" : text.split("\n").slice(-LOG_TAIL_LINES).join("\n");
    } finally {
      await handle.close();
    }
  } catch {
    return "(no log file)";
  }
}

async function fetchMonitor(monitorPort: number, path: string): Promise<Response | undefined> {
  try {
    return await fetch(`http://${HOST}:${monitorPort}${path}`, { signal: AbortSignal.timeout(2_000) });
  } catch {
    return undefined;
  }
}

function logFileOf(spec: ServerSpec): string {
  return join(spec.dir, "nats.log");
}

function describeServer(spec: ServerSpec): string {
  return `nats-server ${spec.serverName} (port ${spec.port}, dir ${spec.dir})`;
}

/**
 * Spawns the server and resolves once `/healthz` answers 200: the server accepts clients and, with
 * JetStream, has recovered its store and (in a cluster) reached the meta leader with its assets current.
 */
async function launch(spec: ServerSpec, timeoutMs: number): Promise<Incarnation> {
  const logFile = logFileOf(spec);
  const logStart = await stat(logFile).then(
    (s) => s.size,
    () => 0,
  );
  const logFd = openSync(logFile, "a");
  let child: ChildProcess;
  try {
    child = spawn(NATS_SERVER_BIN, ["-c", join(spec.dir, "nats.conf")], {
      stdio: ["ignore", logFd, logFd],
    });
  } finally {
    closeSync(logFd);
  }
  let spawnError: Error | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once("error", (err) => {
      spawnError = err;
      resolve();
    });
    child.once("exit", () => {
      liveChildren.delete(child);
      resolve();
    });
  });
  liveChildren.add(child);
  installExitHandlers();

  const failure = async (reason: string): Promise<Error> =>
    new Error(`${describeServer(spec)} ${reason}; log tail:\n${await readLogTail(logFile, logStart)}`, {
      cause: spawnError,
    });

  let lastHealth = "no answer";
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (spawnError)
      throw await failure(`could not be spawned from ${NATS_SERVER_BIN}: ${spawnError.message}`);
    if (child.exitCode !== null || child.signalCode !== null) {
      throw await failure(`exited during start (code ${child.exitCode}, signal ${child.signalCode})`);
    }
    const response = await fetchMonitor(spec.monitorPort, "/healthz");
    if (response?.ok) return { child, exited };
    if (response) lastHealth = `${response.status} ${await response.text()}`;
    await sleep(POLL_INTERVAL_MS);
  }
  child.kill("SIGKILL");
  await exited;
  throw await failure(`was not healthy within ${timeoutMs} ms (last /healthz: ${lastHealth.trim()})`);
}

async function terminate(incarnation: Incarnation, signal: NodeJS.Signals): Promise<void> {
  const { child, exited } = incarnation;
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill(signal);
  // An unref'd timer: a pending grace period must not keep the test process alive after the exit.
  const exitedInTime = await Promise.race([
    exited.then(() => true),
    sleep(STOP_GRACE_MS, false, { ref: false }),
  ]);
  if (!exitedInTime) {
    child.kill("SIGKILL");
    await exited;
  }
}

async function prepare(spec: ServerSpec): Promise<void> {
  if (spec.jetstream) await mkdir(spec.storeDir, { recursive: true });
  await writeFile(join(spec.dir, "nats.conf"), renderConfig(spec));
}

function makeHandle(spec: ServerSpec, first: Incarnation, timeoutMs: number): NatsServerHandle {
  let current = first;
  let stopped = false;
  return {
    name: spec.serverName,
    url: `nats://${HOST}:${spec.port}`,
    port: spec.port,
    monitorPort: spec.monitorPort,
    storeDir: spec.storeDir,
    dir: spec.dir,
    logFile: logFileOf(spec),
    get pid(): number {
      // A spawned child always has a pid once launch() resolved.
      return current.child.pid ?? -1;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await terminate(current, "SIGTERM");
      await rm(spec.dir, { recursive: true, force: true });
      ownedDirs.delete(spec.dir);
    },
    async kill() {
      await terminate(current, "SIGKILL");
    },
    async restart() {
      if (stopped) throw new Error(`${describeServer(spec)} was stopped and its directory removed`);
      await terminate(current, "SIGTERM");
      current = await launch(spec, timeoutMs);
    },
  };
}

async function makeServerDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "seccompose-nats-"));
  ownedDirs.add(dir);
  installExitHandlers();
  return dir;
}

/** Starts one nats-server on 127.0.0.1 and waits until it is healthy. */
export async function startNatsServer(opts: NatsServerOptions = {}): Promise<NatsServerHandle> {
  const dir = await makeServerDir();
  const port = opts.port ?? (await getFreePort());
  const spec: ServerSpec = {
    serverName: `sc-test-${port}`,
    port,
    monitorPort: await getFreePort(),
    dir,
    storeDir: opts.storeDir ?? join(dir, "store"),
    jetstream: opts.jetstream ?? true,
    config: opts.config ?? "",
  };
  try {
    await prepare(spec);
    return makeHandle(spec, await launch(spec, START_TIMEOUT_MS), START_TIMEOUT_MS);
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    ownedDirs.delete(dir);
    throw err;
  }
}

interface JszMeta {
  meta_cluster?: { leader?: string };
}

async function metaLeaderOf(monitorPort: number): Promise<string | undefined> {
  const response = await fetchMonitor(monitorPort, "/jsz");
  if (!response?.ok) return undefined;
  const jsz = (await response.json()) as JszMeta;
  return jsz.meta_cluster?.leader || undefined;
}

/**
 * Starts a JetStream cluster of `size` nodes on loopback (each with its own ports, server_name and store)
 * and waits until every node agrees on the same JetStream meta leader.
 */
export async function startNatsCluster(size = 3, opts: NatsClusterOptions = {}): Promise<NatsClusterHandle> {
  if (!Number.isInteger(size) || size < 2)
    throw new Error(`a NATS cluster needs at least 2 nodes, got ${size}`);
  const clusterName = `sc-test-${process.pid}-${Date.now().toString(36)}`;
  const specs: ServerSpec[] = [];
  const routePorts: number[] = [];
  for (let i = 0; i < size; i++) routePorts.push(await getFreePort());
  for (let i = 0; i < size; i++) {
    const dir = await makeServerDir();
    const spec: ServerSpec = {
      serverName: `${clusterName}-n${i}`,
      port: await getFreePort(),
      monitorPort: await getFreePort(),
      dir,
      storeDir: join(dir, "store"),
      jetstream: true,
      config: opts.config ?? "",
      cluster: { name: clusterName, port: routePorts[i] as number, routePorts },
    };
    specs.push(spec);
  }

  const removeAll = async (): Promise<void> => {
    for (const spec of specs) {
      await rm(spec.dir, { recursive: true, force: true });
      ownedDirs.delete(spec.dir);
    }
  };

  await Promise.all(specs.map(prepare));
  // Nodes only become healthy once a meta leader is elected, which needs a quorum: start them together.
  const started = await Promise.allSettled(specs.map((spec) => launch(spec, CLUSTER_START_TIMEOUT_MS)));
  const failed = started.find((r) => r.status === "rejected");
  if (failed) {
    await Promise.all(
      started.map((r) => (r.status === "fulfilled" ? terminate(r.value, "SIGKILL") : undefined)),
    );
    await removeAll();
    throw failed.reason;
  }
  const servers = started.map((r, i) =>
    makeHandle(
      specs[i] as ServerSpec,
      (r as PromiseFulfilledResult<Incarnation>).value,
      CLUSTER_START_TIMEOUT_MS,
    ),
  );
  const stop = async (): Promise<void> => {
    await Promise.all(servers.map((s) => s.stop()));
  };

  const deadline = Date.now() + CLUSTER_START_TIMEOUT_MS;
  let leaders: (string | undefined)[] = [];
  while (Date.now() < deadline) {
    leaders = await Promise.all(specs.map((s) => metaLeaderOf(s.monitorPort)));
    if (leaders[0] !== undefined && leaders.every((l) => l === leaders[0])) {
      return { urls: servers.map((s) => s.url), servers, stop };
    }
    await sleep(POLL_INTERVAL_MS);
  }
  await stop();
  throw new Error(
    `NATS cluster ${clusterName} did not agree on a JetStream meta leader within ${CLUSTER_START_TIMEOUT_MS} ms ` +
      `(leaders seen: ${leaders.map((l) => l ?? "none").join(", ")})`,
  );
}
