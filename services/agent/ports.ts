/**
 * The seams between the agent's parts, so each can be built and tested alone:
 * Falco supervision → alert intake → session manager (attribution, edge aggregation)
 * → event publisher (JetStream, spool); the control plane drives the session manager.
 */
import type {
  AgentHealth,
  FinMarker,
  NodeSessionStatus,
  ProfileDocument,
  SessionRecord,
  SyscallEventBatch,
} from "../../lib/contracts/types.ts";

/** What the Falco supervisor needs to know to write its rules and config. */
export interface FalcoTargets {
  /** Sessions that are running; empty means Falco is not needed and is stopped. */
  sessions: readonly SessionRecord[];
}

export type FalcoState = AgentHealth["falco"]["state"];

export interface FalcoStatus {
  state: FalcoState;
  version?: string;
  pid?: number;
  restarts: number;
  lastExit?: string;
}

/** Supervises the Falco child process (services/agent/falco/). */
export interface FalcoControl {
  /** Writes rules/config for these targets; starts, reloads or stops Falco accordingly. */
  apply(targets: FalcoTargets): Promise<void>;
  status(): FalcoStatus;
  stop(): Promise<void>;
}

/** Publishes a node's batches and FIN markers to JetStream, spooling while NATS is unreachable (services/agent/publish/). */
export interface EventPublisher {
  /** Resolves when the batch is acknowledged by the stream or safely spooled to disk. */
  publish(message: SyscallEventBatch | FinMarker): Promise<void>;
  /** Resolves when nothing is in flight and the spool is empty (or rejects after `timeoutMs`). */
  drain(timeoutMs: number): Promise<void>;
  spoolBytes(): number;
}

/** A pod on this node, as the agent's pod watch (or a pods file outside Kubernetes) knows it. */
export interface PodInfo {
  uid: string;
  name: string;
  namespace: string;
  labels: Record<string, string>;
  /** Owning controller after following ReplicaSet → Deployment and Job → CronJob; the pod itself if none. */
  owner: { kind: string; name: string };
  /** Container id (runtime prefix stripped, full 64 hex) → container name. */
  containers: Record<string, string>;
}

export interface PodDirectory {
  byUid(uid: string): PodInfo | undefined;
  /** Called whenever pods are added or change, so held events can be attributed. */
  onChange(listener: () => void): void;
}

/** What the control plane (services/agent/control/) asks of the agent. Every operation is idempotent. */
export interface AgentController {
  startSession(session: SessionRecord): Promise<void>;
  stopSession(sessionId: string): Promise<{ batches: number }>;
  sessionStatus(sessionId?: string): NodeSessionStatus[];
  health(): AgentHealth;
  /** This node's own profile documents for a session, rendered from its local record. */
  nodeProfiles(sessionId: string): ProfileDocument[];
}
