/**
 * The aggregator's state machine, with no I/O: batches and FIN markers merge into per-session,
 * per-workload observations (message-merge.ts); `due()` says which profiles to publish and which
 * sessions to finalise (publication-plan.ts); `confirm()` books what was published
 * (publication-booking.ts). Time comes from an injected clock. This module keeps the sessions and
 * their records, and decides which messages reach the merge.
 *
 * Merging is idempotent and order-independent: observations merge by maximum/union, and the batch
 * numbers merged per node are kept, so a redelivered batch is recognised and counted once. A
 * snapshot of this state plus "which messages it reflects" is all a checkpoint needs.
 *
 * Integrity: a message counts only for a session whose record exists, and only from a node in the
 * record's `expectedNodes` (the node set the CLI writes from the agents' start acknowledgements).
 * Until that set is written a node's messages are held (bounded, in the snapshot too), then merged
 * or refused. Names that are not syscalls of the batch's architecture are refused, and workloads
 * and count entries are bounded per node and per session, so what one node sends cannot grow this
 * state without bound. A session is finalised only once its record asks it to stop, and at the
 * deadline only after the stream as it was at start-up has been merged (`catchUpTo`).
 *
 * With a pod ownership check (pod-ownership.ts) every workload entry is checked against the pods
 * of its node: refused entries are counted per node and reason and never merged; an entry whose pod
 * the watch has not seen yet waits (bounded in time and events, in the snapshot too), and the
 * session is not finalised while any entry waits (entry-admission.ts). Without the check nothing of
 * this runs.
 */
import type { EventMessage, SessionRecord, StreamLoss } from "../../lib/contracts/types.ts";
import type { OwnershipCheck } from "./pod-ownership.ts";
import { SessionState, noRefusals } from "./session.ts";
import { DEFAULT_LIMITS, type Limits } from "./limits.ts";
import { EntryAdmission } from "./entry-admission.ts";
import { MessageMerge, unmerged, type MergeOutcome } from "./message-merge.ts";
import { acceptDrift, followFrozen, type AcceptOutcome } from "./frozen-profiles.ts";
import { bookAction } from "./publication-booking.ts";
import { dueActions, type Action } from "./publication-plan.ts";
import { sessionFromSnapshot, sessionToSnapshot, type StateSnapshot } from "./state-snapshot.ts";
import { streamLoss } from "./stream-loss.ts";

export type { AcceptOutcome } from "./frozen-profiles.ts";
export type { MergeOutcome } from "./message-merge.ts";

export type Clock = () => number;

/** Nodes whose messages are held per session before the node set is written (clusters have fewer). */
const MAX_HELD_NODES = 5000;
/** Lost stream ranges kept per session; more make no difference to the (already partial) result. */
const MAX_STREAM_LOSS = 32;

const nodeSets = new WeakMap<readonly string[], ReadonlySet<string>>();

/** A record's node set as a Set: it names up to thousands of nodes, and every message is checked. */
function nodeSetOf(nodes: readonly string[]): ReadonlySet<string> {
  let set = nodeSets.get(nodes);
  if (set === undefined) {
    set = new Set(nodes);
    nodeSets.set(nodes, set);
  }
  return set;
}

export class AggregatorState {
  readonly sessions = new Map<string, SessionState>();
  /** Messages that could not be decoded or validated. */
  badMessages = 0;
  /** Highest stream sequence merged so far. */
  highestStreamSeq = 0;
  /** Stream messages discarded before they were consumed (an upper bound when partitions share the stream). */
  lostMessages = 0;
  /** Refusals of every session, including sessions that do not exist (not kept per id). */
  readonly refused = noRefusals();
  readonly limits: Limits;
  readonly #clock: Clock;
  /** Every session record known, including sessions without state yet (or no more). */
  readonly #records = new Map<string, SessionRecord>();
  /** No deadline finalisation before the stream up to here is merged (see catchUpTo). */
  #catchUpSeq = 0;
  /** The pod ownership check applied to workload entries; undefined when it is off. */
  readonly #admission: EntryAdmission | undefined;
  readonly #merge: MessageMerge;

  constructor(clock: Clock, limits: Partial<Limits> = {}, ownership?: OwnershipCheck) {
    this.#clock = clock;
    this.limits = { ...DEFAULT_LIMITS, ...limits };
    this.#admission =
      ownership === undefined ? undefined : new EntryAdmission(ownership, this.limits, this.refused);
    this.#merge = new MessageMerge(clock, this.limits, this.refused, this.#admission);
  }

  /** Workload entries waiting for the pod watch, all sessions. */
  get waitingEntries(): number {
    let n = 0;
    for (const s of this.sessions.values()) n += s.waiting.length;
    return n;
  }

  now(): number {
    return this.#clock();
  }

  session(id: string): SessionState {
    let s = this.sessions.get(id);
    if (s === undefined) {
      s = new SessionState(id);
      s.record = this.#records.get(id);
      this.sessions.set(id, s);
    }
    return s;
  }

  noteBadMessage(): void {
    this.badMessages++;
  }

  noteStreamSeq(seq: number): void {
    if (seq > this.highestStreamSeq) this.highestStreamSeq = seq;
  }

  /**
   * Holds back deadline finalisation until the stream up to `seq` (its last sequence when the
   * process started) is merged: after a restart, data already in the stream is never called missing.
   */
  catchUpTo(seq: number): void {
    this.#catchUpSeq = seq;
  }

  /** The consumer has nothing older left to deliver (e.g. the rest aged out of the stream). */
  markCaughtUp(): void {
    this.#catchUpSeq = 0;
  }

  caughtUp(): boolean {
    return this.highestStreamSeq >= this.#catchUpSeq;
  }

  /**
   * Stream messages were discarded before they were consumed. Which session they belonged to cannot
   * be read any more, so every session that accepted data (not finalised; its record running or
   * stopping) is marked, and cannot be complete. Returns the sessions marked.
   */
  noteStreamLoss(loss: StreamLoss): string[] {
    this.lostMessages += loss.lastSeq - loss.firstSeq + 1;
    const ids = new Set<string>();
    for (const [id, record] of this.#records) if (record.state !== "stopped") ids.add(id);
    for (const [id, s] of this.sessions) if (s.finalised === undefined) ids.add(id);
    const marked: string[] = [];
    for (const id of [...ids].sort()) {
      const session = this.session(id);
      if (session.finalised !== undefined) continue;
      marked.push(id);
      const last = session.streamLoss.at(-1);
      if (last !== undefined && last.stream === loss.stream && last.lastSeq + 1 >= loss.firstSeq) {
        const range = {
          firstSeq: Math.min(last.firstSeq, loss.firstSeq),
          lastSeq: Math.max(last.lastSeq, loss.lastSeq),
        };
        Object.assign(last, streamLoss(loss.stream, range));
      } else if (session.streamLoss.length < MAX_STREAM_LOSS) {
        session.streamLoss.push({ ...loss });
      }
    }
    return marked;
  }

  /** Merges (message-merge.ts), holds or refuses one validated message. */
  apply(message: EventMessage): MergeOutcome {
    const record = this.#records.get(message.session);
    if (record === undefined) return this.#merge.refuse(undefined, message, "unknownSession");
    const session = this.session(message.session);
    const nodeSet = record.expectedNodes;
    if (nodeSet === undefined) {
      if (session.finalised !== undefined) return this.#merge.refuse(session, message, "noNodeSet");
      let held = session.held.get(message.node);
      if (held === undefined) {
        if (session.held.size >= MAX_HELD_NODES) return this.#merge.refuse(session, message, "heldOverflow");
        held = [];
        session.held.set(message.node, held);
      }
      if (held.length >= this.limits.maxHeldMessagesPerNode) {
        return this.#merge.refuse(session, message, "heldOverflow");
      }
      held.push(message);
      return { ...unmerged(message), held: true };
    }
    if (!nodeSetOf(nodeSet).has(message.node)) return this.#merge.refuse(session, message, "foreignNode");
    return message.kind === "batch"
      ? this.#merge.mergeBatch(session, message)
      : this.#merge.mergeFin(session, message);
  }

  /**
   * Asks the pod ownership check again about every waiting entry: merges those it accepts now,
   * refuses those it refuses or whose wait is over. One outcome per session and node concerned.
   */
  recheckWaiting(): MergeOutcome[] {
    return this.#merge.recheckWaiting(this.sessions.values());
  }

  /**
   * Applies a session record (desired state): node set, deadline, mode, frozen workloads. Once the
   * node set is written, the messages held for the session are merged or refused: their outcomes.
   */
  setRecord(record: SessionRecord): MergeOutcome[] {
    this.#records.set(record.id, record);
    // A stopped session this state never saw (or already pruned) is history, not work to do;
    // should its messages come (again), the session is created with this record.
    if (record.state === "stopped" && !this.sessions.has(record.id)) return [];
    const session = this.session(record.id);
    session.record = record;
    followFrozen(session, record, this.#clock());
    if (record.expectedNodes === undefined || session.held.size === 0) return [];
    const held = [...session.held.values()].flat();
    session.held.clear();
    return held.map((m) => this.apply(m));
  }

  /** Takes the drift of `names` in frozen workloads into their profiles (frozen-profiles.ts). */
  accept(sessionId: string, tokens: readonly string[], names: readonly string[]): AcceptOutcome[] {
    return acceptDrift(this.sessions.get(sessionId), sessionId, tokens, names, this.#clock);
  }

  /** Forgets a deleted session entirely: its state and its record. */
  forget(id: string): boolean {
    this.#records.delete(id);
    const session = this.sessions.get(id);
    if (session === undefined) return false;
    this.#admission?.forget(session);
    return this.sessions.delete(id);
  }

  /** The record was deleted: the session keeps its data but no longer has a node set or a deadline. */
  clearRecord(id: string): void {
    this.#records.delete(id);
    const session = this.sessions.get(id);
    if (session === undefined) return;
    session.record = undefined;
    this.#dropHeld(session);
  }

  #dropHeld(session: SessionState): void {
    const n = session.heldMessages;
    session.refused.noNodeSet += n;
    this.refused.noNodeSet += n;
    session.held.clear();
  }

  /** What should be published now, oldest session first (publication-plan.ts). */
  due(): Action[] {
    return dueActions(this.sessions.values(), this.#clock(), this.caughtUp());
  }

  /** Books an action as done (publication-booking.ts). A finalised session releases its observations. */
  confirm(action: Action, revisions: ReadonlyMap<string, number> = new Map()): void {
    const session = this.sessions.get(action.session);
    if (session === undefined) return;
    bookAction(session, action, revisions, this.#clock());
    if (action.kind === "finalise") this.#dropHeld(session);
  }

  /** Forgets finalised sessions older than `retentionMs`: their messages have aged out of the stream. */
  pruneFinalised(retentionMs: number): string[] {
    const now = this.#clock();
    const pruned: string[] = [];
    for (const [id, s] of this.sessions) {
      if (s.finalised !== undefined && now - s.finalised.at > retentionMs) {
        this.#admission?.forget(s);
        this.sessions.delete(id);
        pruned.push(id);
      }
    }
    return pruned;
  }

  snapshot(): StateSnapshot {
    return {
      version: 1,
      badMessages: this.badMessages,
      highestStreamSeq: this.highestStreamSeq,
      lostMessages: this.lostMessages,
      refused: { ...this.refused },
      sessions: [...this.sessions.values()].map(sessionToSnapshot),
    };
  }

  static restore(
    snapshot: StateSnapshot,
    clock: Clock,
    limits: Partial<Limits> = {},
    ownership?: OwnershipCheck,
  ): AggregatorState {
    const state = new AggregatorState(clock, limits, ownership);
    state.badMessages = snapshot.badMessages;
    state.highestStreamSeq = snapshot.highestStreamSeq;
    state.lostMessages = snapshot.lostMessages ?? 0;
    Object.assign(state.refused, snapshot.refused ?? {});
    for (const snap of snapshot.sessions) {
      const s = sessionFromSnapshot(snap);
      state.#admission?.restore(s);
      state.sessions.set(s.id, s);
    }
    return state;
  }
}
