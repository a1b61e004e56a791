import { endianness } from "node:os";
import { ErrorCodes, SeccomposeError } from "../errors.ts";
import type { ScmpArch } from "./tables.ts";

/**
 * Each supported node architecture (canonical `uname -m` name, except "x86" for the 32-bit x86
 * family) with its native seccomp arch first, then the compat ABIs its kernel also runs. A profile
 * that leaves out a compat arch gets a thread killed when it makes such a call, because
 * libseccomp's default bad-arch action is KILL. These are the sets Docker and containerd use.
 */
const SCMP_ARCHES_BY_NODE_ARCH = {
  x86_64: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
  x86: ["SCMP_ARCH_X86"],
  aarch64: ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
  arm: ["SCMP_ARCH_ARM"],
  riscv64: ["SCMP_ARCH_RISCV64"],
  s390x: ["SCMP_ARCH_S390X", "SCMP_ARCH_S390"],
  ppc64le: ["SCMP_ARCH_PPC64LE"],
} as const satisfies Record<string, readonly [ScmpArch, ...ScmpArch[]]>;

/** A supported node architecture, by its canonical name. */
export type NodeArch = keyof typeof SCMP_ARCHES_BY_NODE_ARCH;

// Spellings from `uname -m`, Node's `process.arch` and Kubernetes' `kubernetes.io/arch` label /
// `nodeInfo.architecture` (Go's GOARCH).
const NODE_ARCH_ALIASES: ReadonlyMap<string, NodeArch> = new Map<string, NodeArch>([
  ["x86_64", "x86_64"],
  ["amd64", "x86_64"],
  ["x64", "x86_64"],
  ["x86", "x86"],
  ["i386", "x86"],
  ["i486", "x86"],
  ["i586", "x86"],
  ["i686", "x86"],
  ["ia32", "x86"],
  ["386", "x86"],
  ["aarch64", "aarch64"],
  ["arm64", "aarch64"],
  ["arm", "arm"],
  ["armv6l", "arm"],
  ["armv7l", "arm"],
  // A 32-bit userland on a 64-bit ARM kernel (`linux32`) reports armv8l.
  ["armv8l", "arm"],
  ["riscv64", "riscv64"],
  ["s390x", "s390x"],
  ["ppc64le", "ppc64le"],
]);

// The order arches appear in a generated profile, so profiles are byte-stable.
const CANONICAL_SCMP_ORDER: readonly ScmpArch[] = [
  "SCMP_ARCH_X86_64",
  "SCMP_ARCH_X86",
  "SCMP_ARCH_X32",
  "SCMP_ARCH_AARCH64",
  "SCMP_ARCH_ARM",
  "SCMP_ARCH_RISCV64",
  "SCMP_ARCH_S390X",
  "SCMP_ARCH_S390",
  "SCMP_ARCH_PPC64LE",
];

/** The canonical name of a node architecture given as `uname -m`, `process.arch` or GOARCH. */
export function normalizeNodeArch(raw: string): NodeArch {
  const nodeArch = NODE_ARCH_ALIASES.get(raw.trim().toLowerCase());
  if (nodeArch === undefined) {
    throw new SeccomposeError(
      ErrorCodes.SC_ARCH_UNKNOWN,
      `Unsupported node architecture "${raw}"; accepted: ${[...NODE_ARCH_ALIASES.keys()].join(", ")}`,
    );
  }
  return nodeArch;
}

/** The seccomp arches a profile for this node needs: native first, then compat ABIs. */
export function scmpArchesForNode(raw: string): ScmpArch[] {
  return [...SCMP_ARCHES_BY_NODE_ARCH[normalizeNodeArch(raw)]];
}

/** The seccomp arch of the node's native ABI. */
export function nativeScmpArch(raw: string): ScmpArch {
  return SCMP_ARCHES_BY_NODE_ARCH[normalizeNodeArch(raw)][0];
}

/**
 * The union of the seccomp arches for all given nodes: the nodes' native arches first, then the
 * compat arches that are not native on any node, each group in canonical order. Empty for no nodes.
 */
export function scmpArchesForNodes(raws: Iterable<string>): ScmpArch[] {
  const native = new Set<ScmpArch>();
  const all = new Set<ScmpArch>();
  for (const raw of raws) {
    const arches = SCMP_ARCHES_BY_NODE_ARCH[normalizeNodeArch(raw)];
    native.add(arches[0]);
    for (const arch of arches) all.add(arch);
  }
  return [
    ...CANONICAL_SCMP_ORDER.filter((arch) => native.has(arch)),
    ...CANONICAL_SCMP_ORDER.filter((arch) => all.has(arch) && !native.has(arch)),
  ];
}

/** The canonical architecture of the machine this process runs on. */
/** SCMP arch names in the canonical profile order (unknown names last, sorted): for unions of profiles. */
export function sortScmpArches(arches: Iterable<string>): string[] {
  const set = new Set(arches);
  const canonical: readonly string[] = CANONICAL_SCMP_ORDER;
  return [...canonical.filter((a) => set.has(a)), ...[...set].filter((a) => !canonical.includes(a)).sort()];
}

export function localNodeArch(): NodeArch {
  // Node says "ppc64" for both byte orders; only little-endian POWER is supported.
  if (process.arch === "ppc64" && endianness() === "LE") return "ppc64le";
  return normalizeNodeArch(process.arch);
}
