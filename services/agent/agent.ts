import { mkdir } from "node:fs/promises";
import { release } from "node:os";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { ErrorCodes, SeccomposeError } from "../../lib/errors.ts";
import { connectNats, trackConnected } from "../../lib/nats/connect.ts";
import { syscallToFalcoEvent } from "../../lib/falco/event-names.ts";
import { SessionDirectory } from "../../lib/nats/session-directory.ts";
import { BUCKET_SESSIONS } from "../../lib/subjects.ts";
import { localNodeArch, nativeScmpArch } from "../../lib/syscalls/architectures.ts";
import { natsPassword, type ResolvedAgentConfig } from "./config.ts";
import { ControlPlane } from "./control/control-plane.ts";
import {
  createProfileInstaller,
  createProfileLister,
  createProfileRemover,
} from "./install/profile-installer.ts";
import { startProfileSync } from "./install/profile-sync.ts";
import { SessionWatch } from "./control/session-watch.ts";
import type { SyscallPartition } from "./falco/config-writer.ts";
import { SplitFalco, defaultHotSyscalls } from "./falco/split-falco.ts";
import { FalcoSupervisor } from "./falco/supervisor.ts";
import { DEFAULT_ADAPTIVE_OPTIONS, type AdaptiveSyscallOptions } from "./falco/syscall-set-policy.ts";
import { agentReadiness, startAgentHttpServer } from "./http/agent-http.ts";
import { COMPACT_LAYOUT, createCompactParser } from "./intake/compact-alert.ts";
import { parseJsonAlert } from "./intake/json-alert.ts";
import type { FalcoAlert } from "./intake/alert.ts";
import { JetStreamEventPublisher } from "./publish/event-publisher.ts";
import { StaticPodDirectory } from "./pods/static-pod-directory.ts";
import type { FalcoControl, FalcoStatus, PodDirectory } from "./ports.ts";
import { KubernetesPodDirectory } from "./pods/k8s-pod-directory.ts";
import { loadKube, type Kube } from "../../lib/k8s/client.ts";
import { createPodReporter, FALCO_HEALTHY_CONDITION } from "../../lib/k8s/report.ts";
import { SessionManager } from "./sessions/session-manager.ts";

export const AGENT_VERSION = "0.1.0";

export interface RunningAgent {
  readonly sessions: SessionManager;
  readonly httpPort: number;
  /** Flushes every session, stops Falco, drains the publisher and closes the connection. */
  shutdown(): Promise<void>;
}

/** Parse errors are counted always but logged at most once per interval, with how many were skipped. */
function rateLimitedWarn(logger: Logger, intervalMs: number) {
  let last = 0;
  let suppressed = 0;
  return (err: unknown, line: string) => {
    const now = Date.now();
    if (now - last < intervalMs) {
      suppressed++;
      return;
    }
    logger.warn({ err, line: line.slice(0, 300), suppressed }, "malformed Falco output line");
    last = now;
    suppressed = 0;
  };
}

function alertParser(config: ResolvedAgentConfig): (line: string) => FalcoAlert {
  return config.falco.alertFormat === "json"
    ? parseJsonAlert
    : createCompactParser(COMPACT_LAYOUT, { hostname: config.nodeName });
}

/** Outside Kubernetes the pods come from a file; inside, from the agent's own watch of its node's pods. */
async function podDirectory(
  config: ResolvedAgentConfig,
  logger: Logger,
): Promise<{ pods: PodDirectory; kube?: Kube }> {
  if (config.podsFile !== undefined) {
    const pods = await StaticPodDirectory.open(config.podsFile);
    pods.watch((err) => logger.warn({ err, file: config.podsFile }, "cannot re-read the pods file"));
    return { pods };
  }
  const kube = loadKube(config.kubeconfig !== undefined ? { kubeconfig: config.kubeconfig } : {});
  const pods = await KubernetesPodDirectory.open(kube, config.nodeName, (err) =>
    logger.warn({ err }, "pod watch failed; retrying"),
  );
  return { pods, kube };
}

/**
 * Inside Kubernetes, Falco's state becomes a condition on the agent's own pod and each failure an
 * Event, so `kubectl describe pod` shows it. Reporting problems are logged, never fatal.
 */
function falcoReporter(kube: Kube | undefined, env: NodeJS.ProcessEnv, logger: Logger) {
  const name = env.POD_NAME;
  const namespace = env.POD_NAMESPACE;
  if (kube === undefined || !name || !namespace) return { state: () => {}, failure: () => {} };
  const reporter = createPodReporter(kube, { namespace, name }, { component: "seccompose-agent" });
  const report = (p: Promise<unknown>) =>
    p.catch((err: unknown) => logger.warn({ err }, "cannot report Falco's state to Kubernetes"));
  return {
    state(status: FalcoStatus) {
      const healthy = status.state === "running";
      if (!healthy && status.state !== "backoff" && status.state !== "failed") return;
      void report(
        reporter.condition({
          type: FALCO_HEALTHY_CONDITION,
          status: healthy ? "True" : "False",
          reason: healthy ? "FalcoRunning" : status.state === "failed" ? "FalcoFailed" : "FalcoRestarting",
          message: healthy
            ? `Falco ${status.version ?? ""} is running`.trim()
            : (status.lastExit ?? status.state),
        }),
      );
    },
    failure(reason: string) {
      void report(reporter.event({ type: "Warning", reason: "FalcoFailed", message: reason }));
    },
  };
}

/**
 * The session bucket belongs to the aggregator (agents may not create it), so the agent opens it
 * in the background; control requests are served meanwhile, and a start is refused until it is open.
 */
function watchSessionsWhenReady(
  nc: NatsConnection,
  controller: SessionManager,
  logger: Logger,
): { directory(): SessionDirectory | undefined; stop(): Promise<void> } {
  let stopped = false;
  let directory: SessionDirectory | undefined;
  let watch: SessionWatch | undefined;
  const started = (async () => {
    let warned = false;
    while (!stopped) {
      try {
        directory = await SessionDirectory.open(nc);
        watch = await SessionWatch.start({ nc, directory, controller, logger });
        if (stopped) await watch.stop();
        return;
      } catch (err) {
        if (!warned)
          logger.warn({ err }, `waiting for the ${BUCKET_SESSIONS} bucket (created by the aggregator)`);
        warned = true;
        await new Promise((r) => setTimeout(r, 2000));
      }
    }
  })();
  return {
    directory: () => directory,
    async stop() {
      stopped = true;
      await watch?.stop();
      await started;
    },
  };
}

/** The adaptive syscall set's options when the configuration enables it (off by default). */
function adaptiveOptions(config: ResolvedAgentConfig): { adaptiveSyscalls?: AdaptiveSyscallOptions } {
  const own = config.falco.adaptiveSyscalls;
  if (own?.enabled !== true) return {};
  const { enabled: _, ...rest } = own;
  return { adaptiveSyscalls: { ...DEFAULT_ADAPTIVE_OPTIONS, ...rest } };
}

/** Where Falco's output and state go. */
interface FalcoSinks {
  /** `hotSyscalls`: the line came from the hot-syscall split's second Falco, which reports only those. */
  onLine: (line: string, hotSyscalls?: readonly string[]) => void;
  onStateChange: (status: FalcoStatus) => void;
  onFailure: (reason: string) => void;
}

/** The supervised Falco: one, or with `falco.hotSyscalls` a pair split by syscall. */
function createFalco(config: ResolvedAgentConfig, logger: Logger, sinks: FalcoSinks): FalcoControl {
  const supervisor = (
    partition: SyscallPartition | undefined,
    configDir: string,
    log: Logger,
    onStateChange: (status: FalcoStatus) => void,
    onLine: (line: string) => void = sinks.onLine,
  ) =>
    new FalcoSupervisor({
      binary: config.falco.binary,
      extraArgs: config.falco.args,
      configDir,
      alertFormat: config.falco.alertFormat,
      backoffMs: config.falco.restartBackoffMs,
      ...(config.falco.swapTimeoutMs !== undefined ? { swapTimeoutMs: config.falco.swapTimeoutMs } : {}),
      env: { ...process.env, FALCO_HOSTNAME: config.nodeName },
      ...(process.env.SECCOMPOSE_OWN_POD_UID !== undefined
        ? { ownPodUid: process.env.SECCOMPOSE_OWN_POD_UID }
        : {}),
      ...(partition !== undefined ? { partition } : {}),
      logger: log,
      onLine,
      onStateChange,
      onFailure: sinks.onFailure,
    });
  const hot = config.falco.hotSyscalls;
  if (hot?.enabled !== true) {
    return supervisor(undefined, config.falco.configDir, logger, sinks.onStateChange);
  }
  const hotSyscalls = hot.syscalls ?? defaultHotSyscalls(nativeScmpArch(process.arch));
  const events = hotSyscalls.map(syscallToFalcoEvent);
  // Either one's change is reported as the pair's state, which exists once both do.
  const pair: { split?: SplitFalco } = {};
  const report = () => {
    if (pair.split !== undefined) sinks.onStateChange(pair.split.status());
  };
  pair.split = new SplitFalco({
    rest: supervisor({ role: "rest", syscalls: events }, config.falco.configDir, logger, report),
    hot: supervisor(
      { role: "hot", syscalls: events },
      join(config.falco.configDir, "hot"),
      logger.child({ falco: "hot" }),
      report,
      (line) => sinks.onLine(line, hotSyscalls),
    ),
    hotSyscalls,
  });
  return pair.split;
}

/** Starts every part of the node agent, in dependency order. */
export async function startAgent(config: ResolvedAgentConfig, logger: Logger): Promise<RunningAgent> {
  await mkdir(config.stateDir, { recursive: true });

  const { passFile: _passFile, ...nats } = config.nats;
  const pass = await natsPassword(config);
  const nc = await connectNats(
    {
      ...nats,
      ...(pass !== undefined ? { pass } : {}),
      name: `seccompose-agent/${config.nodeName}`,
      waitOnFirstConnect: true,
      ...(config.inboxPrefix ? { inboxPrefix: config.inboxPrefix } : {}),
    },
    logger,
  );
  const publisher = await JetStreamEventPublisher.open({
    nc,
    stateDir: config.stateDir,
    logger,
    maxInFlight: config.batch.maxInFlight,
    spoolMaxBytes: config.batch.spoolMaxBytes,
  });
  const { pods, kube } = await podDirectory(config, logger);
  const reportFalco = falcoReporter(kube, process.env, logger);

  const parse = alertParser(config);
  const warnMalformed = rateLimitedWarn(logger, 10_000);
  // Falco's line handler is needed before the session manager, which needs the supervisor, exists.
  const intake: { sessions?: SessionManager } = {};
  const falco = createFalco(config, logger, {
    onLine: (line, hotSyscalls) => {
      try {
        intake.sessions?.handleAlert(parse(line), hotSyscalls);
      } catch (err) {
        intake.sessions?.noteParseError(err);
        warnMalformed(err, line);
      }
    },
    onStateChange: (status) => reportFalco.state(status),
    onFailure: (reason) => {
      logger.error({ event: "falco.failed", reason }, "Falco failed");
      reportFalco.failure(reason);
    },
  });
  const sessions = new SessionManager({
    node: config.nodeName,
    arch: localNodeArch(),
    kernel: release(),
    agentVersion: AGENT_VERSION,
    stateDir: config.stateDir,
    falco,
    publisher,
    pods,
    logger,
    flushIntervalMs: config.batch.flushIntervalMs,
    maxEventsPerBatch: config.batch.maxEvents,
    holdUnknownMs: config.holdUnknownMs,
    ...(config.healthWindowSeconds !== undefined
      ? { healthWindowMs: config.healthWindowSeconds * 1000 }
      : {}),
    ...(config.sessions?.maxActive !== undefined ? { maxActiveSessions: config.sessions.maxActive } : {}),
    ...(config.sessions?.maxFinished !== undefined
      ? { maxFinishedSessions: config.sessions.maxFinished }
      : {}),
    ...adaptiveOptions(config),
    ...(config.falco.excludeNonTargetPods === true ? { excludeNonTargetPods: true } : {}),
  });
  await sessions.restore();
  sessions.startFlushing();

  const watch = watchSessionsWhenReady(nc, sessions, logger);
  const seccompDir = {
    install: createProfileInstaller(config.nodeName, config.seccompDir),
    remove: createProfileRemover(config.nodeName, config.seccompDir),
  };
  const profileSync = config.seccompDir !== undefined ? startProfileSync(nc, seccompDir, logger) : undefined;
  const control = await ControlPlane.start({
    nc,
    node: config.nodeName,
    controller: sessions,
    sessionRecord: (id) => {
      const directory = watch.directory();
      if (directory === undefined) {
        throw new SeccomposeError(
          ErrorCodes.SC_SESSION_NOT_FOUND,
          `KV ${BUCKET_SESSIONS} cannot be read yet (it is created by the aggregator), so session "${id}" cannot be checked`,
        );
      }
      return directory.record(id);
    },
    installer: seccompDir.install,
    lister: createProfileLister(config.nodeName, config.seccompDir),
    remover: seccompDir.remove,
    lastSync: () => profileSync?.report(),
    logger,
  });
  intake.sessions = sessions;
  const manager = sessions;
  const http = await startAgentHttpServer({
    port: config.httpPort,
    health: () => manager.health(),
    publisher: () => publisher.stats(),
    control: () => control.stats(),
    readiness: agentReadiness(trackConnected(nc), () => falco.status()),
    logger,
  });
  logger.info({ event: "agent.started", httpPort: http.port, falco: config.falco.binary }, "agent started");

  return {
    sessions: manager,
    httpPort: http.port,
    async shutdown() {
      await profileSync?.stop();
      await watch.stop();
      await control.stop();
      await manager.close();
      await falco.stop();
      await publisher
        .drain(10_000)
        .catch((err: unknown) => logger.warn({ err }, "left spooled data for the next start"));
      await publisher.close();
      await http.close();
      if (pods instanceof KubernetesPodDirectory) await pods.stop();
      if (pods instanceof StaticPodDirectory) pods.unwatch();
      await nc.drain();
    },
  };
}
