/**
 * A session's recording gaps on this node: the windows in which it may have recorded less than
 * its workloads did (Falco not capturing, Falco's drops, a syscall left out of the driver set
 * before a workload showed it), reported in the session's FIN so the result is `partial`, never
 * silently short.
 */
import type { FinMarker, WorkloadKey } from "../../../lib/contracts/types.ts";
import type { CaptureChange } from "../ports.ts";
import type { Gap } from "./session-store.ts";

/** Falco reports at most one drop alert a second, for the last second. */
const DROP_WINDOW_MS = 1_000;
/** Drop seconds this close to the last one extend its window. */
const DROP_WINDOW_JOIN_MS = 5_000;

/** What a session keeps of its gaps (Session, session.ts, has these fields). */
export interface RecordingGaps {
  gaps: Gap[];
  /** Local time the session started (or was restored) on this node. */
  startedAt: number;
  /** Falco captured at some moment of the session; a session it never captured for is one gap. */
  captured: boolean;
  /** Capture ended while the session ran; closed into a gap when it resumes or the session stops. */
  down: { from: number; reason: string } | undefined;
  /**
   * A workload container that had not shown every syscall the driver left out made a syscall:
   * from then until the set is raised, its calls of those syscalls were not seen (a gap).
   */
  uncovered: { from: number; workloads: Map<string, WorkloadKey>; syscalls: string[] } | undefined;
  /** Something changed that the local record must get. */
  dirty: boolean;
}

/** Books a change of Falco's capture: a window without capture is a gap. */
export function noteCaptureChange(book: RecordingGaps, change: CaptureChange): void {
  if (change.capturing) {
    book.captured = true;
    if (book.down !== undefined) {
      addGap(book.gaps, { from: book.down.from, to: change.at, reason: book.down.reason });
      book.down = undefined;
      book.dirty = true;
    }
  } else if (book.captured && book.down === undefined) {
    book.down = { from: change.at, reason: change.reason ?? "Falco stopped capturing" };
  }
}

/**
 * Books a drop alert: adjacent seconds of the same Falco become one window, named with the
 * total, so a long overload is one gap rather than thousands. `hotSyscalls`: the drops of the
 * hot-syscall split's second Falco (falco/split-falco.ts), which can only hide those syscalls.
 */
export function bookDrops(
  book: RecordingGaps,
  now: number,
  drops: number,
  hotSyscalls: readonly string[] | undefined,
): void {
  // The same Falco's window among the drop windows at the end (the two of a split report apart).
  let last: Gap | undefined;
  for (let i = book.gaps.length - 1; i >= 0 && book.gaps[i]!.drops !== undefined; i--) {
    const gap = book.gaps[i]!;
    if (gap.reason === dropReason(gap.drops!, hotSyscalls)) {
      last = gap;
      break;
    }
  }
  const total = last?.drops;
  if (last !== undefined && total !== undefined && now - last.to <= DROP_WINDOW_JOIN_MS) {
    last.to = now;
    last.drops = total + drops;
    last.reason = dropReason(last.drops, hotSyscalls);
  } else {
    book.gaps.push({ from: now - DROP_WINDOW_MS, to: now, drops, reason: dropReason(drops, hotSyscalls) });
  }
  book.dirty = true;
}

/**
 * Closes the open capture windows at `now`, the session ending: a session Falco never captured
 * for is one gap from its start, with `neverCaptured` as the cause.
 */
export function closeCaptureGaps(book: RecordingGaps, now: number, neverCaptured: () => string): void {
  if (!book.captured) {
    book.gaps.push({
      from: book.startedAt,
      to: now,
      reason: `Falco never captured on this node during the session (${neverCaptured()})`,
    });
  } else if (book.down !== undefined) {
    addGap(book.gaps, { from: book.down.from, to: now, reason: book.down.reason });
  }
  book.down = undefined;
  closeUncovered(book, now);
}

/** Books the uncovered window (see RecordingGaps) as a gap ending at `now`. */
export function closeUncovered(book: RecordingGaps, now: number): void {
  const open = book.uncovered;
  if (open === undefined) return;
  book.uncovered = undefined;
  const names = [...open.workloads.values()]
    .map((k) => `${k.namespace}/${k.kind}/${k.name}/${k.container}`)
    .sort();
  book.gaps.push({
    from: open.from,
    to: Math.max(now, open.from),
    reason: `Falco's driver was not asked for ${open.syscalls.join(", ")} (adaptive syscall set) when ${names.join(", ")} first ran`,
  });
  book.dirty = true;
}

/** The gaps as the FIN carries them. */
export function finGaps(gaps: readonly Gap[]): NonNullable<FinMarker["gaps"]> {
  return gaps.map(({ from, to, reason }) => (reason === undefined ? { from, to } : { from, to, reason }));
}

function dropReason(drops: number, hotSyscalls: readonly string[] | undefined): string {
  if (hotSyscalls === undefined) return `Falco dropped ${drops} events (all processes of the node)`;
  return `the hot-syscall Falco dropped ${drops} events (all processes of the node; only ${hotSyscalls.join(", ")} can be missing)`;
}

/** Appends a gap, or extends the last one when this one continues it for the same reason. */
function addGap(gaps: Gap[], gap: Gap): void {
  const last = gaps.at(-1);
  if (last !== undefined && last.drops === undefined && last.reason === gap.reason && last.to >= gap.from) {
    last.to = Math.max(last.to, gap.to);
    return;
  }
  gaps.push(gap);
}
