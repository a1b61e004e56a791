/* Generated from schemas/ by scripts/gen-contract-types.ts (npm run gen:types). Do not edit. */

/**
 * Session identifier; one subject token, so only letters, digits, '_' and '-'.
 *
 * This interface was referenced by `SeccomposeContracts`'s JSON-Schema
 * via the `definition` "SessionId".
 */
export type SessionId = string;
/**
 * Kubernetes node name (DNS subdomain); also used in subjects, so no '.'-free guarantee: agents escape it.
 *
 * This interface was referenced by `SeccomposeContracts`'s JSON-Schema
 * via the `definition` "NodeName".
 */
export type NodeName = string;
/**
 * Kernel/libseccomp syscall name.
 *
 * This interface was referenced by `SeccomposeContracts`'s JSON-Schema
 * via the `definition` "SyscallName".
 */
export type SyscallName = string;
/**
 * This interface was referenced by `SeccomposeContracts`'s JSON-Schema
 * via the `definition` "ScmpArch".
 */
export type ScmpArch =
  | "SCMP_ARCH_X86"
  | "SCMP_ARCH_X86_64"
  | "SCMP_ARCH_X32"
  | "SCMP_ARCH_ARM"
  | "SCMP_ARCH_AARCH64"
  | "SCMP_ARCH_MIPS"
  | "SCMP_ARCH_MIPS64"
  | "SCMP_ARCH_MIPS64N32"
  | "SCMP_ARCH_MIPSEL"
  | "SCMP_ARCH_MIPSEL64"
  | "SCMP_ARCH_MIPSEL64N32"
  | "SCMP_ARCH_PPC"
  | "SCMP_ARCH_PPC64"
  | "SCMP_ARCH_PPC64LE"
  | "SCMP_ARCH_S390"
  | "SCMP_ARCH_S390X"
  | "SCMP_ARCH_RISCV64"
  | "SCMP_ARCH_LOONGARCH64";
/**
 * An unsigned 64-bit integer in decimal; a string because JSON numbers lose precision above 2^53.
 *
 * This interface was referenced by `SeccomposeContracts`'s JSON-Schema
 * via the `definition` "UInt64String".
 */
export type UInt64String = string;
/**
 * RFC 3339 UTC timestamp.
 *
 * This interface was referenced by `SeccomposeContracts`'s JSON-Schema
 * via the `definition` "Timestamp".
 */
export type Timestamp = string;
/**
 * Recorded scalar argument values, one per argument rule position of this syscall (see lib/profile/arg-specs.ts).
 *
 * @minItems 1
 * @maxItems 6
 *
 * This interface was referenced by `SeccomposeContracts`'s JSON-Schema
 * via the `definition` "ArgTuple".
 */
export type ArgTuple = UInt64String[];
/**
 * One message on stream SC_EVENTS, subject sc.ev.<partition>.<session>.<node> (the partition is the session record's), msgpack-encoded: a SyscallEventBatch or the node's FinMarker. Counts are cumulative per node, so the aggregator merges by maximum and a redelivered or reordered batch changes nothing.
 *
 * This interface was referenced by `SeccomposeContracts`'s JSON-Schema
 * via the `definition` "EventMessage".
 */
export type EventMessage = SyscallEventBatch | FinMarker;
/**
 * This interface was referenced by `SeccomposeContracts`'s JSON-Schema
 * via the `definition` "ControlRequest".
 */
export type ControlRequest =
  | StartRequest
  | StopRequest
  | StatusRequest
  | HealthRequest
  | InstallProfileRequest
  | InstalledListRequest
  | UninstallProfileRequest;
/**
 * The CLI's random token for this request: the agent replies on sc.reply.<replyToken>.<node>.
 *
 * This interface was referenced by `SeccomposeContracts`'s JSON-Schema
 * via the `definition` "ReplyToken".
 */
export type ReplyToken = string;
/**
 * Base name of an installed profile file, without the .json suffix: a safe file name (no path separator, not starting with a dot).
 *
 * This interface was referenced by `SeccomposeContracts`'s JSON-Schema
 * via the `definition` "ProfileFileName".
 */
export type ProfileFileName = string;

export interface SeccomposeContracts {
  StreamLoss?: StreamLoss;
  SessionId?: SessionId;
  NodeName?: NodeName;
  SyscallName?: SyscallName;
  ScmpArch?: ScmpArch;
  UInt64String?: UInt64String;
  Timestamp?: Timestamp;
  WorkloadKey?: WorkloadKey;
  ProfileOptions?: ProfileOptions;
  ErrorBody?: ErrorBody;
  SessionRecord?: SessionRecord;
  SyscallEventBatch?: SyscallEventBatch;
  WorkloadEvents?: WorkloadEvents;
  SyscallEvent?: SyscallEvent;
  ArgTuple?: ArgTuple;
  FinMarker?: FinMarker;
  EventMessage?: EventMessage;
  ControlRequest?: ControlRequest;
  ReplyToken?: ReplyToken;
  StartRequest?: StartRequest;
  StopRequest?: StopRequest;
  StatusRequest?: StatusRequest;
  HealthRequest?: HealthRequest;
  InstallProfileRequest?: InstallProfileRequest;
  ProfileFileName?: ProfileFileName;
  InstalledProfile?: InstalledProfile;
  InstalledListRequest?: InstalledListRequest;
  UninstallProfileRequest?: UninstallProfileRequest;
  UninstalledProfile?: UninstalledProfile;
  ProfileSyncReport?: ProfileSyncReport;
  InstalledProfileMark?: InstalledProfileMark;
  ControlReply?: ControlReply;
  NodeSessionStatus?: NodeSessionStatus;
  AgentHealth?: AgentHealth;
  Control?: Control;
  ProfileDocument?: ProfileDocument;
  NatsConnection?: NatsConnection;
  AgentConfig?: AgentConfig;
  AggregatorConfig?: AggregatorConfig;
  RefusalCounts?: RefusalCounts;
  OwnershipRefusalCounts?: OwnershipRefusalCounts;
  StatusGap?: StatusGap;
  AggregatorStatusRequest?: AggregatorStatusRequest;
  AggregatorSessionStatus?: AggregatorSessionStatus;
  AggregatorNodeStatus?: AggregatorNodeStatus;
  AggregatorWorkloadStatus?: AggregatorWorkloadStatus;
  SessionFinalisedEvent?: SessionFinalisedEvent;
  ConvergenceEvent?: ConvergenceEvent;
  DriftEvent?: DriftEvent;
  DriftEntry?: DriftEntry;
  DriftReport?: DriftReport;
  ProfilePointer?: ProfilePointer;
  FreezeRequest?: FreezeRequest;
  FreezeReply?: FreezeReply;
  DeleteRequest?: DeleteRequest;
  DeleteReply?: DeleteReply;
  AggregatorStatus?: AggregatorStatus;
  SessionFile?: SessionFile;
  CliConfig?: CliConfig;
}
/**
 * Stream messages discarded before the aggregator consumed them: sequences firstSeq..lastSeq of the stream.
 *
 * This interface was referenced by `SeccomposeContracts`'s JSON-Schema
 * via the `definition` "StreamLoss".
 */
export interface StreamLoss {
  stream: string;
  firstSeq: number;
  lastSeq: number;
  reason: string;
}
/**
 * What one profile is for: namespace + owning controller + container, so replicas on different nodes merge.
 *
 * This interface was referenced by `SeccomposeContracts`'s JSON-Schema
 * via the `definition` "WorkloadKey".
 */
export interface WorkloadKey {
  namespace: string;
  /**
   * Owner kind: Deployment, StatefulSet, DaemonSet, Job, CronJob, ReplicaSet, Pod, or Command in local mode.
   */
  kind: string;
  name: string;
  container: string;
}
/**
 * How observations become a seccomp profile.
 *
 * This interface was referenced by `SeccomposeContracts`'s JSON-Schema
 * via the `definition` "ProfileOptions".
 */
export interface ProfileOptions {
  defaultAction?:
    "SCMP_ACT_ERRNO" | "SCMP_ACT_LOG" | "SCMP_ACT_KILL_PROCESS" | "SCMP_ACT_KILL_THREAD" | "SCMP_ACT_TRAP";
  defaultErrnoRet?: number;
  baseline?: "runc" | "crun" | "none";
  /**
   * Syscalls whose scalar arguments are recorded and turned into argument rules.
   *
   * @maxItems 64
   */
  argSyscalls?: SyscallName[];
}
/**
 * This interface was referenced by `SeccomposeContracts`'s JSON-Schema
 * via the `definition` "ErrorBody".
 */
export interface ErrorBody {
  code: string;
  message: string;
}
/**
 * Desired state of one recording session, kept in KV bucket sc_sessions under the session id. Agents and the aggregator converge to it.
 *
 * This interface was referenced by `SeccomposeContracts`'s JSON-Schema
 * via the `definition` "SessionRecord".
 */
export interface SessionRecord {
  schemaVersion: 1;
  id: SessionId;
  mode: "oneshot" | "continuous";
  state: "running" | "stopping" | "stopped";
  createdAt: Timestamp;
  stopRequestedAt?: Timestamp;
  /**
   * RFC 3339 UTC timestamp.
   */
  stopDeadline?: string;
  /**
   * Partition of stream SC_EVENTS that carries the session's events (sc.ev.<partition>.<session>.<node>), chosen by `start` from a hash of the id; absent in records written before partitions: 0.
   */
  partition?: number;
  /**
   * Nodes whose agents acknowledged the start; the aggregator waits for a FIN from each.
   */
  expectedNodes?: NodeName[];
  /**
   * Which containers to record; all given criteria must match (AND).
   */
  targets: {
    namespaces?: string[];
    labelSelector?: string;
    pods?: string[];
    containers?: string[];
  };
  profile: ProfileOptions;
  continuous?: {
    convergenceWindowSeconds?: number;
    revisionDebounceMs?: number;
    /**
     * Workload tokens whose profile is frozen: any syscall outside it is drift.
     */
    frozen?: string[];
  };
}
/**
 * This interface was referenced by `SeccomposeContracts`'s JSON-Schema
 * via the `definition` "SyscallEventBatch".
 */
export interface SyscallEventBatch {
  schemaVersion: 1;
  kind: "batch";
  session: SessionId;
  node: NodeName;
  /**
   * Node architecture as uname -m reports it.
   */
  arch: string;
  /**
   * Batch number on this node for this session, from 1, gap-free.
   */
  seq: number;
  /**
   * Milliseconds since the epoch.
   */
  sentAt: number;
  /**
   * Events Falco reported lost on this node during the session so far (cumulative).
   */
  droppedEvents: number;
  /**
   * @maxItems 10000
   */
  workloads: WorkloadEvents[];
}
/**
 * This interface was referenced by `SeccomposeContracts`'s JSON-Schema
 * via the `definition` "WorkloadEvents".
 */
export interface WorkloadEvents {
  workload: WorkloadKey;
  pod?: string;
  podUid?: string;
  containerId?: string;
  /**
   * @maxItems 4096
   */
  syscalls: SyscallEvent[];
}
/**
 * A new (syscall, argument values) tuple or an updated count for one.
 *
 * This interface was referenced by `SeccomposeContracts`'s JSON-Schema
 * via the `definition` "SyscallEvent".
 */
export interface SyscallEvent {
  name: SyscallName;
  /**
   * Calls seen on this node so far (cumulative).
   */
  count: number;
  /**
   * Milliseconds since the epoch.
   */
  firstSeen: number;
  args?: ArgTuple;
}
/**
 * This interface was referenced by `SeccomposeContracts`'s JSON-Schema
 * via the `definition` "FinMarker".
 */
export interface FinMarker {
  schemaVersion: 1;
  kind: "fin";
  session: SessionId;
  node: NodeName;
  /**
   * Number of batches this node sent for the session; the aggregator finalises the node once it merged them all.
   */
  batches: number;
  sentAt: number;
  droppedEvents: number;
  /**
   * Periods of the session in which this node did not record everything: the agent was down, Falco did not capture (never started, crashed, reloading), or Falco dropped events. Each names its cause in reason.
   */
  gaps?: {
    from: number;
    to: number;
    /**
     * Why nothing (or not everything) was recorded, e.g. "Falco exited (signal SIGKILL)".
     */
    reason?: string;
  }[];
}
/**
 * Asks every agent to start a session. The agent reads the session's record from KV sc_sessions and refuses a session that has none.
 *
 * This interface was referenced by `SeccomposeContracts`'s JSON-Schema
 * via the `definition` "StartRequest".
 */
export interface StartRequest {
  schemaVersion: 1;
  op: "start";
  requestId: string;
  replyToken: ReplyToken;
  sessionId: SessionId;
}
/**
 * This interface was referenced by `SeccomposeContracts`'s JSON-Schema
 * via the `definition` "StopRequest".
 */
export interface StopRequest {
  schemaVersion: 1;
  op: "stop";
  requestId: string;
  replyToken: ReplyToken;
  sessionId: SessionId;
}
/**
 * This interface was referenced by `SeccomposeContracts`'s JSON-Schema
 * via the `definition` "StatusRequest".
 */
export interface StatusRequest {
  schemaVersion: 1;
  op: "status";
  requestId: string;
  replyToken: ReplyToken;
  sessionId?: SessionId;
}
/**
 * This interface was referenced by `SeccomposeContracts`'s JSON-Schema
 * via the `definition` "HealthRequest".
 */
export interface HealthRequest {
  schemaVersion: 1;
  op: "health";
  requestId: string;
  replyToken: ReplyToken;
}
/**
 * Request on sc.node.<node>.install: the agent writes `profile` to <seccompDir>/<name>.json on its node (atomically), where pods use it as `localhostProfile`.
 *
 * This interface was referenced by `SeccomposeContracts`'s JSON-Schema
 * via the `definition` "InstallProfileRequest".
 */
export interface InstallProfileRequest {
  schemaVersion: 1;
  op: "install";
  requestId: string;
  replyToken: ReplyToken;
  name: ProfileFileName;
  /**
   * The OCI seccomp profile as JSON text, written as is.
   */
  profile: string;
}
/**
 * Request on sc.ctl.installed (every agent answers): the profiles in the agent's seccomp directory, and its last sync from KV sc_installed.
 *
 * This interface was referenced by `SeccomposeContracts`'s JSON-Schema
 * via the `definition` "InstalledListRequest".
 */
export interface InstalledListRequest {
  schemaVersion: 1;
  op: "installed";
  requestId: string;
  replyToken: ReplyToken;
}
/**
 * Request on sc.node.<node>.uninstall: the agent removes <seccompDir>/<name>.json from its node; a name is one file name, never a path.
 *
 * This interface was referenced by `SeccomposeContracts`'s JSON-Schema
 * via the `definition` "UninstallProfileRequest".
 */
export interface UninstallProfileRequest {
  schemaVersion: 1;
  op: "uninstall";
  requestId: string;
  replyToken: ReplyToken;
  name: ProfileFileName;
}
/**
 * What an agent installed, in the reply to an InstallProfileRequest.
 *
 * This interface was referenced by `SeccomposeContracts`'s JSON-Schema
 * via the `definition` "InstalledProfile".
 */
export interface InstalledProfile {
  name: ProfileFileName;
  /**
   * Absolute path of the file on the node.
   */
  path: string;
  bytes: number;
  sha256: string;
  /**
   * The file already had this content.
   */
  unchanged?: boolean;
}
/**
 * What an agent did for an UninstallProfileRequest.
 *
 * This interface was referenced by `SeccomposeContracts`'s JSON-Schema
 * via the `definition` "UninstalledProfile".
 */
export interface UninstalledProfile {
  name: ProfileFileName;
  /**
   * Absolute path of the file on the node.
   */
  path: string;
  /**
   * False when there was no such file (nothing to do).
   */
  removed: boolean;
}
/**
 * The agent's last sync of its seccomp directory with KV sc_installed (at start-up): profiles written, profiles removed because they were uninstalled, and failures.
 *
 * This interface was referenced by `SeccomposeContracts`'s JSON-Schema
 * via the `definition` "ProfileSyncReport".
 */
export interface ProfileSyncReport {
  at: Timestamp;
  installed: ProfileFileName[];
  unchanged: ProfileFileName[];
  removed: ProfileFileName[];
  /**
   * @maxItems 100
   */
  errors: {
    name: string;
    code: string;
    message: string;
  }[];
}
/**
 * Value of KV sc_installed under key <name>: a profile `profile apply` installed on every node, which agents install when they start (new nodes, restarted agents). Written by the CLI only; deleted by `profile uninstall`, and agents then remove the file.
 *
 * This interface was referenced by `SeccomposeContracts`'s JSON-Schema
 * via the `definition` "InstalledProfileMark".
 */
export interface InstalledProfileMark {
  schemaVersion: 1;
  name: ProfileFileName;
  /**
   * The OCI seccomp profile as JSON text, written as is.
   */
  profile: string;
  sha256: string;
  session: SessionId;
  workload: WorkloadKey;
  /**
   * enforce: the recorded profile; complain: its SCMP_ACT_LOG variant.
   */
  mode: "enforce" | "complain";
  markedAt: Timestamp;
}
/**
 * This interface was referenced by `SeccomposeContracts`'s JSON-Schema
 * via the `definition` "ControlReply".
 */
export interface ControlReply {
  schemaVersion: 1;
  requestId: string;
  node: NodeName;
  ok: boolean;
  error?: ErrorBody;
  health?: AgentHealth;
  sessions?: NodeSessionStatus[];
  installed?: InstalledProfile;
  /**
   * Reply to an InstalledListRequest: every profile file in the agent's seccomp directory.
   */
  profiles?: InstalledProfile[];
  sync?: ProfileSyncReport;
  uninstalled?: UninstalledProfile;
}
/**
 * This interface was referenced by `SeccomposeContracts`'s JSON-Schema
 * via the `definition` "AgentHealth".
 */
export interface AgentHealth {
  node: NodeName;
  arch: string;
  kernel: string;
  agentVersion: string;
  falco: {
    state: "stopped" | "starting" | "running" | "backoff" | "failed";
    version?: string;
    pid?: number;
    restarts: number;
    /**
     * The cause of Falco's last failure: the exit and the first line that names an error.
     */
    lastExit?: string;
    /**
     * Falco's last stderr lines before that failure (seccompose status --verbose).
     */
    lastExitLog?: string[];
    /**
     * Milliseconds since the epoch at which Falco's capture was proven by the agent's probe; state running means capturing.
     */
    capturingSince?: number;
    /**
     * The syscalls Falco's driver is asked for, and the gap-free swaps of Falco that changed them (services/agent/falco/).
     */
    driverSet?: {
      /**
       * Size of the driver's syscall set as Falco reported it at start.
       */
      syscalls?: number;
      /**
       * Syscalls left out of the driver set (after Falco's repair added back what its state needs).
       */
      excluded: SyscallName[];
      /**
       * Configuration changes made by a second Falco taking over without a capture gap.
       */
      swaps: number;
      swapFailures: number;
      /**
       * A second Falco is starting or taking over.
       */
      swapping: boolean;
      /**
       * The adaptive syscall set: disabled in the configuration, active, waiting after a failed swap, or off after too many.
       */
      adaptive: "disabled" | "active" | "backoff" | "off";
      lastSwapFailure?: string;
      /**
       * Milliseconds since the epoch of the last cutover from one Falco to the next.
       */
      lastSwapAt?: number;
    };
    /**
     * The hot-syscall split's second Falco, asked only for the hot syscalls (falco.hotSyscalls); pid, state and restarts above are the other one's, state the worse of both.
     */
    hot?: {
      state: "stopped" | "starting" | "running" | "backoff" | "failed";
      pid?: number;
      restarts: number;
      /**
       * The hot syscalls.
       */
      syscalls: SyscallName[];
      /**
       * Size of its driver's syscall set as it reported it at start (the hot syscalls and what Falco's state needs).
       */
      driverSyscalls?: number;
    };
  };
  activeSessions: SessionId[];
  counters: {
    alertsRead: number;
    parseErrors: number;
    eventsSent: number;
    batchesSent: number;
    spoolBytes: number;
    falcoDrops: number;
    [k: string]: number;
  };
  /**
   * What happened in the last windowSeconds only, so that an old error does not make a healthy agent look unhealthy (lastErrors and counters are since the agent started).
   */
  recent?: {
    windowSeconds: number;
    /**
     * Alert lines read from Falco.
     */
    alertsRead: number;
    /**
     * Alert lines that could not be read.
     */
    parseErrors: number;
    /**
     * Errors of any kind (parse errors included), as in lastErrors.
     */
    errors: number;
  };
  /**
   * @maxItems 20
   */
  lastErrors: {
    code: string;
    message: string;
    at: Timestamp;
  }[];
}
/**
 * This interface was referenced by `SeccomposeContracts`'s JSON-Schema
 * via the `definition` "NodeSessionStatus".
 */
export interface NodeSessionStatus {
  sessionId: SessionId;
  state: "running" | "stopping" | "stopped";
  containers: number;
  batchesSent: number;
  eventsSeen: number;
  droppedEvents?: number;
}
/**
 * Requests on sc.ctl.<op> (scatter-gather to every agent) and on sc.node.<node>.profile|install|uninstall, and each agent's reply, which it publishes on sc.reply.<replyToken>.<node> (a subject only that node's NATS user may publish to).
 *
 * This interface was referenced by `SeccomposeContracts`'s JSON-Schema
 * via the `definition` "Control".
 */
export interface Control {
  [k: string]: unknown;
}
/**
 * What was observed for one workload container in one session: the source of every rendered profile. Stored in KV bucket sc_profiles under <session>.<workload token> (Object Store sc_profiles_big when large); written by `seccompose record --observations`. Per-node counts are kept so that documents merge idempotently (maximum per node).
 *
 * This interface was referenced by `SeccomposeContracts`'s JSON-Schema
 * via the `definition` "ProfileDocument".
 */
export interface ProfileDocument {
  schemaVersion: 1;
  kind: "ProfileDocument";
  session: SessionId;
  workload: WorkloadKey;
  /**
   * Increases by one each time the syscall set changes.
   */
  revision: number;
  /**
   * complete: every node's data merged; partial: finalised at the deadline without some nodes (missingNodes); recording: a continuous or running session.
   */
  status: "complete" | "partial" | "recording";
  missingNodes?: NodeName[];
  /**
   * Periods in which a node of the session recorded nothing although the session ran (agent restarts, Falco down or not yet capturing), from the nodes' FINs. Any gap makes the status partial: calls made then were not seen.
   */
  gaps?: {
    node: NodeName;
    from: Timestamp;
    to: Timestamp;
    reason?: string;
  }[];
  /**
   * Ranges of stream SC_EVENTS that were discarded (stream limits max_age or max_bytes, or a purge) before the aggregator consumed them, while this session accepted data. The lost messages cannot be read any more, so which session they belonged to is unknown: every session of the partition that accepted data then is marked, and any loss makes the status partial.
   */
  streamLoss?: StreamLoss[];
  /**
   * Batches that arrived after the session was finalised and are merged into this revision. Such a revision is stored only under <session>.<workload token>.rev.<revision>: the final document under <session>.<workload token> is never overwritten.
   */
  lateBatches?: number;
  convergedAt?: Timestamp;
  frozen?: boolean;
  nodes: {
    name: string;
    arch: string;
    droppedEvents: number;
  }[];
  architectures: ScmpArch[];
  argSyscalls?: SyscallName[];
  syscalls: {
    name: SyscallName;
    /**
     * Sum of the per-node counts.
     */
    count: number;
    firstSeen: Timestamp;
    /**
     * Calls per node.
     */
    nodes: {
      [k: string]: number;
    };
    /**
     * Distinct argument tuples seen, for syscalls in argSyscalls.
     */
    args?: ArgTuple[];
  }[];
}
/**
 * This interface was referenced by `SeccomposeContracts`'s JSON-Schema
 * via the `definition` "NatsConnection".
 */
export interface NatsConnection {
  /**
   * @minItems 1
   */
  servers: string[];
  user?: string;
  pass?: string;
  token?: string;
  credsFile?: string;
  /**
   * File holding the password (e.g. a mounted Secret); read at start.
   */
  passFile?: string;
  /**
   * File holding this node's NKey user seed, created on the node by enrollment (services/agent/enroll.ts); the agent logs in with it instead of a user and password. Read at start: it must be mode 0600 and hold one SU... line.
   */
  nkeyFile?: string;
}
/**
 * seccompose-agent configuration: from an optional YAML/JSON file, then environment (SECCOMPOSE_*), then flags.
 *
 * This interface was referenced by `SeccomposeContracts`'s JSON-Schema
 * via the `definition` "AgentConfig".
 */
export interface AgentConfig {
  nodeName: NodeName;
  nats: NatsConnection;
  stateDir: string;
  httpPort?: number;
  logLevel?: "fatal" | "error" | "warn" | "info" | "debug" | "trace";
  falco: {
    binary: string;
    args?: string[];
    configDir?: string;
    alertFormat?: "json" | "compact";
    /**
     * Delays in milliseconds before each restart of a Falco that exited; the last repeats (default 1000, 2000, 5000, 10000, 30000).
     *
     * @minItems 1
     */
    restartBackoffMs?: number[];
    /**
     * Leave the pods the agent knows that no session targets out of Falco's rule. Changing that list while sessions run takes a Falco swap (see docs/architecture.md for why it is off by default).
     */
    excludeNonTargetPods?: boolean;
    /**
     * How long the second Falco of a configuration swap may take to capture before the swap is given up. Default 30000.
     */
    swapTimeoutMs?: number;
    /**
     * Run a second Falco for the syscalls a workload can make millions of times (read, write, futex, ...), so that their floods cannot make Falco drop any other syscall (services/agent/falco/split-falco.ts).
     */
    hotSyscalls?: {
      /**
       * Default false: a second Falco costs its memory and a second pass of the kernel probe over every syscall (see docs/architecture.md).
       */
      enabled?: boolean;
      /**
       * The hot syscalls (kernel names). Default: the list in split-falco.ts, less those the node's architecture does not have (arm64: select, poll, epoll_wait). Neither the probe's openat nor a syscall Falco's own state needs may be one.
       *
       * @minItems 1
       */
      syscalls?: SyscallName[];
    };
    /**
     * Stop asking Falco's driver for heavy syscalls every target workload container has shown (services/agent/falco/syscall-set-policy.ts).
     */
    adaptiveSyscalls?: {
      /**
       * Default false (see docs/architecture.md for why).
       */
      enabled?: boolean;
      /**
       * A syscall is left out only at this many calls per second over all targets. Default 5000.
       */
      minEventsPerSecond?: number;
      /**
       * The targets must have been unchanged this long before the set is lowered. Default 2000.
       */
      stableMs?: number;
      /**
       * How often the set is decided again while sessions run; the first lowering comes two decisions after a heavy syscall appears. Default 500.
       */
      evaluateIntervalMs?: number;
      /**
       * Failed swaps in a row after which the set is never lowered again. Default 3.
       */
      maxFailures?: number;
    };
  };
  batch?: {
    /**
     * How often new tuples (and due count updates) are sent, in milliseconds (default 2000).
     */
    flushIntervalMs?: number;
    /**
     * Events per batch message at most; more make several messages (default 5000).
     */
    maxEvents?: number;
    /**
     * Batches published and not yet acknowledged by JetStream at once (default 64).
     */
    maxInFlight?: number;
    /**
     * Disk spool for batches NATS could not take, in bytes; a batch that does not fit is refused with SC_SPOOL_FULL (default 268435456, 256 MiB).
     */
    spoolMaxBytes?: number;
  };
  /**
   * Pods on this node, for running outside Kubernetes (see services/agent/pods/static-pod-directory.ts). Without it the agent watches the Kubernetes API.
   */
  podsFile?: string;
  /**
   * Kubeconfig for the pod watch; in-cluster credentials when absent.
   */
  kubeconfig?: string;
  /**
   * The window of the health's recent counts (alerts read, parse errors, errors), which start and status judge an agent by. Default 300.
   */
  healthWindowSeconds?: number;
  /**
   * How long events of a container whose pod is not known yet are held for attribution.
   */
  holdUnknownMs?: number;
  /**
   * Reply-inbox prefix, so NATS permissions can confine the agent's replies.
   */
  inboxPrefix?: string;
  /**
   * Where `profile --install` writes profiles on this node: a directory under the kubelet's seccomp root.
   */
  seccompDir?: string;
  /**
   * Bounds on the sessions one agent keeps, so no number of start requests or session records exhausts it.
   */
  sessions?: {
    /**
     * Sessions running or stopping at once; a start beyond it is refused with SC_SESSION_LIMIT. Default 16.
     */
    maxActive?: number;
    /**
     * Stopped sessions whose local record (and node profile) is kept; the oldest beyond it are removed. Default 32.
     */
    maxFinished?: number;
  };
}
/**
 * seccompose-aggregator configuration: from an optional YAML/JSON file, then environment (SECCOMPOSE_*), then flags.
 *
 * This interface was referenced by `SeccomposeContracts`'s JSON-Schema
 * via the `definition` "AggregatorConfig".
 */
export interface AggregatorConfig {
  nats: NatsConnection;
  httpPort?: number;
  logLevel?: "fatal" | "error" | "warn" | "info" | "debug" | "trace";
  replicas?: number;
  /**
   * Partitions of stream SC_EVENTS (default 1): the unit of work that aggregator replicas divide among themselves. Fixed once the stream exists.
   */
  partitions?: number;
  /**
   * Name of this replica in partition leases and checkpoints (default: random per process). The Deployment sets the pod name: a restarted container then takes its partitions back at once instead of waiting for their leases to expire. No two running replicas may share it.
   */
  replicaId?: string;
  /**
   * How long a replica's lease on a partition lasts without renewal (default 10000): a dead replica's partitions are taken over after at most this long. Renewed every third of it.
   */
  leaseTtlMs?: number;
  stream?: {
    maxBytes?: number;
    maxAgeSeconds?: number;
    maxMsgSize?: number;
    duplicateWindowSeconds?: number;
  };
  checkpointIntervalMs?: number;
  /**
   * Whether a workload entry from node N is accepted only if it names a pod that ran on N during the session, with that pod's workload and one of its containers, from the aggregator's own cluster-wide pod watch. auto (default): on when a Kubernetes API is configured (kubeconfig, or running in a pod) and lets the aggregator list pods; without one, or when it refuses, the check is off and status says so. required: on; no API, or a failing first pod list, stops the aggregator. off: never.
   */
  podOwnership?: "auto" | "required" | "off";
  /**
   * Kubeconfig for the pod ownership check; the in-cluster service account when absent.
   */
  kubeconfig?: string;
  kvValueMaxBytes?: number;
  /**
   * Bounds on what one node and one session can make the aggregator keep in memory and in its checkpoint. Data beyond a limit is refused, counted on status, and the node is listed in missingNodes of a partial result.
   */
  limits?: {
    /**
     * Workload containers per session (default 5000).
     */
    maxWorkloadsPerSession?: number;
    /**
     * Workload containers one node may report per session (default 1000).
     */
    maxWorkloadsPerNode?: number;
    /**
     * Count entries per session: distinct (workload, syscall, argument tuple, container) combinations (default 200000).
     */
    maxTuplesPerSession?: number;
    /**
     * Count entries one node may add per session (default 50000).
     */
    maxTuplesPerNode?: number;
    /**
     * Highest batch number, and FIN batch count, accepted from one node per session (default 1000000). A FIN may also run at most 1024 batches ahead of the highest batch merged.
     */
    maxBatchesPerNode?: number;
    /**
     * Messages of one node kept while the session's node set (expectedNodes) is not written yet (default 256); more are refused.
     */
    maxHeldMessagesPerNode?: number;
    /**
     * How long a workload entry naming a pod the aggregator's pod watch has not seen yet (or a container it has no id for yet) waits for it, in milliseconds (default 30000); then it is refused. The session is not finalised while entries wait.
     */
    ownershipWaitMs?: number;
    /**
     * Events of one node's waiting workload entries (default 20000); an entry beyond it is refused at once.
     */
    maxOwnershipWaitEventsPerNode?: number;
    /**
     * Deleted pods the pod ownership check remembers, so that data of a pod that ended during a session still counts (default 10000); the oldest are forgotten first.
     */
    maxEndedPods?: number;
  };
}
/**
 * Messages and events refused, never merged nor stored.
 *
 * This interface was referenced by `SeccomposeContracts`'s JSON-Schema
 * via the `definition` "RefusalCounts".
 */
export interface RefusalCounts {
  /**
   * Messages for a session that has no record in KV sc_sessions.
   */
  unknownSession: number;
  /**
   * Messages from a node outside the session's expectedNodes.
   */
  foreignNode: number;
  /**
   * Held messages dropped because the session ended (or its record was deleted) before expectedNodes was written.
   */
  noNodeSet: number;
  /**
   * Messages beyond limits.maxHeldMessagesPerNode while expectedNodes was not written.
   */
  heldOverflow: number;
  /**
   * Batches numbered, or FINs announcing a count, beyond limits.maxBatchesPerNode or far beyond the batches merged.
   */
  implausible: number;
  /**
   * Events whose name is no syscall of the batch's architecture.
   */
  unknownSyscall: number;
  /**
   * Events refused by a workload or tuple limit.
   */
  overLimit: number;
  /**
   * Workload entries without a podUid.
   */
  noPodUid: number;
  /**
   * Workload entries naming a pod the aggregator's pod watch did not see within limits.ownershipWaitMs, or one deleted before the session began.
   */
  podUnknown: number;
  /**
   * Workload entries naming a pod that runs (or ran) on another node than the sender.
   */
  podElsewhere: number;
  /**
   * Workload entries whose namespace, kind or name is not the named pod's workload.
   */
  ownerMismatch: number;
  /**
   * Workload entries whose container is not one of the named pod's (by name, or by container id).
   */
  containerMismatch: number;
  /**
   * Workload entries refused at once because the node's waiting entries reached limits.maxOwnershipWaitEventsPerNode.
   */
  ownershipWaitOverflow: number;
}
/**
 * Workload entries (one workload container of one batch) refused by the pod ownership check, per reason; never merged nor stored.
 *
 * This interface was referenced by `SeccomposeContracts`'s JSON-Schema
 * via the `definition` "OwnershipRefusalCounts".
 */
export interface OwnershipRefusalCounts {
  /**
   * Workload entries without a podUid.
   */
  noPodUid: number;
  /**
   * Workload entries naming a pod the aggregator's pod watch did not see within limits.ownershipWaitMs, or one deleted before the session began.
   */
  podUnknown: number;
  /**
   * Workload entries naming a pod that runs (or ran) on another node than the sender.
   */
  podElsewhere: number;
  /**
   * Workload entries whose namespace, kind or name is not the named pod's workload.
   */
  ownerMismatch: number;
  /**
   * Workload entries whose container is not one of the named pod's (by name, or by container id).
   */
  containerMismatch: number;
  /**
   * Workload entries refused at once because the node's waiting entries reached limits.maxOwnershipWaitEventsPerNode.
   */
  ownershipWaitOverflow: number;
}
/**
 * This interface was referenced by `SeccomposeContracts`'s JSON-Schema
 * via the `definition` "StatusGap".
 */
export interface StatusGap {
  from: Timestamp;
  to: Timestamp;
  reason?: string;
}
/**
 * This interface was referenced by `SeccomposeContracts`'s JSON-Schema
 * via the `definition` "AggregatorStatusRequest".
 */
export interface AggregatorStatusRequest {
  session?: SessionId;
}
/**
 * This interface was referenced by `SeccomposeContracts`'s JSON-Schema
 * via the `definition` "AggregatorSessionStatus".
 */
export interface AggregatorSessionStatus {
  session: SessionId;
  mode: "oneshot" | "continuous";
  /**
   * recording: not finalised; complete: finalised with every node's data and no gap; partial: finalised at the stop deadline without missingNodes, or with gaps or limited nodes.
   */
  state: "recording" | "complete" | "partial";
  expectedNodes?: NodeName[];
  /**
   * Nodes that sent at least one batch or FIN.
   */
  nodesReporting: number;
  /**
   * While recording: participating nodes whose FIN or batches are still missing. When partial: the nodes left out.
   */
  missingNodes?: NodeName[];
  stopDeadline?: Timestamp;
  finalisedAt?: Timestamp;
  /**
   * RFC 3339 UTC timestamp.
   */
  lastEventAt?: string;
  batchesMerged: number;
  eventsMerged: number;
  /**
   * Batches that arrived after the session was finalised: never merged into the final documents, published as late revisions (lateRevisionKey).
   */
  lateBatches: number;
  nodes: AggregatorNodeStatus[];
  workloads: AggregatorWorkloadStatus[];
  refused?: RefusalCounts;
  /**
   * Nodes outside expectedNodes whose data was refused (at most 32 named).
   */
  foreignNodes?: NodeName[];
  /**
   * Stream ranges discarded before they were consumed while the session accepted data; any makes the result partial.
   */
  streamLoss?: StreamLoss[];
  /**
   * Messages kept until expectedNodes is written, then merged or refused.
   */
  heldMessages?: number;
  /**
   * Workload entries waiting for the pod watch to see their pod (or container); the session is not finalised while any wait.
   */
  ownershipWaiting?: number;
  /**
   * Count entries in the session's observations (bounded by limits.maxTuplesPerSession).
   */
  tuples?: number;
}
/**
 * This interface was referenced by `SeccomposeContracts`'s JSON-Schema
 * via the `definition` "AggregatorNodeStatus".
 */
export interface AggregatorNodeStatus {
  name: NodeName;
  arch?: string;
  batchesMerged: number;
  eventsMerged: number;
  /**
   * Batch numbers merged, as ranges, e.g. "1-40,42".
   */
  mergedBatches: string;
  /**
   * Batch count announced by the node's FIN, once merged.
   */
  finBatches?: number;
  /**
   * FIN merged and every batch 1..finBatches merged.
   */
  complete: boolean;
  droppedEvents: number;
  lastEventAt?: Timestamp;
  /**
   * Workload containers this node reported in the session.
   */
  workloads?: number;
  /**
   * Count entries this node added.
   */
  tuples?: number;
  /**
   * Events of this node refused: unknown syscall names, limits, or the pod ownership check.
   */
  refusedEvents?: number;
  ownershipRefused?: OwnershipRefusalCounts;
  /**
   * A limit cut this node's data: the session cannot be complete.
   */
  limited?: boolean;
  /**
   * Periods the node reported recording nothing (its FIN); any gap makes the result partial.
   */
  gaps?: StatusGap[];
}
/**
 * This interface was referenced by `SeccomposeContracts`'s JSON-Schema
 * via the `definition` "AggregatorWorkloadStatus".
 */
export interface AggregatorWorkloadStatus {
  workload: WorkloadKey;
  token: string;
  /**
   * KV sc_profiles key of the workload's latest document.
   */
  profileKey: string;
  syscalls: number;
  /**
   * Last published revision; 0 before the first.
   */
  revision: number;
  converged: boolean;
  convergedAt?: Timestamp;
  /**
   * RFC 3339 UTC timestamp.
   */
  lastChangeAt?: string;
  frozen: boolean;
  driftEvents: number;
  /**
   * Calls outside the frozen profile not taken into it (by profile freeze --accept or unfreeze): the rows of seccompose drift, per node, pod, syscall and argument tuple.
   */
  drifted?: number;
  /**
   * KV sc_profiles key of the newest revision holding data that arrived after finalisation (the final document under profileKey is never overwritten).
   */
  lateRevisionKey?: string;
}
/**
 * Published on sc.agg.status.<session> when a session's final profiles are stored.
 *
 * This interface was referenced by `SeccomposeContracts`'s JSON-Schema
 * via the `definition` "SessionFinalisedEvent".
 */
export interface SessionFinalisedEvent {
  schemaVersion: 1;
  kind: "SessionFinalised";
  session: SessionId;
  status: "complete" | "partial";
  missingNodes?: NodeName[];
  finalisedAt: Timestamp;
  profiles: {
    workload: WorkloadKey;
    /**
     * KV sc_profiles key.
     */
    key: string;
    revision: number;
    syscalls: number;
    /**
     * kv: the document is the KV value; object: the KV value is a ProfilePointer.
     */
    storage: "kv" | "object";
  }[];
}
/**
 * Published on sc.conv.<session>.<workload token> when a continuous profile has not changed for the convergence window.
 *
 * This interface was referenced by `SeccomposeContracts`'s JSON-Schema
 * via the `definition` "ConvergenceEvent".
 */
export interface ConvergenceEvent {
  schemaVersion: 1;
  kind: "Convergence";
  session: SessionId;
  workload: WorkloadKey;
  workloadToken: string;
  revision: number;
  /**
   * RFC 3339 UTC timestamp.
   */
  convergedAt: string;
  /**
   * RFC 3339 UTC timestamp.
   */
  lastChangeAt: string;
  windowSeconds: number;
  syscalls: number;
}
/**
 * Published on sc.drift.<session>.<workload token> the first time a node reports a call outside a frozen profile (once per node, container, syscall and argument tuple; possibly again after an aggregator restart). The calls are also kept, with their counts, in the workload's DriftReport.
 *
 * This interface was referenced by `SeccomposeContracts`'s JSON-Schema
 * via the `definition` "DriftEvent".
 */
export interface DriftEvent {
  schemaVersion: 1;
  kind: "Drift";
  session: SessionId;
  workload: WorkloadKey;
  workloadToken: string;
  node: NodeName;
  pod?: string;
  containerId?: string;
  syscall: SyscallName;
  args?: ArgTuple;
  /**
   * Calls of this (syscall, arguments) in this container on the node so far.
   */
  count: number;
  firstSeen: Timestamp;
  detectedAt: Timestamp;
  /**
   * Revision of the frozen profile (0: frozen before anything was seen).
   */
  frozenRevision: number;
}
/**
 * Calls of one syscall (and argument tuple) in one container on one node outside the frozen profile.
 *
 * This interface was referenced by `SeccomposeContracts`'s JSON-Schema
 * via the `definition` "DriftEntry".
 */
export interface DriftEntry {
  node: NodeName;
  pod?: string;
  containerId?: string;
  syscall: SyscallName;
  args?: ArgTuple;
  /**
   * Calls so far (the agent's cumulative count, which it reports when it crosses a power of two and at stop).
   */
  count: number;
  /**
   * RFC 3339 UTC timestamp.
   */
  firstSeen: string;
  /**
   * RFC 3339 UTC timestamp.
   */
  lastSeen: string;
  /**
   * RFC 3339 UTC timestamp.
   */
  detectedAt: string;
}
/**
 * Value of KV sc_profiles key <session>.<workload token>.drift: the calls of a frozen workload outside its frozen profile, per node, container, syscall and argument tuple. Written by the aggregator when it changes (at most once a second) and at finalisation; `seccompose drift` reads it.
 *
 * This interface was referenced by `SeccomposeContracts`'s JSON-Schema
 * via the `definition` "DriftReport".
 */
export interface DriftReport {
  schemaVersion: 1;
  kind: "DriftReport";
  session: SessionId;
  workload: WorkloadKey;
  workloadToken: string;
  /**
   * The workload is frozen now.
   */
  frozen: boolean;
  /**
   * Revision of the frozen profile (0: frozen before anything was seen).
   */
  frozenRevision?: number;
  frozenAt?: Timestamp;
  updatedAt: Timestamp;
  /**
   * @maxItems 500
   */
  entries: DriftEntry[];
  /**
   * Reports of calls outside the frozen profile that could not be kept (a call reported again counts again): over the per-workload bound (500 entries, which keeps the report within a NATS message) or the node's and session's count-entry limits.
   */
  omitted: number;
}
/**
 * Value of a KV sc_profiles key whose ProfileDocument exceeded the KV value limit: the document (JSON) is the object `object` in Object Store `objectStore`.
 *
 * This interface was referenced by `SeccomposeContracts`'s JSON-Schema
 * via the `definition` "ProfilePointer".
 */
export interface ProfilePointer {
  schemaVersion: 1;
  kind: "ProfilePointer";
  session: SessionId;
  workload: WorkloadKey;
  revision: number;
  status: "complete" | "partial" | "recording";
  objectStore: string;
  /**
   * Object name: the KV key it stands for.
   */
  object: string;
  /**
   * Bytes of the document.
   */
  size: number;
  sha256: string;
}
/**
 * Request on sc.agg.freeze: freeze (or unfreeze) workload profiles of a continuous session. The aggregator adds the tokens to (or removes them from) the session record's continuous.frozen with compare-and-set and replies with a FreezeReply or an ErrorBody. Unfreezing takes the workload's drift into its profile. With `accept`, the frozen workloads' drift of those syscalls is taken into their profiles (a new revision) and the frozen profile grows by them; the aggregator stores a checkpoint before it replies.
 *
 * This interface was referenced by `SeccomposeContracts`'s JSON-Schema
 * via the `definition` "FreezeRequest".
 */
export interface FreezeRequest {
  session: SessionId;
  /**
   * @minItems 1
   */
  workloadTokens: string[];
  unfreeze?: boolean;
  /**
   * Syscalls whose drift is taken into the frozen profiles.
   *
   * @minItems 1
   * @maxItems 512
   */
  accept?: SyscallName[];
}
/**
 * This interface was referenced by `SeccomposeContracts`'s JSON-Schema
 * via the `definition` "FreezeReply".
 */
export interface FreezeReply {
  session: SessionId;
  /**
   * The session record's frozen workload tokens after the change.
   */
  frozen: string[];
  /**
   * Per workload, the syscalls taken into its profile and the revision that shows them.
   */
  accepted?: {
    workloadToken: string;
    syscalls: SyscallName[];
    /**
     * Drift entries (node, container, argument tuple) merged.
     */
    calls: number;
    revision: number;
  }[];
}
/**
 * Request on sc.agg.delete: delete a session's record, profile documents, revisions, drift reports, large-profile objects, stored events and the aggregator's state of it. A session that is not stopped is refused (SC_SESSION_ACTIVE) unless `force`. The aggregator replies with a DeleteReply or an ErrorBody.
 *
 * This interface was referenced by `SeccomposeContracts`'s JSON-Schema
 * via the `definition` "DeleteRequest".
 */
export interface DeleteRequest {
  session: SessionId;
  force?: boolean;
}
/**
 * This interface was referenced by `SeccomposeContracts`'s JSON-Schema
 * via the `definition` "DeleteReply".
 */
export interface DeleteReply {
  session: SessionId;
  /**
   * The session record existed and was removed.
   */
  record: boolean;
  /**
   * The session's state before the deletion (absent: no record).
   */
  state: "running" | "stopping" | "stopped" | "absent";
  /**
   * Messages removed from KV sc_profiles: every document, revision and drift report of the session, with its history.
   */
  keys: number;
  /**
   * Object Store sc_profiles_big objects removed.
   */
  objects: number;
  /**
   * Messages of the session removed from stream SC_EVENTS.
   */
  events: number;
}
/**
 * JSON reply of seccompose-aggregator to a request on sc.agg.status (request body: empty, or an AggregatorStatusRequest). The $defs also define what the aggregator publishes: status events on sc.agg.status.<session>, convergence events on sc.conv.<session>.<workload token>, drift events on sc.drift.<session>.<workload token>, drift reports in KV sc_profiles, the pointer stored in KV sc_profiles when a profile document is too large for a KV value, the freeze requests answered on sc.agg.freeze and the delete requests answered on sc.agg.delete.
 *
 * This interface was referenced by `SeccomposeContracts`'s JSON-Schema
 * via the `definition` "AggregatorStatus".
 */
export interface AggregatorStatus {
  schemaVersion: 1;
  kind: "AggregatorStatus";
  generatedAt: Timestamp;
  /**
   * Id of the aggregator process that answered.
   */
  instance: string;
  /**
   * The durable consumer on SC_EVENTS; absent when its info could not be read.
   */
  consumer?: {
    stream: string;
    durable: string;
    /**
     * Consumer lag: messages in the stream not yet delivered to the aggregator.
     */
    numPending: number;
    /**
     * Messages delivered and merged but not yet covered by a checkpoint.
     */
    numAckPending: number;
    ackFloor: number;
  };
  /**
   * The last checkpoint this process stored.
   */
  checkpoint?: {
    streamSeq: number;
    writtenAt: Timestamp;
  };
  /**
   * Messages that could not be decoded or validated (terminated, never merged).
   */
  badBatches: number;
  sessions: AggregatorSessionStatus[];
  /**
   * Whether the aggregator checks, from its own watch of the cluster's pods, that every workload entry of node N names a pod that ran on N during the session, with that pod's workload and one of its containers (config podOwnership). false: it does not (podOwnershipReason says why) and takes a node's word about its workloads; per-node workload counts are on each session's nodes.
   */
  podOwnershipChecked?: boolean;
  /**
   * Why the pod ownership check is off; absent when it is on.
   */
  podOwnershipReason?: string;
  /**
   * Whether the stream as it was when this process started has been merged; until then no session is finalised at its deadline.
   */
  caughtUp?: boolean;
  /**
   * Partitions of SC_EVENTS this replica holds a lease on and aggregates; its sessions are theirs.
   */
  partitions?: number[];
  /**
   * Stream messages discarded (stream limits or a purge) before this aggregator consumed them, since its state began. When several partitions share the stream this is an upper bound: discarded messages cannot be read, so those of other partitions in a lost range count too.
   */
  lostMessages?: number;
  refused?: RefusalCounts1;
}
/**
 * Messages and events refused, never merged nor stored.
 */
export interface RefusalCounts1 {
  /**
   * Messages for a session that has no record in KV sc_sessions.
   */
  unknownSession: number;
  /**
   * Messages from a node outside the session's expectedNodes.
   */
  foreignNode: number;
  /**
   * Held messages dropped because the session ended (or its record was deleted) before expectedNodes was written.
   */
  noNodeSet: number;
  /**
   * Messages beyond limits.maxHeldMessagesPerNode while expectedNodes was not written.
   */
  heldOverflow: number;
  /**
   * Batches numbered, or FINs announcing a count, beyond limits.maxBatchesPerNode or far beyond the batches merged.
   */
  implausible: number;
  /**
   * Events whose name is no syscall of the batch's architecture.
   */
  unknownSyscall: number;
  /**
   * Events refused by a workload or tuple limit.
   */
  overLimit: number;
  /**
   * Workload entries without a podUid.
   */
  noPodUid: number;
  /**
   * Workload entries naming a pod the aggregator's pod watch did not see within limits.ownershipWaitMs, or one deleted before the session began.
   */
  podUnknown: number;
  /**
   * Workload entries naming a pod that runs (or ran) on another node than the sender.
   */
  podElsewhere: number;
  /**
   * Workload entries whose namespace, kind or name is not the named pod's workload.
   */
  ownerMismatch: number;
  /**
   * Workload entries whose container is not one of the named pod's (by name, or by container id).
   */
  containerMismatch: number;
  /**
   * Workload entries refused at once because the node's waiting entries reached limits.maxOwnershipWaitEventsPerNode.
   */
  ownershipWaitOverflow: number;
}
/**
 * `seccompose start -f session.yaml`: what to record and how to render it. Flags override the file; the file overrides the user defaults (seccompose config).
 *
 * This interface was referenced by `SeccomposeContracts`'s JSON-Schema
 * via the `definition` "SessionFile".
 */
export interface SessionFile {
  apiVersion?: "seccompose.dev/v1";
  kind?: "Session";
  id?: SessionId;
  targets?: {
    namespaces?: string[];
    labelSelector?: string;
    pods?: string[];
    containers?: string[];
  };
  args?: SyscallName[];
  mode?: "oneshot" | "continuous";
  defaultAction?:
    "SCMP_ACT_ERRNO" | "SCMP_ACT_LOG" | "SCMP_ACT_KILL_PROCESS" | "SCMP_ACT_KILL_THREAD" | "SCMP_ACT_TRAP";
  defaultErrnoRet?: number;
  baseline?: "runc" | "crun" | "none";
  continuous?: {
    convergenceWindowSeconds?: number;
    revisionDebounceMs?: number;
  };
  output?: {
    format?: "oci" | "spo" | "configmap";
    dir?: string;
  };
}
/**
 * User defaults of the seccompose CLI, kept in $XDG_CONFIG_HOME/seccompose/config.yaml and managed with `seccompose config get|set|list`.
 *
 * This interface was referenced by `SeccomposeContracts`'s JSON-Schema
 * via the `definition` "CliConfig".
 */
export interface CliConfig {
  natsUrl?: string;
  natsCreds?: string;
  natsUser?: string;
  /**
   * Kept for compatibility; prefer natsPasswordFile or natsCreds, which keep the secret out of this file.
   */
  natsPassword?: string;
  /**
   * A file holding the NATS password (its first line).
   */
  natsPasswordFile?: string;
  kubeconfig?: string;
  context?: string;
  /**
   * Namespace seccompose is installed in.
   */
  namespace?: string;
  format?: "oci" | "spo" | "configmap";
  baseline?: "runc" | "crun" | "none";
  defaultAction?:
    "SCMP_ACT_ERRNO" | "SCMP_ACT_LOG" | "SCMP_ACT_KILL_PROCESS" | "SCMP_ACT_KILL_THREAD" | "SCMP_ACT_TRAP";
  output?: "text" | "json";
  timeoutSeconds?: number;
}
