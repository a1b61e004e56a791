import { ErrorCodes, SeccomposeError } from "../errors.ts";
import tables from "./tables.json" with { type: "json" };

/** An `SCMP_ARCH_*` name that has a syscall table (see ATTRIBUTION.md for its source). */
export type ScmpArch = keyof typeof tables.architectures;

const syscallsByArch: ReadonlyMap<string, ReadonlyMap<string, number>> = new Map(
  Object.entries(tables.architectures).map(([arch, table]) => [arch, new Map(Object.entries(table))]),
);

// An architecture without a table is a caller's mistake; answering "unknown syscall" for it
// would make every name look invalid.
function tableFor(arch: string): ReadonlyMap<string, number> {
  const table = syscallsByArch.get(arch);
  if (table === undefined) {
    throw new SeccomposeError(
      ErrorCodes.SC_ARCH_UNKNOWN,
      `No syscall table for architecture "${arch}"; tables exist for ${tableArchitectures().join(", ")}`,
    );
  }
  return table;
}

/** The `SCMP_ARCH_*` names that have tables, sorted. */
export function tableArchitectures(): string[] {
  return [...syscallsByArch.keys()].sort();
}

/** The syscall names `arch` has, sorted. Throws SC_ARCH_UNKNOWN for an arch without a table. */
export function syscallNames(arch: string): string[] {
  return [...tableFor(arch).keys()].sort();
}

/**
 * The number a seccomp filter sees for `name` on `arch` (x32 numbers include 0x40000000),
 * or undefined when the arch has no such syscall. Throws SC_ARCH_UNKNOWN for an arch without a table.
 */
export function syscallNumber(arch: string, name: string): number | undefined {
  return tableFor(arch).get(name);
}

/** Whether `name` exists on at least one of `arches`. Throws SC_ARCH_UNKNOWN if any arch lacks a table. */
export function isKnownOn(name: string, arches: readonly string[]): boolean {
  let known = false;
  // Every arch is looked up (not only up to the first hit) so that one without a table always throws.
  for (const arch of arches) if (tableFor(arch).has(name)) known = true;
  return known;
}

/** The distinct names that exist on none of `arches`, sorted. Throws SC_ARCH_UNKNOWN if any arch lacks a table. */
export function unknownOnAll(names: Iterable<string>, arches: readonly string[]): string[] {
  const tablesToSearch = arches.map(tableFor);
  const unknown = new Set<string>();
  for (const name of names) {
    if (!tablesToSearch.some((table) => table.has(name))) unknown.add(name);
  }
  return [...unknown].sort();
}

const namesByNumber = new Map<string, ReadonlyMap<number, string>>();

/** The name of syscall `number` on `arch` (a tracer printed only the number), or undefined. */
export function syscallNameForNumber(arch: string, number: number): string | undefined {
  let byNumber = namesByNumber.get(arch);
  if (byNumber === undefined) {
    byNumber = new Map([...tableFor(arch)].map(([name, nr]) => [nr, name]));
    namesByNumber.set(arch, byNumber);
  }
  return byNumber.get(number);
}
