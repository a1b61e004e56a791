/**
 * Continuous sessions, per workload: when to publish a new profile revision (debounced), when the
 * profile has converged, and what counts as drift once it is frozen. Pure: the caller passes the
 * time, so the same inputs always give the same steps.
 *
 * The clock here is the aggregator's merge time, not the agents' event time: "converged" means the
 * aggregator merged nothing that changed the profile for the whole window. After a restart, data
 * merged before the crash but after the last checkpoint is merged again and may count as a change
 * again, which can only delay convergence, never announce it early.
 */
import type { DriftReport, SessionRecord, WorkloadKey } from "../../lib/contracts/types.ts";
import type { WorkloadObservations } from "../../lib/profile/observations.ts";

export const DEFAULT_CONVERGENCE_WINDOW_SECONDS = 3600;
export const DEFAULT_REVISION_DEBOUNCE_MS = 5000;

export interface ContinuousSettings {
  convergenceWindowSeconds: number;
  revisionDebounceMs: number;
}

export function continuousSettings(record: SessionRecord | undefined): ContinuousSettings {
  return {
    convergenceWindowSeconds:
      record?.continuous?.convergenceWindowSeconds ?? DEFAULT_CONVERGENCE_WINDOW_SECONDS,
    revisionDebounceMs: record?.continuous?.revisionDebounceMs ?? DEFAULT_REVISION_DEBOUNCE_MS,
  };
}

/**
 * What a profile allows: syscall name → the argument tuples it is restricted to (joined with ','),
 * or null when it is allowed with any arguments. Mirrors what the renderers turn into rules.
 */
export type ProfileShape = Map<string, Set<string> | null>;

export function shapeOf(wo: WorkloadObservations, argSyscalls: readonly string[]): ProfileShape {
  const shape: ProfileShape = new Map();
  for (const [name, stats] of wo.syscalls) {
    const restricted = argSyscalls.includes(name) && !stats.anyArgs && stats.argTuples.size > 0;
    shape.set(name, restricted ? new Set(stats.argTuples.keys()) : null);
  }
  return shape;
}

/** True when a call of `name` with `args` (undefined: not recorded) is not allowed by `shape`. */
export function isOutside(shape: ProfileShape, name: string, args: readonly string[] | undefined): boolean {
  if (!shape.has(name)) return true;
  const tuples = shape.get(name);
  if (tuples === null || tuples === undefined) return false;
  return args === undefined || !tuples.has(args.join(","));
}

export interface PublishedFlags {
  convergedAt: number | undefined;
  frozen: boolean;
}

/** Continuous-session bookkeeping of one workload. */
export interface ContinuousTrack {
  /** Bumped by every merge that changes the profile shape (new syscall, new argument tuple). */
  shapeVersion: number;
  lastChangeAt: number;
  /** When the oldest unpublished change was merged: the debounce window starts there. */
  changePendingSince: number | undefined;
  /** Last published revision; 0 before the first. */
  revision: number;
  /** shapeVersion that the last published revision shows. */
  publishedVersion: number;
  convergedAt: number | undefined;
  /** Flags of the document last published; a difference from the current ones republishes it. */
  published: PublishedFlags | undefined;
  frozen: { at: number; revision: number; shape: ProfileShape } | undefined;
  /** Calls outside the frozen profile by `driftKey`, until accepted or unfrozen into the profile. */
  readonly drift: Map<string, DriftEntry>;
  /** Distinct calls outside the frozen profile not kept in `drift` (bounds). */
  driftOmitted: number;
  /** Drift first reported (events published), ever. */
  driftEvents: number;
  /** Bumped by every change of `drift`; the drift report is written up to `driftPublishedVersion`. */
  driftVersion: number;
  driftPublishedVersion: number;
  /** When the drift report was last written (aggregator clock); 0 never. */
  driftPublishedAt: number;
}

/** One call outside the frozen profile: per node, container, syscall and argument tuple. */
export interface DriftEntry {
  node: string;
  containerId: string | undefined;
  pod: string | undefined;
  syscall: string;
  args: readonly string[] | undefined;
  /** The agent's cumulative count of this call in this container. */
  count: number;
  firstSeen: number;
  /** Send time of the newest batch that raised the count. */
  lastSeen: number;
  /** Aggregator clock of the first report. */
  detectedAt: number;
}

/** Drift entries kept per workload; more are only counted (`driftOmitted`). */
export const MAX_DRIFT_ENTRIES = 500;

export function newTrack(now: number): ContinuousTrack {
  return {
    shapeVersion: 0,
    lastChangeAt: now,
    changePendingSince: undefined,
    revision: 0,
    publishedVersion: 0,
    convergedAt: undefined,
    published: undefined,
    frozen: undefined,
    drift: new Map(),
    driftOmitted: 0,
    driftEvents: 0,
    driftVersion: 0,
    driftPublishedVersion: 0,
    driftPublishedAt: 0,
  };
}

export function noteShapeChange(track: ContinuousTrack, now: number): void {
  track.shapeVersion++;
  track.lastChangeAt = now;
  track.changePendingSince ??= now;
  track.convergedAt = undefined;
}

/** Freezes the profile as it is now merged; later calls outside it are drift, not profile. */
export function freeze(
  track: ContinuousTrack,
  wo: WorkloadObservations,
  argSyscalls: readonly string[],
  now: number,
): void {
  const pending = track.shapeVersion > track.publishedVersion ? 1 : 0;
  // The revision the frozen profile is published as (0: nothing seen yet, everything is drift).
  track.frozen = { at: now, revision: track.revision + pending, shape: shapeOf(wo, argSyscalls) };
}

/** Lifts the freeze; the caller takes the drift into the profile first (`takeDrift`). */
export function unfreeze(track: ContinuousTrack): void {
  track.frozen = undefined;
  if (track.driftOmitted > 0) {
    track.driftOmitted = 0;
    track.driftVersion++;
  }
}

/** The drift key of a call when it is outside the frozen profile; else undefined. */
export function driftKey(
  track: ContinuousTrack,
  node: string,
  containerId: string | undefined,
  name: string,
  args: readonly string[] | undefined,
): string | undefined {
  if (track.frozen === undefined || !isOutside(track.frozen.shape, name, args)) return undefined;
  return `${node}\u0000${containerId ?? ""}\u0000${name}\u0000${args === undefined ? "*" : args.join(",")}`;
}

/**
 * Books a report of a drifted call: a new entry (true: the first report, to be published), or a
 * count raised on a known one. Counts are cumulative per container, so they merge by maximum.
 */
export function noteDrift(track: ContinuousTrack, key: string, entry: DriftEntry): boolean {
  const known = track.drift.get(key);
  if (known === undefined) {
    track.drift.set(key, entry);
    track.driftEvents++;
    track.driftVersion++;
    return true;
  }
  if (entry.count > known.count) {
    known.count = entry.count;
    known.lastSeen = Math.max(known.lastSeen, entry.lastSeen);
    track.driftVersion++;
  }
  if (entry.firstSeen < known.firstSeen) {
    known.firstSeen = entry.firstSeen;
    track.driftVersion++;
  }
  return false;
}

/** Removes and returns the drift entries of these syscalls (all when `names` is undefined). */
export function takeDrift(track: ContinuousTrack, names?: ReadonlySet<string>): DriftEntry[] {
  const taken: DriftEntry[] = [];
  for (const [key, entry] of track.drift) {
    if (names !== undefined && !names.has(entry.syscall)) continue;
    taken.push(entry);
    track.drift.delete(key);
  }
  if (taken.length > 0) track.driftVersion++;
  return taken;
}

/** Minimum time between two writes of a workload's drift report while its drift changes. */
export const DRIFT_REPORT_INTERVAL_MS = 1000;

/** Whether the drift report should be written now. */
export function driftReportDue(track: ContinuousTrack, now: number): boolean {
  return (
    track.driftVersion > track.driftPublishedVersion &&
    (track.driftPublishedAt === 0 || now - track.driftPublishedAt >= DRIFT_REPORT_INTERVAL_MS)
  );
}

export type ContinuousStep =
  | { kind: "revision"; revision: number; version: number; flags: PublishedFlags }
  | { kind: "converged"; revision: number; version: number; flags: PublishedFlags }
  | { kind: "republish"; revision: number; version: number; flags: PublishedFlags };

function flagsEqual(a: PublishedFlags | undefined, b: PublishedFlags): boolean {
  return a !== undefined && a.convergedAt === b.convergedAt && a.frozen === b.frozen;
}

/** The next publication this workload needs at `now`, or undefined. */
export function nextStep(
  track: ContinuousTrack,
  settings: ContinuousSettings,
  now: number,
): ContinuousStep | undefined {
  const frozen = track.frozen !== undefined;
  if (track.shapeVersion > track.publishedVersion) {
    const since = track.changePendingSince ?? now;
    // A freeze publishes at once: the frozen profile is what drift is judged against.
    if (!frozen && now - since < settings.revisionDebounceMs) return undefined;
    return {
      kind: "revision",
      revision: track.revision + 1,
      version: track.shapeVersion,
      flags: { convergedAt: undefined, frozen },
    };
  }
  if (track.revision === 0) return undefined;
  if (
    track.convergedAt === undefined &&
    now - track.lastChangeAt >= settings.convergenceWindowSeconds * 1000
  ) {
    return {
      kind: "converged",
      revision: track.revision,
      version: track.shapeVersion,
      flags: { convergedAt: now, frozen },
    };
  }
  const flags = { convergedAt: track.convergedAt, frozen };
  if (!flagsEqual(track.published, flags)) {
    return { kind: "republish", revision: track.revision, version: track.shapeVersion, flags };
  }
  return undefined;
}

/** Books a step as published. Changes merged while it was being published stay pending. */
export function confirmStep(track: ContinuousTrack, step: ContinuousStep, now: number): void {
  track.revision = step.revision;
  track.publishedVersion = step.version;
  track.published = step.flags;
  if (step.kind === "converged") track.convergedAt = step.flags.convergedAt;
  if (track.frozen !== undefined && step.kind === "revision") track.frozen.revision = step.revision;
  track.changePendingSince = track.shapeVersion > step.version ? now : undefined;
}

/**
 * After a restart, the profile bucket may hold a revision published after the last checkpoint.
 * Revision numbers must never be reused, so continue after it and republish the current shape.
 */
export function reconcileRevision(track: ContinuousTrack, publishedRevision: number): void {
  if (publishedRevision <= track.revision) return;
  track.revision = publishedRevision;
  track.publishedVersion = -1;
  track.published = undefined;
  track.changePendingSince = track.lastChangeAt;
}

export interface TrackSnapshot {
  shapeVersion: number;
  lastChangeAt: number;
  changePendingSince?: number;
  revision: number;
  publishedVersion: number;
  convergedAt?: number;
  published?: { convergedAt?: number; frozen: boolean };
  frozen?: { at: number; revision: number; shape: Array<[string, string[] | null]> };
  /** Checkpoints written before drift was kept have only the keys reported (`driftSeen`). */
  driftSeen?: string[];
  drift?: DriftEntrySnapshot[];
  driftOmitted?: number;
  driftEvents: number;
  driftVersion?: number;
  driftPublishedVersion?: number;
  driftPublishedAt?: number;
}

/** [key, node, containerId or "", pod or "", syscall, args or null, count, firstSeen, lastSeen, detectedAt] */
export type DriftEntrySnapshot = [
  string,
  string,
  string,
  string,
  string,
  string[] | null,
  number,
  number,
  number,
  number,
];

export function trackToSnapshot(t: ContinuousTrack): TrackSnapshot {
  const snap: TrackSnapshot = {
    shapeVersion: t.shapeVersion,
    lastChangeAt: t.lastChangeAt,
    revision: t.revision,
    publishedVersion: t.publishedVersion,
    drift: [...t.drift].map(([key, e]): DriftEntrySnapshot => [
      key,
      e.node,
      e.containerId ?? "",
      e.pod ?? "",
      e.syscall,
      e.args === undefined ? null : [...e.args],
      e.count,
      e.firstSeen,
      e.lastSeen,
      e.detectedAt,
    ]),
    driftOmitted: t.driftOmitted,
    driftEvents: t.driftEvents,
    driftVersion: t.driftVersion,
    driftPublishedVersion: t.driftPublishedVersion,
    driftPublishedAt: t.driftPublishedAt,
  };
  if (t.changePendingSince !== undefined) snap.changePendingSince = t.changePendingSince;
  if (t.convergedAt !== undefined) snap.convergedAt = t.convergedAt;
  if (t.published !== undefined) {
    snap.published = { frozen: t.published.frozen };
    if (t.published.convergedAt !== undefined) snap.published.convergedAt = t.published.convergedAt;
  }
  if (t.frozen !== undefined) {
    snap.frozen = {
      at: t.frozen.at,
      revision: t.frozen.revision,
      shape: [...t.frozen.shape].map(([name, tuples]) => [name, tuples === null ? null : [...tuples]]),
    };
  }
  return snap;
}

export function trackFromSnapshot(s: TrackSnapshot): ContinuousTrack {
  return {
    shapeVersion: s.shapeVersion,
    lastChangeAt: s.lastChangeAt,
    changePendingSince: s.changePendingSince,
    revision: s.revision,
    publishedVersion: s.publishedVersion,
    convergedAt: s.convergedAt,
    published:
      s.published === undefined
        ? undefined
        : { convergedAt: s.published.convergedAt, frozen: s.published.frozen },
    frozen:
      s.frozen === undefined
        ? undefined
        : {
            at: s.frozen.at,
            revision: s.frozen.revision,
            shape: new Map(
              s.frozen.shape.map(([name, tuples]) => [name, tuples === null ? null : new Set(tuples)]),
            ),
          },
    drift: new Map(
      (s.drift ?? []).map(
        ([key, node, containerId, pod, syscall, args, count, firstSeen, lastSeen, detectedAt]) => [
          key,
          {
            node,
            containerId: containerId === "" ? undefined : containerId,
            pod: pod === "" ? undefined : pod,
            syscall,
            args: args ?? undefined,
            count,
            firstSeen,
            lastSeen,
            detectedAt,
          },
        ],
      ),
    ),
    driftOmitted: s.driftOmitted ?? 0,
    driftEvents: s.driftEvents,
    driftVersion: s.driftVersion ?? 0,
    driftPublishedVersion: s.driftPublishedVersion ?? 0,
    driftPublishedAt: s.driftPublishedAt ?? 0,
  };
}

/** The drift report of a workload (schemas/aggregator-status.schema.json DriftReport), entries in a stable order. */
export function driftReportOf(
  session: string,
  workload: WorkloadKey,
  token: string,
  track: ContinuousTrack,
  now: number,
): DriftReport {
  const iso = (ms: number): string => new Date(ms).toISOString();
  const entries = [...track.drift.values()]
    .map((e) => ({
      sort: [e.node, e.pod ?? "", e.containerId ?? "", e.syscall, e.args?.join(",") ?? ""].join("\u0000"),
      entry: {
        node: e.node,
        ...(e.pod !== undefined ? { pod: e.pod } : {}),
        ...(e.containerId !== undefined ? { containerId: e.containerId } : {}),
        syscall: e.syscall,
        ...(e.args !== undefined ? { args: [...e.args] } : {}),
        count: e.count,
        firstSeen: iso(e.firstSeen),
        lastSeen: iso(e.lastSeen),
        detectedAt: iso(e.detectedAt),
      },
    }))
    .sort((a, b) => (a.sort < b.sort ? -1 : a.sort > b.sort ? 1 : 0))
    .map((x) => x.entry);
  return {
    schemaVersion: 1,
    kind: "DriftReport",
    session,
    workload,
    workloadToken: token,
    frozen: track.frozen !== undefined,
    ...(track.frozen !== undefined
      ? { frozenRevision: track.frozen.revision, frozenAt: iso(track.frozen.at) }
      : {}),
    updatedAt: iso(now),
    entries,
    omitted: track.driftOmitted,
  };
}
