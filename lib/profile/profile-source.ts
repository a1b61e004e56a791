import type { ProfileDocument } from "../contracts/types.ts";
import { scmpArchesForNodes, sortScmpArches } from "../syscalls/architectures.ts";
import { type WorkloadObservations } from "./observations.ts";

/** The part of the observations a renderer needs: which syscalls, with which argument values. */
export interface ProfileSource {
  architectures: readonly string[];
  syscalls: ReadonlyArray<{ name: string; argTuples: ReadonlyArray<readonly string[]> | null }>;
  argSyscalls: readonly string[];
}

/** argTuples null: allow unconditionally (not an argument syscall, or some call's arguments were not recorded). */
export function sourceFromObservations(
  wo: WorkloadObservations,
  argSyscalls: readonly string[],
): ProfileSource {
  const archs = [...wo.nodes.values()].map((n) => n.arch);
  const syscalls = [...wo.syscalls].map(([name, stats]) => ({
    name,
    argTuples:
      argSyscalls.includes(name) && !stats.anyArgs && stats.argTuples.size > 0
        ? [...stats.argTuples.values()]
        : null,
  }));
  return { architectures: archs.length > 0 ? scmpArchesForNodes(archs) : [], syscalls, argSyscalls };
}

export function sourceFromDocument(doc: ProfileDocument): ProfileSource {
  const argSyscalls = doc.argSyscalls ?? [];
  return {
    architectures: doc.architectures,
    syscalls: doc.syscalls.map((s) => ({
      name: s.name,
      argTuples: argSyscalls.includes(s.name) && s.args && s.args.length > 0 ? s.args : null,
    })),
    argSyscalls,
  };
}

/**
 * The union of several sources: every name any of them allows; a syscall allowed unconditionally
 * anywhere stays unconditional, otherwise its argument tuples are united. Order-independent.
 */
export function unionSources(sources: readonly ProfileSource[]): ProfileSource {
  const tuples = new Map<string, Map<string, readonly string[]> | null>();
  for (const src of sources) {
    for (const { name, argTuples } of src.syscalls) {
      const known = tuples.get(name);
      if (argTuples === null || known === null) {
        tuples.set(name, null);
        continue;
      }
      const set = known ?? new Map<string, readonly string[]>();
      for (const t of argTuples) set.set(t.join(","), t);
      tuples.set(name, set);
    }
  }
  return {
    architectures: sortScmpArches(sources.flatMap((s) => s.architectures)),
    syscalls: [...tuples]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([name, set]) => ({
        name,
        argTuples: set === null ? null : [...set.values()],
      })),
    argSyscalls: [...new Set(sources.flatMap((s) => s.argSyscalls))].sort(),
  };
}
