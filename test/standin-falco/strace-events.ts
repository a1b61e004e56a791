/**
 * What Falco ≥ 0.42 reports for the syscalls strace recorded of one command (the stand-in's
 * strace mode, see standin-falco.ts): Falco's event names, return values and raw arguments, the
 * process tree strace hides, and the command's pod cgroup.
 */
import { constants } from "node:os";
import { basename } from "node:path";
import type { SyscallRecord } from "../../lib/strace/parse.ts";
import { type CommandSpec, type StandinEvent, cgroupPath, nowNs } from "./alert-format.ts";

/** Kernel names whose Falco event is named differently (see lib/falco/event-names.ts for the reverse). */
const FALCO_EVENT_NAMES = new Map([
  ["pread64", "pread"],
  ["pwrite64", "pwrite"],
  ["prlimit64", "prlimit"],
  ["_llseek", "llseek"],
  ["sendfile64", "sendfile"],
  ["fcntl64", "fcntl"],
  ["ugetrlimit", "getrlimit"],
  ["mmap2", "mmap"],
]);
/** Calls that do not return, so Falco ≥ 0.42 never reports them. */
const NEVER_RETURN = new Set(["exit", "exit_group", "rt_sigreturn", "sigreturn"]);
const PROCESS_EXIT = new Set(["exit", "exit_group"]);
const CLONE_CALLS = new Set(["clone", "clone3", "fork", "vfork"]);
const EXEC_CALLS = new Set(["execve", "execveat"]);
const CLONE_THREAD = 0x10000n;

/** Falco's name for a kernel syscall name (32-bit-only variants are reported as the native call). */
export function falcoEventName(kernelName: string): string {
  const mapped = FALCO_EVENT_NAMES.get(kernelName);
  if (mapped !== undefined) return mapped;
  if (/^(?:[gs]et(?:res|re|fs|e)?[ug]id|[gs]etgroups|[fl]?chown)32$/.test(kernelName)) {
    return kernelName.slice(0, -2);
  }
  return kernelName;
}

/** strace's result text as Falco's int64 return value; null when the call did not return. */
export function returnValue(result: string): bigint | null {
  const failed = /^-1 (E[A-Z0-9]+)\b/.exec(result);
  if (failed) {
    const errno = (constants.errno as Record<string, number | undefined>)[failed[1]!];
    return errno === undefined ? null : BigInt(-errno);
  }
  const numbered = /^-1 \(errno (\d+)\)/.exec(result);
  if (numbered) return -BigInt(numbered[1]!);
  const value = /^(-?(?:0x[0-9a-f]+|\d+))\b/i.exec(result);
  if (!value) return null;
  return value[1]!.startsWith("-") ? -BigInt(value[1]!.slice(1)) : BigInt(value[1]!);
}

/** The raw arguments the agent's rule asks for, where this call has them. */
function rawArgsOf(record: SyscallRecord): Map<string, { value: bigint; radix: 10 | 16 }> {
  const args = new Map<string, { value: bigint; radix: 10 | 16 }>();
  const first = record.args?.[0];
  const second = record.args?.[1];
  if ((record.name === "socket" || record.name === "socketpair") && first !== undefined) {
    args.set("domain", { value: first, radix: 10 });
  } else if (record.name === "ioctl" && second !== undefined) {
    args.set("request", { value: second, radix: 16 });
  } else if (record.name === "ptrace" && first !== undefined) {
    args.set("request", { value: first, radix: 10 });
  } else if (record.name === "prctl" && first !== undefined) {
    args.set("option", { value: first, radix: 10 });
  }
  return args;
}

/**
 * The events of one command's records, in order, as `spec`'s container; none of `notAsked`, as
 * the driver never delivers what base_syscalls leaves out.
 */
export function* commandEvents(
  spec: CommandSpec,
  records: readonly SyscallRecord[],
  notAsked: ReadonlySet<string>,
): Generator<StandinEvent> {
  const cgroup = cgroupPath(spec);
  const processName = basename(spec.cmd[0] ?? "");
  const { threadGroupOf, parentOf } = processTree(records);
  for (const record of records) {
    const pid = threadGroupOf.get(record.pid) ?? record.pid;
    const base = {
      timeNs: nowNs(),
      pid,
      tid: record.pid,
      ppid: parentOf.get(pid) ?? null,
      processName,
      cgroup,
      container: spec,
    };
    if (PROCESS_EXIT.has(record.name)) {
      yield { ...base, type: "procexit", rawres: null, rawArgs: new Map() };
      continue;
    }
    if (NEVER_RETURN.has(record.name) || record.name.startsWith("syscall_")) continue;
    const rawres = returnValue(record.result);
    if (rawres === null) continue;
    const type = falcoEventName(record.name);
    if (notAsked.has(record.name) || notAsked.has(type)) continue;
    yield { ...base, type, rawres, rawArgs: rawArgsOf(record) };
  }
}

/**
 * Thread group and parent of every traced task, from the results of clone-type calls. strace
 * shows only task ids; `clone` says CLONE_THREAD in its flags, `clone3` hides its flags in
 * memory, so a `clone3` child counts as a process if it ever execs (posix_spawn) and as a
 * thread otherwise (pthread_create).
 */
export function processTree(records: readonly SyscallRecord[]): {
  threadGroupOf: Map<number, number>;
  parentOf: Map<number, number>;
} {
  const execs = new Set(records.filter((r) => EXEC_CALLS.has(r.name) && r.result === "0").map((r) => r.pid));
  const threadGroupOf = new Map<number, number>();
  const parentOf = new Map<number, number>();
  for (const record of records) {
    if (!CLONE_CALLS.has(record.name)) continue;
    const child = returnValue(record.result);
    if (child === null || child <= 0n) continue;
    const childId = Number(child);
    const group = threadGroupOf.get(record.pid) ?? record.pid;
    const flags = record.args?.[0] ?? 0n;
    const isThread =
      record.name === "clone"
        ? (flags & CLONE_THREAD) !== 0n
        : record.name === "clone3" && !execs.has(childId);
    threadGroupOf.set(childId, isThread ? group : childId);
    if (!isThread) parentOf.set(childId, group);
  }
  return { threadGroupOf, parentOf };
}
