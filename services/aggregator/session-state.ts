/**
 * The aggregator's state machine, with no I/O: batches and FIN markers merge into per-session,
 * per-workload observations; `due()` says which profiles to publish and which sessions to finalise;
 * `confirm()` books what was published. Time comes from an injected clock.
 *
 * Merging is idempotent and order-independent: observations merge by maximum/union, and the batch
 * numbers merged per node are kept, so a redelivered batch is recognised and counted once. A
 * snapshot of this state plus "which messages it reflects" is all a checkpoint needs.
 */
import type {
  EventMessage,
  FinMarker,
  ProfileDocument,
  SessionRecord,
  SyscallEventBatch,
  WorkloadKey,
} from "../../lib/contracts/types.ts";
import { toProfileDocument } from "../../lib/profile/document.ts";
import { WorkloadObservations } from "../../lib/profile/observations.ts";
import { workloadId, workloadToken } from "../../lib/profile/workload-key.ts";
import {
  confirmStep,
  continuousSettings,
  driftKey,
  freeze,
  newTrack,
  nextStep,
  noteShapeChange,
  trackFromSnapshot,
  trackToSnapshot,
  unfreeze,
  type ContinuousStep,
  type ContinuousTrack,
  type TrackSnapshot,
} from "./continuous.ts";
import { SeqSet, type SeqRange } from "./seq-set.ts";

export type Clock = () => number;

export interface NodeState {
  readonly name: string;
  /** uname -m of the node; undefined until its first batch. */
  arch: string | undefined;
  droppedEvents: number;
  readonly seqs: SeqSet;
  /** Batches the node says it sent (its FIN); undefined until the FIN is merged. */
  finBatches: number | undefined;
  events: number;
  /** sentAt of the newest batch or FIN, milliseconds since the epoch. */
  lastEventAt: number | undefined;
}

export interface WorkloadState {
  readonly id: string;
  readonly token: string;
  readonly observations: WorkloadObservations;
  readonly track: ContinuousTrack;
}

export interface FinalisedWorkload {
  workload: WorkloadKey;
  token: string;
  revision: number;
  syscalls: number;
}

export interface FinalisedSession {
  status: "complete" | "partial";
  missingNodes: string[];
  at: number;
  /** What was published; the observations themselves are released once a session is final. */
  workloads: FinalisedWorkload[];
}

export class SessionState {
  readonly id: string;
  record: SessionRecord | undefined;
  readonly nodes = new Map<string, NodeState>();
  readonly workloads = new Map<string, WorkloadState>();
  batches = 0;
  events = 0;
  /** New batches that arrived after the session was finalised; counted, not merged. */
  lateBatches = 0;
  lastEventAt: number | undefined;
  finalised: FinalisedSession | undefined;

  constructor(id: string) {
    this.id = id;
  }

  get mode(): SessionRecord["mode"] {
    return this.record?.mode ?? "oneshot";
  }

  get argSyscalls(): readonly string[] {
    return this.record?.profile.argSyscalls ?? [];
  }

  /** The session record's expected nodes plus every node that sent data, sorted. */
  participatingNodes(): string[] {
    const names = new Set(this.record?.expectedNodes ?? []);
    for (const name of this.nodes.keys()) names.add(name);
    return [...names].sort();
  }

  /** A node is complete once its FIN is merged together with every batch 1..N it announces. */
  isNodeComplete(name: string): boolean {
    const node = this.nodes.get(name);
    return node?.finBatches !== undefined && node.seqs.coversPrefix(node.finBatches);
  }

  incompleteNodes(): string[] {
    return this.participatingNodes().filter((n) => !this.isNodeComplete(n));
  }

  node(name: string): NodeState {
    let node = this.nodes.get(name);
    if (node === undefined) {
      node = {
        name,
        arch: undefined,
        droppedEvents: 0,
        seqs: new SeqSet(),
        finBatches: undefined,
        events: 0,
        lastEventAt: undefined,
      };
      this.nodes.set(name, node);
    }
    return node;
  }
}

export interface DriftFinding {
  session: string;
  workload: WorkloadKey;
  token: string;
  node: string;
  pod: string | undefined;
  syscall: string;
  args: readonly string[] | undefined;
  count: number;
  firstSeen: number;
  detectedAt: number;
  frozenRevision: number;
}

export interface MergeOutcome {
  session: string;
  node: string;
  kind: "batch" | "fin";
  /** First time this batch (by its number) or this FIN value was merged. */
  fresh: boolean;
  /** Arrived after the session was finalised: counted, not merged. */
  late: boolean;
  /** Events of a fresh batch (redeliveries add none). */
  events: number;
  drift: DriftFinding[];
  /** The node's data is complete after this message: worth checking the session at once. */
  nodeComplete: boolean;
}

export interface Publication {
  workload: WorkloadKey;
  token: string;
  document: ProfileDocument;
}

export type Action =
  | {
      kind: "finalise";
      session: string;
      mode: SessionRecord["mode"];
      status: "complete" | "partial";
      missingNodes: string[];
      publications: Publication[];
    }
  | {
      kind: "publish";
      session: string;
      workloadId: string;
      step: ContinuousStep;
      /** Convergence window, for the convergence event. */
      windowSeconds: number;
      lastChangeAt: number;
      publication: Publication;
    };

/** Only the fields of a key, in schema order: agents may send them in any order, documents must not vary. */
function canonicalKey(key: WorkloadKey): WorkloadKey {
  return { namespace: key.namespace, kind: key.kind, name: key.name, container: key.container };
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

export class AggregatorState {
  readonly sessions = new Map<string, SessionState>();
  /** Messages that could not be decoded or validated. */
  badMessages = 0;
  /** Highest stream sequence merged so far. */
  highestStreamSeq = 0;
  readonly #clock: Clock;
  /** Every session record known, including sessions without state yet (or no more). */
  readonly #records = new Map<string, SessionRecord>();

  constructor(clock: Clock) {
    this.#clock = clock;
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

  /** Merges one validated message. */
  apply(message: EventMessage): MergeOutcome {
    return message.kind === "batch" ? this.#applyBatch(message) : this.#applyFin(message);
  }

  #applyFin(fin: FinMarker): MergeOutcome {
    const session = this.session(fin.session);
    const node = session.node(fin.node);
    const fresh = node.finBatches === undefined || fin.batches > node.finBatches;
    if (fresh) node.finBatches = fin.batches;
    if (fin.droppedEvents > node.droppedEvents) node.droppedEvents = fin.droppedEvents;
    if (node.lastEventAt === undefined || fin.sentAt > node.lastEventAt) node.lastEventAt = fin.sentAt;
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

  #workload(session: SessionState, key: WorkloadKey, now: number): WorkloadState {
    const id = workloadId(key);
    let ws = session.workloads.get(id);
    if (ws === undefined) {
      const canonical = canonicalKey(key);
      const token = workloadToken(canonical);
      ws = { id, token, observations: new WorkloadObservations(canonical), track: newTrack(now) };
      session.workloads.set(id, ws);
      if (session.record?.continuous?.frozen?.includes(token)) {
        freeze(ws.track, ws.observations, session.argSyscalls, now);
      }
    }
    return ws;
  }

  #applyBatch(batch: SyscallEventBatch): MergeOutcome {
    const now = this.#clock();
    const session = this.session(batch.session);
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
      if (fresh) session.lateBatches++;
      return outcome;
    }
    node.arch ??= batch.arch;
    if (batch.droppedEvents > node.droppedEvents) node.droppedEvents = batch.droppedEvents;
    if (node.lastEventAt === undefined || batch.sentAt > node.lastEventAt) node.lastEventAt = batch.sentAt;
    if (session.lastEventAt === undefined || batch.sentAt > session.lastEventAt) {
      session.lastEventAt = batch.sentAt;
    }
    const argSyscalls = session.argSyscalls;
    let events = 0;
    for (const entry of batch.workloads) {
      const ws = this.#workload(session, entry.workload, now);
      const wo = ws.observations;
      const track = ws.track;
      wo.noteNode(batch.node, batch.arch, batch.droppedEvents);
      let changed = false;
      for (const ev of entry.syscalls) {
        events++;
        if (track.frozen !== undefined) {
          const key = driftKey(track, batch.node, ev.name, ev.args);
          if (key !== undefined) {
            // Outside the frozen profile: reported as drift, kept out of the profile.
            if (!track.driftSeen.has(key)) {
              track.driftSeen.add(key);
              track.driftEvents++;
              outcome.drift.push({
                session: session.id,
                workload: wo.key,
                token: ws.token,
                node: batch.node,
                pod: entry.pod,
                syscall: ev.name,
                args: ev.args,
                count: ev.count,
                firstSeen: ev.firstSeen,
                detectedAt: now,
                frozenRevision: track.frozen.revision,
              });
            }
            continue;
          }
        }
        if (!changed) {
          const stats = wo.syscalls.get(ev.name);
          if (stats === undefined) changed = true;
          else if (argSyscalls.includes(ev.name)) {
            changed = ev.args === undefined ? !stats.anyArgs : !stats.argTuples.has(ev.args.join(","));
          }
        }
        wo.observe(batch.node, ev.name, ev.count, ev.firstSeen, ev.args);
      }
      if (changed) noteShapeChange(track, now);
    }
    if (fresh) {
      outcome.events = events;
      node.events += events;
      session.events += events;
      session.batches++;
    }
    outcome.nodeComplete = session.isNodeComplete(batch.node);
    return outcome;
  }

  /** Applies a session record (desired state): expected nodes, deadline, mode, frozen workloads. */
  setRecord(record: SessionRecord): void {
    this.#records.set(record.id, record);
    // A stopped session this state never saw (or already pruned) is history, not work to do;
    // should its messages come (again), the session is created with this record.
    if (record.state === "stopped" && !this.sessions.has(record.id)) return;
    const session = this.session(record.id);
    session.record = record;
    const frozen = new Set(record.continuous?.frozen ?? []);
    const now = this.#clock();
    for (const ws of session.workloads.values()) {
      if (frozen.has(ws.token) && ws.track.frozen === undefined) {
        freeze(ws.track, ws.observations, session.argSyscalls, now);
      } else if (!frozen.has(ws.token) && ws.track.frozen !== undefined) {
        unfreeze(ws.track);
      }
    }
  }

  /** The record was deleted: the session keeps its data but no longer has expected nodes or a deadline. */
  clearRecord(id: string): void {
    this.#records.delete(id);
    const session = this.sessions.get(id);
    if (session !== undefined) session.record = undefined;
  }

  /** What should be published now, oldest session first. */
  due(): Action[] {
    const now = this.#clock();
    const actions: Action[] = [];
    for (const session of this.sessions.values()) {
      if (session.finalised !== undefined) continue;
      const finalise = this.#finalisation(session, now);
      if (finalise !== undefined) {
        actions.push(finalise);
        continue;
      }
      if (session.mode !== "continuous") continue;
      const settings = continuousSettings(session.record);
      for (const ws of session.workloads.values()) {
        const step = nextStep(ws.track, settings, now);
        if (step === undefined) continue;
        actions.push({
          kind: "publish",
          session: session.id,
          workloadId: ws.id,
          step,
          windowSeconds: settings.convergenceWindowSeconds,
          lastChangeAt: ws.track.lastChangeAt,
          publication: {
            workload: ws.observations.key,
            token: ws.token,
            document: toProfileDocument(ws.observations, {
              session: session.id,
              revision: step.revision,
              status: "recording",
              argSyscalls: session.argSyscalls,
              ...(step.flags.convergedAt !== undefined ? { convergedAt: iso(step.flags.convergedAt) } : {}),
              ...(step.flags.frozen ? { frozen: true } : {}),
            }),
          },
        });
      }
    }
    return actions;
  }

  #finalisation(session: SessionState, now: number): Action | undefined {
    const participating = session.participatingNodes();
    const missing = session.incompleteNodes();
    let status: "complete" | "partial";
    if (participating.length > 0 && missing.length === 0) status = "complete";
    else {
      const deadline = session.record?.stopDeadline;
      if (deadline === undefined || now < Date.parse(deadline)) return undefined;
      status = "partial";
    }
    const continuous = session.mode === "continuous";
    const publications = [...session.workloads.values()]
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .map((ws): Publication => {
        const t = ws.track;
        // One-shot sessions publish exactly one document, revision 1, so it does not depend on timing.
        const revision = continuous
          ? Math.max(1, t.revision + (t.shapeVersion > t.publishedVersion ? 1 : 0))
          : 1;
        return {
          workload: ws.observations.key,
          token: ws.token,
          document: toProfileDocument(ws.observations, {
            session: session.id,
            revision,
            status,
            missingNodes: status === "partial" ? missing : [],
            argSyscalls: session.argSyscalls,
            ...(continuous && t.convergedAt !== undefined ? { convergedAt: iso(t.convergedAt) } : {}),
            ...(continuous && t.frozen !== undefined ? { frozen: true } : {}),
          }),
        };
      });
    return {
      kind: "finalise",
      session: session.id,
      mode: session.mode,
      status,
      missingNodes: status === "partial" ? missing : [],
      publications,
    };
  }

  /** Books an action as done. A finalised session releases its observations. */
  confirm(action: Action): void {
    const session = this.sessions.get(action.session);
    if (session === undefined) return;
    const now = this.#clock();
    if (action.kind === "finalise") {
      session.finalised = {
        status: action.status,
        missingNodes: action.missingNodes,
        at: now,
        workloads: action.publications.map((p) => ({
          workload: p.workload,
          token: p.token,
          revision: p.document.revision,
          syscalls: p.document.syscalls.length,
        })),
      };
      session.workloads.clear();
      return;
    }
    const ws = session.workloads.get(action.workloadId);
    if (ws !== undefined) confirmStep(ws.track, action.step, now);
  }

  /** Forgets finalised sessions older than `retentionMs`: their messages have aged out of the stream. */
  pruneFinalised(retentionMs: number): string[] {
    const now = this.#clock();
    const pruned: string[] = [];
    for (const [id, s] of this.sessions) {
      if (s.finalised !== undefined && now - s.finalised.at > retentionMs) {
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
      sessions: [...this.sessions.values()].map(sessionToSnapshot),
    };
  }

  static restore(snapshot: StateSnapshot, clock: Clock): AggregatorState {
    const state = new AggregatorState(clock);
    state.badMessages = snapshot.badMessages;
    state.highestStreamSeq = snapshot.highestStreamSeq;
    for (const s of snapshot.sessions) state.sessions.set(s.id, sessionFromSnapshot(s));
    return state;
  }
}

/** Plain data, msgpack-friendly: what a checkpoint stores. Session records are not in it (KV has them). */
export interface StateSnapshot {
  version: 1;
  badMessages: number;
  highestStreamSeq: number;
  sessions: SessionSnapshot[];
}

export interface NodeSnapshot {
  name: string;
  arch?: string;
  droppedEvents: number;
  seqs: SeqRange[];
  finBatches?: number;
  events: number;
  lastEventAt?: number;
}

/** [name, firstSeen, anyArgs, counts [key, count][], argument tuples] */
export type SyscallSnapshot = [string, number, boolean, Array<[string, number]>, string[][]];

export interface WorkloadSnapshot {
  key: WorkloadKey;
  nodes: Array<[string, string, number]>;
  syscalls: SyscallSnapshot[];
  track: TrackSnapshot;
}

export interface SessionSnapshot {
  id: string;
  batches: number;
  events: number;
  lateBatches: number;
  lastEventAt?: number;
  nodes: NodeSnapshot[];
  workloads: WorkloadSnapshot[];
  finalised?: FinalisedSession;
}

function sessionToSnapshot(s: SessionState): SessionSnapshot {
  const snap: SessionSnapshot = {
    id: s.id,
    batches: s.batches,
    events: s.events,
    lateBatches: s.lateBatches,
    nodes: [...s.nodes.values()].map((n) => {
      const ns: NodeSnapshot = {
        name: n.name,
        droppedEvents: n.droppedEvents,
        seqs: n.seqs.ranges(),
        events: n.events,
      };
      if (n.arch !== undefined) ns.arch = n.arch;
      if (n.finBatches !== undefined) ns.finBatches = n.finBatches;
      if (n.lastEventAt !== undefined) ns.lastEventAt = n.lastEventAt;
      return ns;
    }),
    workloads: [...s.workloads.values()].map((ws) => ({
      key: ws.observations.key,
      nodes: [...ws.observations.nodes].map(([name, c]): [string, string, number] => [
        name,
        c.arch,
        c.droppedEvents,
      ]),
      syscalls: [...ws.observations.syscalls].map(([name, st]): SyscallSnapshot => [
        name,
        st.firstSeen,
        st.anyArgs,
        [...st.counts],
        [...st.argTuples.values()].map((t) => [...t]),
      ]),
      track: trackToSnapshot(ws.track),
    })),
  };
  if (s.lastEventAt !== undefined) snap.lastEventAt = s.lastEventAt;
  if (s.finalised !== undefined) snap.finalised = s.finalised;
  return snap;
}

function sessionFromSnapshot(snap: SessionSnapshot): SessionState {
  const s = new SessionState(snap.id);
  s.batches = snap.batches;
  s.events = snap.events;
  s.lateBatches = snap.lateBatches;
  s.lastEventAt = snap.lastEventAt;
  s.finalised = snap.finalised;
  for (const n of snap.nodes) {
    s.nodes.set(n.name, {
      name: n.name,
      arch: n.arch,
      droppedEvents: n.droppedEvents,
      seqs: SeqSet.fromRanges(n.seqs),
      finBatches: n.finBatches,
      events: n.events,
      lastEventAt: n.lastEventAt,
    });
  }
  for (const w of snap.workloads) {
    const key = canonicalKey(w.key);
    const wo = new WorkloadObservations(key);
    for (const [name, arch, dropped] of w.nodes) wo.nodes.set(name, { arch, droppedEvents: dropped });
    for (const [name, firstSeen, anyArgs, counts, tuples] of w.syscalls) {
      wo.syscalls.set(name, {
        counts: new Map(counts),
        firstSeen,
        anyArgs,
        argTuples: new Map(tuples.map((t) => [t.join(","), t])),
      });
    }
    const id = workloadId(key);
    s.workloads.set(id, {
      id,
      token: workloadToken(key),
      observations: wo,
      track: trackFromSnapshot(w.track),
    });
  }
  return s;
}
