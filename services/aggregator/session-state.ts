/**
 * The aggregator's state machine, with no I/O: batches and FIN markers merge into per-session,
 * per-workload observations; `due()` says which profiles to publish and which sessions to finalise;
 * `confirm()` books what was published. Time comes from an injected clock.
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
 * session is not finalised while any entry waits. Without the check nothing of this runs.
 */
import type {
  EventMessage,
  FinMarker,
  SessionRecord,
  StreamLoss,
  SyscallEventBatch,
  WorkloadEvents,
} from "../../lib/contracts/types.ts";
import { workloadId } from "../../lib/profile/workload-key.ts";
import {
  confirmStep,
  freeze,
  noteShapeChange,
  shapeOf,
  takeDrift,
  unfreeze,
  type DriftEntry,
} from "./continuous.ts";
import {
  ACCEPT,
  type OwnershipCheck,
  type OwnershipRefusal,
  type OwnershipVerdict,
} from "./pod-ownership.ts";
import { ErrorCodes, SeccomposeError } from "../../lib/errors.ts";
import {
  SessionState,
  noRefusals,
  type BatchContext,
  type EntryRefusal,
  type NodeState,
  type Refusal,
  type WaitingEntry,
  type WorkloadState,
} from "./session.ts";
import { DEFAULT_LIMITS, type Limits } from "./limits.ts";
import {
  knownSyscalls,
  mergeEntry,
  mergeLateEntry,
  type DriftFinding,
  type KnownSyscalls,
  type Tally,
} from "./entry-merge.ts";
import { dueActions, type Action } from "./publication-plan.ts";
import { sessionFromSnapshot, sessionToSnapshot, type StateSnapshot } from "./state-snapshot.ts";
import { streamLoss } from "./stream-loss.ts";

export type Clock = () => number;

/** Bounds on what one node, and one session, can make the aggregator keep (aggregator-config `limits`). */
/**
 * A FIN may run ahead of the batches merged so far only by this much: the agent sends it after its
 * last batch was acknowledged, so in the stream every batch comes first, and only a redelivery can
 * put a few behind it.
 */
const FIN_LOOKAHEAD = 1024;
/** Gaps kept per node; more make no difference to the (already partial) result. */
const MAX_GAPS_PER_NODE = 64;
/** Nodes whose messages are held per session before the node set is written (clusters have fewer). */
const MAX_HELD_NODES = 5000;
/** Names of refused nodes kept per session, for status. */
const MAX_FOREIGN_NODES = 32;
/** Lost stream ranges kept per session; more make no difference to the (already partial) result. */
const MAX_STREAM_LOSS = 32;
/** Events of waiting workload entries, all nodes and sessions together. */
export const MAX_OWNERSHIP_WAIT_EVENTS = 200_000;

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

/** What `accept` took into one workload's profile. */
export interface AcceptOutcome {
  workloadToken: string;
  syscalls: string[];
  /** Drift entries (node, container, argument tuple) merged. */
  calls: number;
  /** The revision that shows them (published at the next tick). */
  revision: number;
}

export interface MergeOutcome {
  session: string;
  node: string;
  kind: "batch" | "fin";
  /** Not merged, and never will be: why. */
  refused?: Refusal;
  /** Kept until the session's node set is written. */
  held?: boolean;
  /** First time this batch (by its number) or this FIN value was merged. */
  fresh: boolean;
  /** Arrived after the session was finalised: counted, not merged. */
  late: boolean;
  /** Events of a fresh batch (redeliveries add none). */
  events: number;
  drift: DriftFinding[];
  /** The node's data is complete after this message: worth checking the session at once. */
  nodeComplete: boolean;
  /** Workload entries the pod ownership check refused (the rest of the message counts). */
  refusedEntries?: EntryRefusal[];
}

/** Events of a batch, or of one waiting entry, that were merged or refused. */
/** What a waiting entry weighs against the wait limits: its events, at least 1. */
function entryWeight(entry: WorkloadEvents): number {
  return Math.max(1, entry.syscalls.length);
}

function waitReason(verdict: OwnershipVerdict): OwnershipRefusal {
  return (verdict as { wait: OwnershipRefusal }).wait;
}

/** When the session began (its record's createdAt), for "the pod ran during the session". */
function sessionStart(session: SessionState): number {
  const created = session.record?.createdAt;
  return created === undefined ? 0 : Date.parse(created);
}

/** The outcome of a message that was not merged (refused or held). */
function unmerged(message: EventMessage): MergeOutcome {
  return {
    session: message.session,
    node: message.node,
    kind: message.kind,
    fresh: false,
    late: false,
    events: 0,
    drift: [],
    nodeComplete: false,
  };
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
  /** The pod ownership check; undefined when it is off. */
  readonly #ownership: OwnershipCheck | undefined;
  /** Events of every waiting workload entry. */
  #waitingEvents = 0;

  constructor(clock: Clock, limits: Partial<Limits> = {}, ownership?: OwnershipCheck) {
    this.#clock = clock;
    this.limits = { ...DEFAULT_LIMITS, ...limits };
    this.#ownership = ownership;
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

  #refuse(session: SessionState | undefined, message: EventMessage, why: Refusal): MergeOutcome {
    this.refused[why]++;
    if (session !== undefined) {
      session.refused[why]++;
      if (why === "foreignNode" && session.foreignNodes.size < MAX_FOREIGN_NODES) {
        session.foreignNodes.add(message.node);
      }
    }
    return { ...unmerged(message), refused: why };
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

  /** Merges, holds or refuses one validated message. */
  apply(message: EventMessage): MergeOutcome {
    const record = this.#records.get(message.session);
    if (record === undefined) return this.#refuse(undefined, message, "unknownSession");
    const session = this.session(message.session);
    const nodeSet = record.expectedNodes;
    if (nodeSet === undefined) {
      if (session.finalised !== undefined) return this.#refuse(session, message, "noNodeSet");
      let held = session.held.get(message.node);
      if (held === undefined) {
        if (session.held.size >= MAX_HELD_NODES) return this.#refuse(session, message, "heldOverflow");
        held = [];
        session.held.set(message.node, held);
      }
      if (held.length >= this.limits.maxHeldMessagesPerNode) {
        return this.#refuse(session, message, "heldOverflow");
      }
      held.push(message);
      return { ...unmerged(message), held: true };
    }
    if (!nodeSetOf(nodeSet).has(message.node)) return this.#refuse(session, message, "foreignNode");
    return message.kind === "batch" ? this.#applyBatch(session, message) : this.#applyFin(session, message);
  }

  #applyFin(session: SessionState, fin: FinMarker): MergeOutcome {
    const known = session.nodes.get(fin.node)?.seqs.highest() ?? 0;
    if (fin.batches > this.limits.maxBatchesPerNode || fin.batches > known + FIN_LOOKAHEAD) {
      return this.#refuse(session, fin, "implausible");
    }
    const node = session.node(fin.node);
    const fresh = node.finBatches === undefined || fin.batches > node.finBatches;
    if (fresh) node.finBatches = fin.batches;
    if (fin.droppedEvents > node.droppedEvents) {
      node.droppedEvents = fin.droppedEvents;
      // Drops Falco reported after the node's last batch reach the documents too.
      for (const ws of session.workloads.values()) {
        const known = ws.observations.nodes.get(fin.node);
        if (known !== undefined) ws.observations.noteNode(fin.node, known.arch, fin.droppedEvents);
      }
    }
    if (node.lastEventAt === undefined || fin.sentAt > node.lastEventAt) node.lastEventAt = fin.sentAt;
    for (const g of fin.gaps ?? []) {
      if (node.gaps.length >= MAX_GAPS_PER_NODE) break;
      // `reason` comes with the real-Falco work on the event schema; read it when present.
      const reason = (g as { reason?: unknown }).reason;
      if (node.gaps.some((k) => k.from === g.from && k.to === g.to && k.reason === reason)) continue;
      node.gaps.push({ from: g.from, to: g.to, ...(typeof reason === "string" ? { reason } : {}) });
    }
    return {
      session: fin.session,
      node: fin.node,
      kind: "fin",
      fresh,
      late: session.finalised !== undefined,
      events: 0,
      drift: [],
      nodeComplete: session.isNodeComplete(fin.node),
    };
  }

  #applyBatch(session: SessionState, batch: SyscallEventBatch): MergeOutcome {
    if (batch.seq > this.limits.maxBatchesPerNode) return this.#refuse(session, batch, "implausible");
    // Throws SC_ARCH_UNKNOWN for an architecture without tables: the whole batch is then bad.
    const known = knownSyscalls(batch.arch);
    const now = this.#clock();
    const node = session.node(batch.node);
    const fresh = node.seqs.add(batch.seq);
    const outcome: MergeOutcome = {
      session: batch.session,
      node: batch.node,
      kind: "batch",
      fresh,
      late: session.finalised !== undefined,
      events: 0,
      drift: [],
      nodeComplete: false,
    };
    if (session.finalised !== undefined) {
      if (fresh) {
        session.lateBatches++;
        this.#mergeLate(session, node, batch, known, now, outcome);
      }
      return outcome;
    }
    node.arch ??= batch.arch;
    if (batch.droppedEvents > node.droppedEvents) node.droppedEvents = batch.droppedEvents;
    if (node.lastEventAt === undefined || batch.sentAt > node.lastEventAt) node.lastEventAt = batch.sentAt;
    if (session.lastEventAt === undefined || batch.sentAt > session.lastEventAt) {
      session.lastEventAt = batch.sentAt;
    }
    const tally: Tally = { events: 0, unknownNames: 0, overLimit: 0 };
    const ownership = this.#ownership;
    if (ownership === undefined) {
      for (const entry of batch.workloads)
        mergeEntry(session, node, batch, entry, known, now, outcome, tally, this.limits);
    } else if (fresh) {
      // A redelivered batch was decided by its first delivery: merged, refused or waiting.
      const start = sessionStart(session);
      for (const entry of batch.workloads) {
        if (this.#admit(session, node, batch, entry, start, now, outcome)) {
          mergeEntry(session, node, batch, entry, known, now, outcome, tally, this.limits);
        }
      }
    }
    if (fresh) {
      this.#countRefusedEvents(session, node, tally);
      outcome.events = tally.events;
      node.events += tally.events;
      session.events += tally.events;
      session.batches++;
    }
    outcome.nodeComplete = session.isNodeComplete(batch.node);
    return outcome;
  }

  #countRefusedEvents(session: SessionState, node: NodeState, tally: Tally): void {
    node.refusedEvents += tally.unknownNames + tally.overLimit;
    session.refused.unknownSyscall += tally.unknownNames;
    session.refused.overLimit += tally.overLimit;
    this.refused.unknownSyscall += tally.unknownNames;
    this.refused.overLimit += tally.overLimit;
  }

  /**
   * Asks the pod ownership check about one entry: true to merge it; otherwise it was refused
   * (counted, named in `outcome`) or now waits for the pod watch.
   */
  #admit(
    session: SessionState,
    node: NodeState,
    batch: BatchContext,
    entry: WorkloadEvents,
    start: number,
    now: number,
    outcome: MergeOutcome,
  ): boolean {
    const verdict = this.#ownership!.verdict(batch.node, entry, start);
    if (verdict === ACCEPT) return true;
    if ("refuse" in verdict) {
      this.#refuseEntry(session, node, entry, verdict.refuse, outcome);
      return false;
    }
    const reason = waitReason(verdict);
    const events = entryWeight(entry);
    if (this.limits.ownershipWaitMs === 0) this.#refuseEntry(session, node, entry, reason, outcome);
    else if (
      node.waitingEvents + events > this.limits.maxOwnershipWaitEventsPerNode ||
      this.#waitingEvents + events > MAX_OWNERSHIP_WAIT_EVENTS
    ) {
      this.#refuseEntry(session, node, entry, "ownershipWaitOverflow", outcome);
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

  #refuseEntry(
    session: SessionState,
    node: NodeState,
    entry: WorkloadEvents,
    reason: OwnershipRefusal,
    outcome: MergeOutcome,
  ): void {
    session.refused[reason]++;
    this.refused[reason]++;
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
   * Asks the pod ownership check again about every waiting entry: merges those it accepts now,
   * refuses those it refuses or whose wait is over. One outcome per session and node concerned.
   */
  recheckWaiting(): MergeOutcome[] {
    const ownership = this.#ownership;
    if (ownership === undefined || this.#waitingEvents === 0) return [];
    const now = this.#clock();
    const outcomes: MergeOutcome[] = [];
    for (const session of this.sessions.values()) {
      if (session.waiting.length === 0) continue;
      const still: WaitingEntry[] = [];
      const byNode = new Map<string, MergeOutcome>();
      for (const w of session.waiting) {
        const verdict = ownership.verdict(w.node, w.entry, w.sessionStart);
        let refusal: OwnershipRefusal | undefined;
        if (verdict !== ACCEPT) {
          if ("refuse" in verdict) refusal = verdict.refuse;
          else if (now - w.since >= this.limits.ownershipWaitMs) refusal = waitReason(verdict);
          else {
            still.push(w);
            continue;
          }
        }
        const node = session.node(w.node);
        node.waitingEvents -= entryWeight(w.entry);
        this.#waitingEvents -= entryWeight(w.entry);
        let outcome = byNode.get(w.node);
        if (outcome === undefined) {
          outcome = {
            session: session.id,
            node: w.node,
            kind: "batch",
            fresh: false,
            late: session.finalised !== undefined,
            events: 0,
            drift: [],
            nodeComplete: false,
          };
          byNode.set(w.node, outcome);
        }
        if (refusal !== undefined) {
          this.#refuseEntry(session, node, w.entry, refusal, outcome);
          continue;
        }
        const tally: Tally = { events: 0, unknownNames: 0, overLimit: 0 };
        const known = knownSyscalls(w.arch);
        if (session.finalised !== undefined)
          mergeLateEntry(session, node, w, w.entry, known, now, tally, this.limits);
        else {
          mergeEntry(session, node, w, w.entry, known, now, outcome, tally, this.limits);
          outcome.events += tally.events;
          node.events += tally.events;
          session.events += tally.events;
        }
        this.#countRefusedEvents(session, node, tally);
      }
      session.waiting = still;
      outcomes.push(...byNode.values());
    }
    return outcomes;
  }

  /** Late data: same checks and limits as before finalisation, kept apart from the released final state. */
  #mergeLate(
    session: SessionState,
    node: NodeState,
    batch: SyscallEventBatch,
    known: KnownSyscalls,
    now: number,
    outcome: MergeOutcome,
  ): void {
    const tally: Tally = { events: 0, unknownNames: 0, overLimit: 0 };
    const start = this.#ownership === undefined ? 0 : sessionStart(session);
    for (const entry of batch.workloads) {
      if (this.#ownership !== undefined && !this.#admit(session, node, batch, entry, start, now, outcome))
        continue;
      mergeLateEntry(session, node, batch, entry, known, now, tally, this.limits);
    }
    this.#countRefusedEvents(session, node, tally);
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
    const frozen = new Set(record.continuous?.frozen ?? []);
    const now = this.#clock();
    for (const ws of session.workloads.values()) {
      if (frozen.has(ws.token) && ws.track.frozen === undefined) {
        freeze(ws.track, ws.observations, session.argSyscalls, now);
      } else if (!frozen.has(ws.token) && ws.track.frozen !== undefined) {
        // The profile grows again, starting with what drifted while it was frozen.
        this.#mergeDrift(ws, takeDrift(ws.track), now);
        unfreeze(ws.track);
      }
    }
    if (record.expectedNodes === undefined || session.held.size === 0) return [];
    const held = [...session.held.values()].flat();
    session.held.clear();
    return held.map((m) => this.apply(m));
  }

  /** Drift taken into the profile: merged like any observation, so the next revision shows it. */
  #mergeDrift(ws: WorkloadState, entries: readonly DriftEntry[], now: number): void {
    for (const e of entries) {
      ws.observations.observe(e.node, e.syscall, e.count, e.firstSeen, e.args, e.containerId);
    }
    if (entries.length > 0) noteShapeChange(ws.track, now);
  }

  /**
   * Takes the drift of `names` in frozen workloads into their profiles: merged, the frozen profile
   * grown by them, published as the next revision. Everything is checked before anything changes.
   */
  accept(sessionId: string, tokens: readonly string[], names: readonly string[]): AcceptOutcome[] {
    const session = this.sessions.get(sessionId);
    if (session === undefined || session.record === undefined) {
      throw new SeccomposeError(
        ErrorCodes.SC_SESSION_NOT_FOUND,
        `the aggregator has no data of session ${sessionId}`,
      );
    }
    if (session.finalised !== undefined) {
      throw new SeccomposeError(
        ErrorCodes.SC_USAGE,
        `session ${sessionId} is finalised: its profiles no longer change`,
      );
    }
    const wanted = new Set(names);
    const targets = tokens.map((token) => {
      const ws = [...session.workloads.values()].find((w) => w.token === token);
      if (ws === undefined) {
        throw new SeccomposeError(
          ErrorCodes.SC_PROFILE_NOT_FOUND,
          `workload ${token} has no data in session ${sessionId}`,
        );
      }
      if (ws.track.frozen === undefined) {
        throw new SeccomposeError(
          ErrorCodes.SC_USAGE,
          `workload ${workloadId(ws.observations.key)} is not frozen: everything it does goes into its profile already`,
        );
      }
      return ws;
    });
    const drifted = new Set(targets.flatMap((ws) => [...ws.track.drift.values()].map((e) => e.syscall)));
    const unknown = names.filter((n) => !drifted.has(n));
    if (unknown.length > 0) {
      throw new SeccomposeError(
        ErrorCodes.SC_USAGE,
        `${unknown.join(", ")} did not drift in ${targets.map((ws) => workloadId(ws.observations.key)).join(", ")} (drifted: ${[...drifted].sort().join(", ") || "nothing"})`,
      );
    }
    const now = this.#clock();
    return targets.map((ws) => {
      const taken = takeDrift(ws.track, wanted);
      this.#mergeDrift(ws, taken, now);
      ws.track.frozen!.shape = shapeOf(ws.observations, session.argSyscalls);
      return {
        workloadToken: ws.token,
        syscalls: [...new Set(taken.map((e) => e.syscall))].sort(),
        calls: taken.length,
        revision: ws.track.revision + 1,
      };
    });
  }

  /** Forgets a deleted session entirely: its state and its record. */
  forget(id: string): boolean {
    this.#records.delete(id);
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

  /** Books an action as done. A finalised session releases its observations. */
  confirm(action: Action, revisions: ReadonlyMap<string, number> = new Map()): void {
    const session = this.sessions.get(action.session);
    if (session === undefined) return;
    const now = this.#clock();
    if (action.kind === "late") {
      for (const p of action.publications) {
        const lw = session.late.get(workloadId(p.workload));
        if (lw === undefined) continue;
        lw.publishedVersion = Math.max(lw.publishedVersion, p.version);
        lw.published = Math.max(lw.published, p.lateRevision);
        const revision = revisions.get(p.token);
        if (revision === undefined) continue;
        const fw = session.finalised?.workloads.find((w) => w.token === p.token);
        if (fw !== undefined) fw.lateRevision = revision;
        else {
          session.finalised?.workloads.push({
            workload: p.workload,
            token: p.token,
            revision: 0,
            syscalls: 0,
            lateRevision: revision,
          });
        }
      }
      return;
    }
    if (action.kind === "finalise") {
      session.finalised = {
        status: action.status,
        missingNodes: action.missingNodes,
        at: now,
        workloads: action.publications.map((p) => {
          const track = session.workloads.get(workloadId(p.workload))?.track;
          return {
            workload: p.workload,
            token: p.token,
            revision: p.document.revision,
            syscalls: p.document.syscalls.length,
            ...(track?.frozen !== undefined ? { frozen: true } : {}),
            ...(track !== undefined && track.drift.size > 0 ? { drifted: track.drift.size } : {}),
          };
        }),
      };
      session.workloads.clear();
      this.#dropHeld(session);
      return;
    }
    const ws = session.workloads.get(action.workloadId);
    if (ws === undefined) return;
    if (action.kind === "drift") {
      ws.track.driftPublishedVersion = Math.max(ws.track.driftPublishedVersion, action.version);
      ws.track.driftPublishedAt = now;
    } else confirmStep(ws.track, action.step, now);
  }

  /** Forgets finalised sessions older than `retentionMs`: their messages have aged out of the stream. */
  pruneFinalised(retentionMs: number): string[] {
    const now = this.#clock();
    const pruned: string[] = [];
    for (const [id, s] of this.sessions) {
      if (s.finalised !== undefined && now - s.finalised.at > retentionMs) {
        for (const w of s.waiting) this.#waitingEvents -= entryWeight(w.entry);
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
      for (const w of s.waiting) {
        s.node(w.node).waitingEvents += entryWeight(w.entry);
        state.#waitingEvents += entryWeight(w.entry);
      }
      state.sessions.set(s.id, s);
    }
    return state;
  }
}
