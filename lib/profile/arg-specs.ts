import { SeccomposeError } from "../errors.ts";

/**
 * How one recorded argument becomes a seccomp condition. Only scalar arguments can be checked:
 * seccomp BPF cannot dereference pointers (paths, sockaddrs, clone3's struct).
 */
export interface ArgConditionSpec {
  index: number;
  op: "SCMP_CMP_EQ" | "SCMP_CMP_MASKED_EQ";
  /** For MASKED_EQ: the bits that are compared; values are recorded already masked. */
  mask?: bigint;
}

/** All CLONE_NEW* namespace bits, the mask Docker's default profile checks on clone. */
export const CLONE_NEW_MASK = 0x7e020000n;

const masked = (index: number, mask: bigint): ArgConditionSpec => ({ index, op: "SCMP_CMP_MASKED_EQ", mask });
/**
 * A 32-bit (int) argument. The kernel reads only its low half, but seccomp sees the whole
 * register, whose upper half callers leave as they like (ctypes sign-extends personality(-1) to
 * 0xffffffffffffffff, glibc zero-extends). Comparing under this mask checks exactly what the
 * kernel will act on.
 */
const int32 = (index: number): ArgConditionSpec => masked(index, 0xffffffffn);

/**
 * Syscalls whose arguments can be recorded (`--args`), and which of their arguments. Indexes are
 * those of x86 and arm; s390's swapped clone arguments are not covered.
 */
export const ARG_SPECS: Readonly<Record<string, readonly ArgConditionSpec[]>> = {
  arch_prctl: [int32(0)],
  clone: [masked(0, CLONE_NEW_MASK)],
  fcntl: [int32(1)],
  getsockopt: [int32(1), int32(2)],
  ioctl: [int32(1)],
  kill: [int32(1)],
  madvise: [int32(2)],
  mmap: [int32(2)],
  mprotect: [int32(2)],
  personality: [int32(0)],
  prctl: [int32(0)],
  prlimit64: [int32(1)],
  setns: [int32(1)],
  setsockopt: [int32(1), int32(2)],
  socket: [int32(0)],
  socketpair: [int32(0)],
  tgkill: [int32(2)],
  unshare: [int32(0)],
};

export function argSpecFor(syscall: string): readonly ArgConditionSpec[] | undefined {
  return Object.hasOwn(ARG_SPECS, syscall) ? ARG_SPECS[syscall] : undefined;
}

/** Checks a user's `--args` list; throws SC_ARGS_UNSUPPORTED naming the syscall and what is supported. */
export function validateArgSyscalls(names: readonly string[]): string[] {
  for (const name of names) {
    if (!argSpecFor(name)) {
      throw new SeccomposeError(
        "SC_ARGS_UNSUPPORTED",
        `argument rules are not supported for "${name}": its arguments are pointers or not recorded; supported: ${Object.keys(ARG_SPECS).join(", ")}`,
      );
    }
  }
  return [...new Set(names)].sort();
}

/** The recorded tuple for one call: the spec's arguments, masked where the spec says so, as decimal strings. */
export function argTupleFromRaw(
  spec: readonly ArgConditionSpec[],
  rawArgs: readonly bigint[],
): string[] | null {
  const tuple: string[] = [];
  for (const cond of spec) {
    const raw = rawArgs[cond.index];
    if (raw === undefined) return null;
    const value = BigInt.asUintN(64, raw);
    tuple.push((cond.mask === undefined ? value : value & cond.mask).toString());
  }
  return tuple;
}
