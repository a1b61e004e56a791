import type { ProfileDocument, StreamLoss } from "../contracts/types.ts";
import { scmpArchesForNodes } from "../syscalls/architectures.ts";
import { countsByNode, WorkloadObservations } from "./observations.ts";

/** A period in which a node recorded nothing although the session ran (from its FIN). */
export type DocumentGap = NonNullable<ProfileDocument["gaps"]>[number];

export interface DocumentMeta {
  session: string;
  revision: number;
  status: ProfileDocument["status"];
  missingNodes?: readonly string[];
  gaps?: readonly DocumentGap[];
  /** Stream ranges discarded before they were consumed while the session accepted data. */
  streamLoss?: readonly StreamLoss[];
  /** Batches merged after finalisation (a late revision). */
  lateBatches?: number;
  argSyscalls: readonly string[];
  convergedAt?: string;
  frozen?: boolean;
}

const byName = <T extends { name: string }>(a: T, b: T): number =>
  a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
const sortedObject = (m: Map<string, number>): Record<string, number> =>
  Object.fromEntries([...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));

/** The ProfileDocument of one workload; the same observations always give the same document. */
export function toProfileDocument(wo: WorkloadObservations, meta: DocumentMeta): ProfileDocument {
  const nodes = [...wo.nodes]
    .map(([name, c]) => ({ name, arch: c.arch, droppedEvents: c.droppedEvents }))
    .sort(byName);
  const syscalls = [...wo.syscalls]
    .map(([name, stats]) => {
      const perNode = countsByNode(stats);
      let count = 0;
      for (const c of perNode.values()) count += c;
      const entry: ProfileDocument["syscalls"][number] = {
        name,
        count,
        firstSeen: new Date(stats.firstSeen).toISOString(),
        nodes: sortedObject(perNode),
      };
      if (meta.argSyscalls.includes(name) && !stats.anyArgs && stats.argTuples.size > 0) {
        entry.args = [...stats.argTuples.values()].map((t) => [...t]).sort(compareTuples);
      }
      return entry;
    })
    .sort(byName);
  const doc: ProfileDocument = {
    schemaVersion: 1,
    kind: "ProfileDocument",
    session: meta.session,
    workload: { ...wo.key },
    revision: meta.revision,
    status: meta.status,
    nodes,
    architectures: scmpArchesForNodes(nodes.map((n) => n.arch)) as ProfileDocument["architectures"],
    syscalls,
  };
  if (meta.missingNodes && meta.missingNodes.length > 0) doc.missingNodes = [...meta.missingNodes].sort();
  if (meta.gaps && meta.gaps.length > 0) doc.gaps = meta.gaps.map((g) => ({ ...g }));
  if (meta.streamLoss && meta.streamLoss.length > 0) doc.streamLoss = meta.streamLoss.map((l) => ({ ...l }));
  if (meta.lateBatches !== undefined && meta.lateBatches > 0) doc.lateBatches = meta.lateBatches;
  if (meta.argSyscalls.length > 0) doc.argSyscalls = [...meta.argSyscalls].sort();
  if (meta.convergedAt !== undefined) doc.convergedAt = meta.convergedAt;
  if (meta.frozen !== undefined) doc.frozen = meta.frozen;
  return doc;
}

/**
 * Observations back from a document. Per-node counts are folded over argument tuples in a
 * document, so documents merge idempotently with documents (not with the live, per-tuple state).
 */
export function observationsFromDocument(doc: ProfileDocument): WorkloadObservations {
  const wo = new WorkloadObservations(doc.workload);
  for (const n of doc.nodes) wo.noteNode(n.name, n.arch, n.droppedEvents);
  const argSyscalls = doc.argSyscalls ?? [];
  for (const s of doc.syscalls) {
    const firstSeen = Date.parse(s.firstSeen);
    const restricted = argSyscalls.includes(s.name) && s.args !== undefined && s.args.length > 0;
    for (const [node, count] of Object.entries(s.nodes)) wo.observe(node, s.name, count, firstSeen);
    const stats = wo.syscalls.get(s.name);
    if (stats === undefined) {
      // A syscall with no per-node counts still belongs to the profile.
      wo.syscalls.set(s.name, { counts: new Map(), firstSeen, argTuples: new Map(), anyArgs: !restricted });
      continue;
    }
    stats.anyArgs = !restricted;
    if (restricted) for (const t of s.args!) stats.argTuples.set(t.join(","), t);
  }
  return wo;
}

export function compareTuples(a: readonly string[], b: readonly string[]): number {
  if (a.length !== b.length) return a.length - b.length;
  for (let i = 0; i < a.length; i++) {
    const x = BigInt(a[i]!);
    const y = BigInt(b[i]!);
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}
