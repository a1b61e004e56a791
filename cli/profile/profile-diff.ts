/**
 * What changed between two profiles: syscalls added and removed, and for syscalls in both, how
 * their argument rules changed (values allowed now or no more, or any value now or no more).
 */
import type { ProfileSource } from "../../lib/profile/profile-source.ts";

export interface ArgumentChange {
  syscall: string;
  /** Argument tuples allowed only on the right. */
  added: string[][];
  /** Argument tuples allowed only on the left. */
  removed: string[][];
  /** Allowed with any arguments on the left / on the right. */
  leftAnyArgs: boolean;
  rightAnyArgs: boolean;
}

export interface ProfileDiff {
  identical: boolean;
  added: string[];
  removed: string[];
  arguments: ArgumentChange[];
  architectures: { added: string[]; removed: string[] };
}

type Tuples = ReadonlyArray<readonly string[]> | null;

/** Both sources must hold one entry per syscall, as unionSources makes them. */
export function diffProfiles(left: ProfileSource, right: ProfileSource): ProfileDiff {
  const l = new Map<string, Tuples>(left.syscalls.map((s) => [s.name, s.argTuples]));
  const r = new Map<string, Tuples>(right.syscalls.map((s) => [s.name, s.argTuples]));
  const added = [...r.keys()].filter((n) => !l.has(n)).sort();
  const removed = [...l.keys()].filter((n) => !r.has(n)).sort();
  const args: ArgumentChange[] = [];
  for (const name of [...l.keys()].filter((n) => r.has(n)).sort()) {
    const a = l.get(name)!;
    const b = r.get(name)!;
    const keys = (t: Tuples) => new Map((t ?? []).map((x) => [x.join(","), [...x]]));
    const ka = keys(a);
    const kb = keys(b);
    const change: ArgumentChange = {
      syscall: name,
      added: [...kb].filter(([k]) => !ka.has(k)).map(([, v]) => v),
      removed: [...ka].filter(([k]) => !kb.has(k)).map(([, v]) => v),
      leftAnyArgs: a === null,
      rightAnyArgs: b === null,
    };
    if (
      change.leftAnyArgs !== change.rightAnyArgs ||
      (a !== null && b !== null && (change.added.length > 0 || change.removed.length > 0))
    ) {
      // Against "any arguments" single values neither widen nor narrow anything.
      if (change.leftAnyArgs || change.rightAnyArgs) {
        change.added = [];
        change.removed = [];
      }
      args.push(change);
    }
  }
  const la = new Set(left.architectures);
  const ra = new Set(right.architectures);
  const architectures = {
    added: [...ra].filter((x) => !la.has(x)).sort(),
    removed: [...la].filter((x) => !ra.has(x)).sort(),
  };
  return {
    identical:
      added.length === 0 &&
      removed.length === 0 &&
      args.length === 0 &&
      architectures.added.length === 0 &&
      architectures.removed.length === 0,
    added,
    removed,
    arguments: args,
    architectures,
  };
}

/**
 * Whether the right profile allows anything the left does not: a syscall, an architecture, an
 * argument value, or any arguments where the left allowed only some. Narrowing is not counted.
 */
export function rightAllowsMore(diff: ProfileDiff): boolean {
  return (
    diff.added.length > 0 ||
    diff.architectures.added.length > 0 ||
    diff.arguments.some((c) => (c.rightAnyArgs && !c.leftAnyArgs) || c.added.length > 0)
  );
}

/** `+ name` / `- name` lines, then one line per argument change, as a unified diff reads. */
export function formatDiff(diff: ProfileDiff, leftName: string, rightName: string): string[] {
  const lines = [`--- ${leftName}`, `+++ ${rightName}`];
  if (diff.identical) return [...lines, "(no difference)"];
  for (const a of diff.architectures.removed) lines.push(`- architecture ${a}`);
  for (const a of diff.architectures.added) lines.push(`+ architecture ${a}`);
  for (const n of diff.removed) lines.push(`- ${n}`);
  for (const n of diff.added) lines.push(`+ ${n}`);
  for (const c of diff.arguments) {
    if (c.leftAnyArgs && !c.rightAnyArgs)
      lines.push(`~ ${c.syscall}: any arguments -> only the recorded values`);
    else if (!c.leftAnyArgs && c.rightAnyArgs)
      lines.push(`~ ${c.syscall}: only the recorded values -> any arguments`);
    for (const t of c.removed) lines.push(`- ${c.syscall}(${t.join(", ")})`);
    for (const t of c.added) lines.push(`+ ${c.syscall}(${t.join(", ")})`);
  }
  return lines;
}
