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
  /** Pods the agent knows that no running session targets: left out of the rule. */
  excludePodUids?: readonly string[];
  /** Syscalls (kernel names) the driver is not asked for: the adaptive syscall set. */
  excludeSyscalls?: readonly string[];
}

export type FalcoState = AgentHealth["falco"]["state"];

/** `running` means capture is proven (the agent's probe came back), not merely that Falco started. */
export interface FalcoStatus {
  state: FalcoState;
  version?: string;
  pid?: number;
  restarts: number;
  /** The cause of the last failure: its first real error line, not Falco's last stderr lines. */
  lastExit?: string;
  /** Falco's stderr lines before the last failure, for --verbose. */
  lastExitLog?: string[];
  /** Milliseconds since the epoch at which the current capture was proven. */
  capturingSince?: number;
  driverSet: FalcoDriverSet;
  /** The second Falco of a hot-syscall split (falco/split-falco.ts). */
  hot?: NonNullable<AgentHealth["falco"]["hot"]>;
}

/** The driver's syscall set of the Falco whose alerts count, and its swaps (AgentHealth). */
export type FalcoDriverSet = Omit<NonNullable<AgentHealth["falco"]["driverSet"]>, "adaptive">;

/** Capture began (`capturing`) or ended, at `at` (ms since the epoch); `reason` says why it ended. */
export interface CaptureChange {
  capturing: boolean;
  at: number;
  reason?: string;
}

/** Supervises the Falco child process (services/agent/falco/). */
export interface FalcoControl {
  /** Writes rules/config for these targets; starts, reloads or stops Falco accordingly. */
  apply(targets: FalcoTargets): Promise<void>;
  status(): FalcoStatus;
  stop(): Promise<void>;
  /** Called whenever capture begins or ends. */
  onCaptureChange(listener: (change: CaptureChange) => void): void;
  /**
   * Resolves true once every alert of a syscall made before the call has been handed on, false
   * if that cannot be proven within `timeoutMs` (Falco not capturing).
   */
  barrier(timeoutMs: number): Promise<boolean>;
}

/** Publishes a node's batches and FIN markers to JetStream, spooling while NATS is unreachable (services/agent/publish/). */
export interface EventPublisher {
  /** Resolves when the batch is acknowledged by the stream or safely spooled to disk. */
  /** `partition`: the session record's partition, the subject's first token after `sc.ev`. */
  publish(message: SyscallEventBatch | FinMarker, partition: number): Promise<void>;
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
  /** Every pod on the node the agent knows. */
  pods(): PodInfo[];
  /** Called whenever pods are added or change, so held events can be attributed. */
  onChange(listener: () => void): void;
}

/** What the control plane (services/agent/control/) asks of the agent. Every operation is idempotent. */
export interface AgentController {
  startSession(session: SessionRecord): Promise<void>;
  stopSession(sessionId: string): Promise<{ batches: number }>;
  /** The session's record was deleted: stop recording it and discard everything kept of it. */
  dropSession(sessionId: string): Promise<void>;
  sessionStatus(sessionId?: string): NodeSessionStatus[];
  health(): AgentHealth;
  /** This node's own profile documents for a session, rendered from its local record. */
  nodeProfiles(sessionId: string): ProfileDocument[];
}
