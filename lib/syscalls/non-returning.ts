import { isKnownOn } from "./tables.ts";

/**
 * Syscalls that do not return to their caller when they succeed, so a tracer that reports only
 * syscall exits (Falco since 0.42) never sees them even though the workload makes them:
 * - `exit`, `exit_group` end the thread or process.
 * - `rt_sigreturn`, `sigreturn` resume the code a signal interrupted: the kernel restores that
 *   code's registers, syscall number included, so the exit event no longer names the call.
 *
 * `restart_syscall` is deliberately absent. The kernel substitutes it when a signal interrupts a
 * sleep such as nanosleep or poll, and it returns like any other call, so an exit-only tracer
 * does report it whenever it happens; whether a recording caught that rare case is a coverage
 * question, not something this list can answer.
 */
const NON_RETURNING_SYSCALLS: readonly string[] = ["exit", "exit_group", "rt_sigreturn", "sigreturn"];

/** The non-returning syscalls that exist on at least one of `arches`, sorted. */
export function nonReturningSyscalls(arches: readonly string[]): string[] {
  return NON_RETURNING_SYSCALLS.filter((name) => isKnownOn(name, arches)).sort();
}
