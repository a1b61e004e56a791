/**
 * Falco event names (`evt.type`) versus kernel/libseccomp syscall names.
 *
 * Facts from falcosecurity/libs 0.25.4 (Falco 0.44.1), `driver/syscall_table.c` and
 * `driver/event_table.c`:
 * - A syscall with a dedicated event is reported under the event's name, which differs from the
 *   kernel name for `pread64`, `pwrite64`, `prlimit64` and `_llseek` on 64-bit kernels.
 * - A syscall without a dedicated event is a generic event and `evt.type` is its kernel name.
 * - Falco's drivers only run on 64-bit kernels. For 32-bit (ia32) tasks the driver first converts
 *   the syscall number to the x86_64 equivalent (`driver/syscall_ia32_64_map.c`: `_llseek` ->
 *   `lseek`, `fcntl64` -> `fcntl`, `sendfile64` -> `sendfile`, `ugetrlimit` -> `getrlimit`,
 *   `mmap2` -> `mmap`, `setuid32` -> `setuid`, ...). The 32-bit-only names can therefore never be
 *   recovered from an event, and this module maps to the native 64-bit ABI names only:
 *   `sendfile`, `fcntl`, `getrlimit` and the uid/gid calls keep their names. A profile that must
 *   also cover 32-bit tasks has to add their 32-bit variants itself.
 */

/** What an `evt.type` value stands for. */
export type FalcoEventClass = { kind: "syscall"; name: string } | { kind: "non-syscall" };

/** Event names that differ from the syscall they report, with the kernel (libseccomp) name. */
const KERNEL_NAME_BY_EVENT: ReadonlyMap<string, string> = new Map([
  ["pread", "pread64"],
  ["pwrite", "pwrite64"],
  ["prlimit", "prlimit64"],
  // Only a 32-bit kernel has `_llseek`; kept so the name is right should the event ever appear.
  ["llseek", "_llseek"],
]);

/**
 * Every event of libs 0.25.4 that is not a syscall: tracepoints, meta events, plugin events,
 * BPF iterator events, and the generic placeholder `syscall` (a syscall Falco cannot name, so no
 * profile entry can be derived from it) plus `NA` (unknown event).
 */
const NON_SYSCALL_EVENTS: ReadonlySet<string> = new Set([
  // tracepoints
  "procexit",
  "switch",
  "signaldeliver",
  "page_fault",
  // meta events
  "drop",
  "scapevent",
  "procinfo",
  "cpu_hotplug",
  "notification",
  "infra",
  "container",
  "useradded",
  "userdeleted",
  "groupadded",
  "groupdeleted",
  "asyncevent",
  "k8s",
  "mesos",
  "tracer",
  // plugin events
  "pluginevent",
  // BPF iterator events
  "task",
  "task_file_pipe",
  "task_file_memfd",
  "task_file_regular",
  "task_file_directory",
  "task_file_socket_inet",
  "task_file_socket_inet6",
  "task_file_socket_unix",
  "task_file_socket_netlink",
  "task_file_anon_inode",
  // placeholders
  "syscall",
  "NA",
]);

// Bounded: `evt.type` comes from input, and the real vocabulary is a few hundred names.
const CLASS_CACHE_LIMIT = 2048;
const classCache = new Map<string, FalcoEventClass>();

/**
 * Classifies a Falco `evt.type` and gives the kernel syscall name (native 64-bit ABI) for
 * syscall events. Names Falco may add later are assumed to be syscalls under their kernel name,
 * because that is how Falco names every syscall without a dedicated event; the non-syscall
 * events are a closed list above.
 */
export function falcoEventToSyscall(evtType: string): FalcoEventClass {
  let result = classCache.get(evtType);
  if (result === undefined) {
    result = NON_SYSCALL_EVENTS.has(evtType)
      ? { kind: "non-syscall" }
      : { kind: "syscall", name: KERNEL_NAME_BY_EVENT.get(evtType) ?? evtType };
    if (classCache.size < CLASS_CACHE_LIMIT) classCache.set(evtType, result);
  }
  return result;
}

const EVENT_BY_KERNEL_NAME: ReadonlyMap<string, string> = new Map(
  [...KERNEL_NAME_BY_EVENT].map(([event, kernel]) => [kernel, event]),
);

/**
 * The Falco event name of a kernel syscall name: the name `base_syscalls.custom_set` takes,
 * the inverse of `falcoEventToSyscall` for syscalls.
 */
export function syscallToFalcoEvent(kernelName: string): string {
  return EVENT_BY_KERNEL_NAME.get(kernelName) ?? kernelName;
}
