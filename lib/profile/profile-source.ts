import type { ProfileDocument } from "../contracts/types.ts";
import { scmpArchesForNodes } from "../syscalls/architectures.ts";
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
