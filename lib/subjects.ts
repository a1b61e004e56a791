/**
 * NATS names: the versioned wire contract between agents, aggregator and CLI (docs/architecture.md).
 * Session ids are already subject-safe (schema pattern); node names may contain dots, so they are
 * escaped into one token.
 */
export const STREAM_EVENTS = "SC_EVENTS";
export const BUCKET_SESSIONS = "sc_sessions";
export const BUCKET_PROFILES = "sc_profiles";
export const BUCKET_AGGREGATOR_STATE = "sc_aggregator";
export const OBJECT_STORE_PROFILES = "sc_profiles_big";
/** Profiles `profile apply` installed on every node (key: profile name); agents install them at start. */
export const BUCKET_INSTALLED = "sc_installed";
/** Partition leases and live aggregator replicas; the bucket's max_age is the lease expiry. */
export const BUCKET_AGGREGATOR_LEASES = "sc_aggregator_leases";
/** The single durable consumer of aggregators before partitions (filter `sc.ev.>`); see LEGACY_EVENT_SUBJECTS. */
export const LEGACY_AGGREGATOR_DURABLE = "sc_aggregator";

/** The durable pull consumer of one partition of SC_EVENTS. */
export function aggregatorDurable(partition: number): string {
  return `sc_aggregator_${partition}`;
}

/** Scatter-gather control requests, answered by every agent. */
export const CONTROL_SUBJECTS = {
  start: "sc.ctl.start",
  stop: "sc.ctl.stop",
  status: "sc.ctl.status",
  health: "sc.ctl.health",
  installed: "sc.ctl.installed",
} as const;

/**
 * Where an agent answers a control request: `sc.reply.<replyToken>.<node>`. Only the NATS user of
 * that node may publish there (deploy/nats-permissions.json), so the subject, not the body, says
 * which node answered. `replyToken` is the CLI's random token from the request.
 */
export function replySubject(replyToken: string, node: string): string {
  return `${REPLY_PREFIX}.${replyToken}.${subjectToken(node)}`;
}

export const REPLY_PREFIX = "sc.reply";

/** Every reply to one request, whichever node sent it (the CLI subscribes here). */
export function replySubjectsOf(replyToken: string): string {
  return `${REPLY_PREFIX}.${replyToken}.*`;
}

/**
 * The bucket sc_sessions republishes the headers of every change here (`sc.sessions.<id>`), so
 * agents learn of changes without creating consumers: a consumer's deliver subject is not covered
 * by publish permissions, and would let an agent make the server publish anywhere.
 */
export const SESSION_CHANGES_PREFIX = "sc.sessions";

/** Escapes any character outside [A-Za-z0-9_-] (dots included) as `=HH`, giving one subject token. */
export function subjectToken(value: string): string {
  let out = "";
  for (const ch of value) {
    if (/^[A-Za-z0-9_-]$/.test(ch)) out += ch;
    else
      for (const byte of Buffer.from(ch, "utf8"))
        out += `=${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/**
 * Events of a session from a node: `sc.ev.<partition>.<session>.<node>`. The partition is the
 * session record's (lib/partitions.ts), so each aggregator replica consumes only its partitions.
 */
export function eventSubject(partition: number, session: string, node: string): string {
  return `sc.ev.${partition}.${session}.${subjectToken(node)}`;
}

/** Every event subject of one partition: the stream's subject and the filter of its durable. */
export function partitionSubjects(partition: number): string {
  return `sc.ev.${partition}.*.*`;
}

/** Every event subject of every session, whatever its partition. */
export const EVENT_SUBJECTS_ALL = "sc.ev.*.*.*";

/** The stream's only subject before partitions (events on `sc.ev.<session>.<node>`). */
export const LEGACY_EVENT_SUBJECTS = "sc.ev.>";

/**
 * Every node's events of one session, whatever its partition: a session whose record is gone
 * (deleted, or never written) can still be found.
 */
export function eventSubjectsOf(session: string): string {
  return `sc.ev.*.${session}.*`;
}

/** Requests for one agent only (render its node's profile, install or remove a profile on its node). */
export function nodeControlSubject(node: string, op: "profile" | "install" | "uninstall"): string {
  return `sc.node.${subjectToken(node)}.${op}`;
}

/** KV key of a workload's profile document in a session. */
export function profileKey(session: string, workloadToken: string): string {
  return `${session}.${workloadToken}`;
}

export function driftSubject(session: string, workloadToken: string): string {
  return `sc.drift.${session}.${workloadToken}`;
}

/** Every drift event of a session (`seccompose drift --follow`). */
export function driftSubjectsOf(session: string): string {
  return `sc.drift.${session}.>`;
}

export function convergenceSubject(session: string, workloadToken: string): string {
  return `sc.conv.${session}.${workloadToken}`;
}

export const AGGREGATOR_STATUS_SUBJECT = "sc.agg.status";

/** Requests to freeze a continuous session's workload profile (answered by the aggregator). */
export const AGGREGATOR_FREEZE_SUBJECT = "sc.agg.freeze";

/** Requests to delete a session and everything stored of it (answered by the aggregator). */
export const AGGREGATOR_DELETE_SUBJECT = "sc.agg.delete";

/** JetStream message id of a batch: redelivered publishes with the same id are dropped by the stream. */
export function batchMessageId(session: string, node: string, seq: number): string {
  return `${session}:${node}:${seq}`;
}

export function finMessageId(session: string, node: string): string {
  return `${session}:${node}:fin`;
}

/** Where the aggregator publishes each session's status events (e.g. finalised). */
export function statusEventSubject(session: string): string {
  return `${AGGREGATOR_STATUS_SUBJECT}.${session}`;
}

/** KV key of one revision of a continuous session's profile; `profileKey` holds the latest. */
export function profileRevisionKey(session: string, workloadToken: string, revision: number): string {
  return `${profileKey(session, workloadToken)}.rev.${revision}`;
}

/**
 * KV sc_profiles key of a workload's drift report (calls outside its frozen profile): beside its
 * profile, so whoever may read profiles may read their drift, and deleting a session's keys
 * deletes it too.
 */
export function driftReportKey(session: string, workloadToken: string): string {
  return `${profileKey(session, workloadToken)}.drift`;
}
