/**
 * Merging one message into its session, once AggregatorState (session-state.ts) found that its
 * session exists and its node is in the record's node set: a batch's workload entries (each through
 * the pod ownership check when it is on), counted once per batch number however often the batch
 * comes; a FIN's batch count, drops and gaps; data that comes after finalisation, kept apart. Also
 * the entries that waited for the pod watch, merged or refused when they are asked about again.
 */
import type { EventMessage, FinMarker, RefusalCounts, SyscallEventBatch } from "../../lib/contracts/types.ts";
import { STILL_WAITING, sessionStart, type EntryAdmission } from "./entry-admission.ts";
import {
  knownSyscalls,
  mergeEntry,
  mergeLateEntry,
  type DriftFinding,
  type KnownSyscalls,
  type Tally,
} from "./entry-merge.ts";
import type { Limits } from "./limits.ts";
import type { EntryRefusal, NodeState, Refusal, SessionState, WaitingEntry } from "./session.ts";

/**
 * A FIN may run ahead of the batches merged so far only by this much: the agent sends it after its
 * last batch was acknowledged, so in the stream every batch comes first, and only a redelivery can
 * put a few behind it.
 */
const FIN_LOOKAHEAD = 1024;
/** Gaps kept per node; more make no difference to the (already partial) result. */
const MAX_GAPS_PER_NODE = 64;
/** Names of refused nodes kept per session, for status. */
const MAX_FOREIGN_NODES = 32;

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

/** The outcome of a message that was not merged (refused or held). */
export function unmerged(message: EventMessage): MergeOutcome {
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

export class MessageMerge {
  readonly #clock: () => number;
  readonly #limits: Limits;
  /** Refusals of every session (AggregatorState.refused). */
  readonly #refused: RefusalCounts;
  /** The pod ownership check; undefined when it is off. */
  readonly #admission: EntryAdmission | undefined;

  constructor(
    clock: () => number,
    limits: Limits,
    refused: RefusalCounts,
    admission: EntryAdmission | undefined,
  ) {
    this.#clock = clock;
    this.#limits = limits;
    this.#refused = refused;
    this.#admission = admission;
  }

  /** Counts a message refused whole (in its session too, when it has one). */
  refuse(session: SessionState | undefined, message: EventMessage, why: Refusal): MergeOutcome {
    this.#refused[why]++;
    if (session !== undefined) {
      session.refused[why]++;
      if (why === "foreignNode" && session.foreignNodes.size < MAX_FOREIGN_NODES) {
        session.foreignNodes.add(message.node);
      }
    }
    return { ...unmerged(message), refused: why };
  }

  mergeFin(session: SessionState, fin: FinMarker): MergeOutcome {
    const known = session.nodes.get(fin.node)?.seqs.highest() ?? 0;
    if (fin.batches > this.#limits.maxBatchesPerNode || fin.batches > known + FIN_LOOKAHEAD) {
      return this.refuse(session, fin, "implausible");
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

  mergeBatch(session: SessionState, batch: SyscallEventBatch): MergeOutcome {
    if (batch.seq > this.#limits.maxBatchesPerNode) return this.refuse(session, batch, "implausible");
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
    const admission = this.#admission;
    if (admission === undefined) {
      for (const entry of batch.workloads)
        mergeEntry(session, node, batch, entry, known, now, outcome, tally, this.#limits);
    } else if (fresh) {
      // A redelivered batch was decided by its first delivery: merged, refused or waiting.
      const start = sessionStart(session);
      for (const entry of batch.workloads) {
        if (admission.admit(session, node, batch, entry, start, now, outcome)) {
          mergeEntry(session, node, batch, entry, known, now, outcome, tally, this.#limits);
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
    this.#refused.unknownSyscall += tally.unknownNames;
    this.#refused.overLimit += tally.overLimit;
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
    const admission = this.#admission;
    const start = admission === undefined ? 0 : sessionStart(session);
    for (const entry of batch.workloads) {
      if (admission !== undefined && !admission.admit(session, node, batch, entry, start, now, outcome))
        continue;
      mergeLateEntry(session, node, batch, entry, known, now, tally, this.#limits);
    }
    this.#countRefusedEvents(session, node, tally);
  }

  /**
   * Asks the pod ownership check again about every waiting entry: merges those it accepts now,
   * refuses those it refuses or whose wait is over. One outcome per session and node concerned.
   */
  recheckWaiting(sessions: Iterable<SessionState>): MergeOutcome[] {
    const admission = this.#admission;
    if (admission === undefined || admission.waitingEvents === 0) return [];
    const now = this.#clock();
    const outcomes: MergeOutcome[] = [];
    for (const session of sessions) {
      if (session.waiting.length === 0) continue;
      const still: WaitingEntry[] = [];
      const byNode = new Map<string, MergeOutcome>();
      for (const w of session.waiting) {
        const refusal = admission.recheck(w, now);
        if (refusal === STILL_WAITING) {
          still.push(w);
          continue;
        }
        const node = session.node(w.node);
        admission.release(node, w);
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
          admission.refuse(session, node, w.entry, refusal, outcome);
          continue;
        }
        const tally: Tally = { events: 0, unknownNames: 0, overLimit: 0 };
        const known = knownSyscalls(w.arch);
        if (session.finalised !== undefined)
          mergeLateEntry(session, node, w, w.entry, known, now, tally, this.#limits);
        else {
          mergeEntry(session, node, w, w.entry, known, now, outcome, tally, this.#limits);
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
}
