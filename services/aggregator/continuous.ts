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
import type { SessionRecord } from "../../lib/contracts/types.ts";
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
  /** `node\0syscall\0args` of drift already reported, so count updates do not repeat it. */
  readonly driftSeen: Set<string>;
  driftEvents: number;
}

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
    driftSeen: new Set(),
    driftEvents: 0,
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

export function unfreeze(track: ContinuousTrack): void {
  track.frozen = undefined;
}

/** The drift key of a call when it is outside the frozen profile and not yet reported; else undefined. */
export function driftKey(
  track: ContinuousTrack,
  node: string,
  name: string,
  args: readonly string[] | undefined,
): string | undefined {
  if (track.frozen === undefined || !isOutside(track.frozen.shape, name, args)) return undefined;
  return `${node}\u0000${name}\u0000${args === undefined ? "*" : args.join(",")}`;
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
  driftSeen: string[];
  driftEvents: number;
}

export function trackToSnapshot(t: ContinuousTrack): TrackSnapshot {
  const snap: TrackSnapshot = {
    shapeVersion: t.shapeVersion,
    lastChangeAt: t.lastChangeAt,
    revision: t.revision,
    publishedVersion: t.publishedVersion,
    driftSeen: [...t.driftSeen],
    driftEvents: t.driftEvents,
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
    driftSeen: new Set(s.driftSeen),
    driftEvents: s.driftEvents,
  };
}
