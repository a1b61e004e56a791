/**
 * The pod ownership check (pod-ownership.ts) applied to the workload entries of a partition's
 * sessions: each entry is merged, refused (counted per session, node and reason, and named in its
 * message's outcome for the log) or kept waiting until the pod watch has seen its pod, bounded in
 * time and in events per node and in all. Only built when the check is on.
 */
import type { RefusalCounts, WorkloadEvents } from "../../lib/contracts/types.ts";
import type { Limits } from "./limits.ts";
import {
  ACCEPT,
  type OwnershipCheck,
  type OwnershipRefusal,
  type OwnershipVerdict,
} from "./pod-ownership.ts";
import type { BatchContext, EntryRefusal, NodeState, SessionState, WaitingEntry } from "./session.ts";

/** Events of waiting workload entries, all nodes and sessions together. */
export const MAX_OWNERSHIP_WAIT_EVENTS = 200_000;

/** What a waiting entry weighs against the wait limits: its events, at least 1. */
function entryWeight(entry: WorkloadEvents): number {
  return Math.max(1, entry.syscalls.length);
}

function waitReason(verdict: OwnershipVerdict): OwnershipRefusal {
  return (verdict as { wait: OwnershipRefusal }).wait;
}

/** When the session began (its record's createdAt), for "the pod ran during the session". */
export function sessionStart(session: SessionState): number {
  const created = session.record?.createdAt;
  return created === undefined ? 0 : Date.parse(created);
}

/** Where the entries refused while merging one message are named (its merge outcome). */
export interface RefusedEntries {
  refusedEntries?: EntryRefusal[];
}

/** A waiting entry asked about again still waits: neither merged nor refused. */
export const STILL_WAITING = "stillWaiting";

export class EntryAdmission {
  readonly #check: OwnershipCheck;
  readonly #limits: Limits;
  /** Refusals of every session (AggregatorState.refused). */
  readonly #refused: RefusalCounts;
  /** Events of every waiting workload entry. */
  #waitingEvents = 0;

  constructor(check: OwnershipCheck, limits: Limits, refused: RefusalCounts) {
    this.#check = check;
    this.#limits = limits;
    this.#refused = refused;
  }

  /** Events of every waiting workload entry, all sessions. */
  get waitingEvents(): number {
    return this.#waitingEvents;
  }

  /**
   * Asks the check about one entry: true to merge it; otherwise it was refused (counted, named in
   * `outcome`) or now waits for the pod watch.
   */
  admit(
    session: SessionState,
    node: NodeState,
    batch: BatchContext,
    entry: WorkloadEvents,
    start: number,
    now: number,
    outcome: RefusedEntries,
  ): boolean {
    const verdict = this.#check.verdict(batch.node, entry, start);
    if (verdict === ACCEPT) return true;
    if ("refuse" in verdict) {
      this.refuse(session, node, entry, verdict.refuse, outcome);
      return false;
    }
    const reason = waitReason(verdict);
    const events = entryWeight(entry);
    if (this.#limits.ownershipWaitMs === 0) this.refuse(session, node, entry, reason, outcome);
    else if (
      node.waitingEvents + events > this.#limits.maxOwnershipWaitEventsPerNode ||
      this.#waitingEvents + events > MAX_OWNERSHIP_WAIT_EVENTS
    ) {
      this.refuse(session, node, entry, "ownershipWaitOverflow", outcome);
    } else {
      const { node: name, arch, droppedEvents, sentAt } = batch;
      session.waiting.push({
        node: name,
        arch,
        droppedEvents,
        ...(sentAt !== undefined ? { sentAt } : {}),
        sessionStart: start,
        since: now,
        entry,
      });
      node.waitingEvents += events;
      this.#waitingEvents += events;
    }
    return false;
  }

  /** Counts an entry refused, per session, node and reason, and names it in `outcome`. */
  refuse(
    session: SessionState,
    node: NodeState,
    entry: WorkloadEvents,
    reason: OwnershipRefusal,
    outcome: RefusedEntries,
  ): void {
    session.refused[reason]++;
    this.#refused[reason]++;
    node.ownershipRefused[reason]++;
    node.refusedEvents += entry.syscalls.length;
    (outcome.refusedEntries ??= []).push({
      reason,
      workload: entry.workload,
      pod: entry.pod,
      podUid: entry.podUid,
    });
  }

  /**
   * Asks the check again about a waiting entry: undefined to merge it now, the reason to refuse
   * it (refused by the check, or its wait is over), or STILL_WAITING.
   */
  recheck(w: WaitingEntry, now: number): OwnershipRefusal | typeof STILL_WAITING | undefined {
    const verdict = this.#check.verdict(w.node, w.entry, w.sessionStart);
    if (verdict === ACCEPT) return undefined;
    if ("refuse" in verdict) return verdict.refuse;
    if (now - w.since >= this.#limits.ownershipWaitMs) return waitReason(verdict);
    return STILL_WAITING;
  }

  /** A waiting entry was decided (merged or refused): it no longer counts against the wait limits. */
  release(node: NodeState, w: WaitingEntry): void {
    node.waitingEvents -= entryWeight(w.entry);
    this.#waitingEvents -= entryWeight(w.entry);
  }

  /** A session is forgotten: its waiting entries no longer count against the limit of all sessions. */
  forget(session: SessionState): void {
    for (const w of session.waiting) this.#waitingEvents -= entryWeight(w.entry);
  }

  /** A session restored from a checkpoint: its waiting entries count against the limits again. */
  restore(session: SessionState): void {
    for (const w of session.waiting) {
      session.node(w.node).waitingEvents += entryWeight(w.entry);
      this.#waitingEvents += entryWeight(w.entry);
    }
  }
}
