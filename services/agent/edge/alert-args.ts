/**
 * Which syscall arguments a Falco alert carries, by position, for lib/profile/arg-specs.ts.
 *
 * The agent's rule outputs `evt.rawarg.domain`, `.request`, `.option` and `.flags`. Only those
 * that hold the kernel's value can become seccomp argument rules: socket/socketpair `domain`
 * (argument 0), ioctl `request` (argument 1) and prctl `option` (argument 0). `flags` is Falco's
 * own encoding (clone's CLONE_* bits are renumbered), and the other argument syscalls (mmap's
 * prot, kill's signal, ...) are not in the output or are generic events without arguments; their
 * calls are recorded without arguments, which allows the syscall unconditionally downstream.
 */
import type { FalcoSyscallArgs } from "../intake/alert.ts";

type ArgField = "domain" | "request" | "option";

const ARG_POSITIONS: Readonly<Record<string, readonly { index: number; field: ArgField }[]>> = {
  socket: [{ index: 0, field: "domain" }],
  socketpair: [{ index: 0, field: "domain" }],
  ioctl: [{ index: 1, field: "request" }],
  prctl: [{ index: 0, field: "option" }],
};

/** The raw arguments of a call by position (unknown positions left empty), or undefined when it carries none. */
export function rawArgsFromAlert(syscall: string, args: FalcoSyscallArgs): bigint[] | undefined {
  const positions = Object.hasOwn(ARG_POSITIONS, syscall) ? ARG_POSITIONS[syscall]! : undefined;
  if (positions === undefined) return undefined;
  const raw: bigint[] = [];
  for (const { index, field } of positions) {
    const value = args[field];
    if (value === null) return undefined;
    raw[index] = value;
  }
  return raw;
}
