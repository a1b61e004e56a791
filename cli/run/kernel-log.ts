/**
 * What a complain-mode profile (SCMP_ACT_LOG) would have denied, read back from the kernel log: the
 * kernel writes one audit record (type 1326, action code 0x7ffc0000) per logged call, with the
 * audit architecture and the syscall number. The kernel rate-limits these records, so a count is
 * a lower bound, and other processes' logged calls in the same time window are included too.
 */
import { execFile } from "node:child_process";
import { syscallNameForNumber } from "../../lib/syscalls/tables.ts";

/** SECCOMP_RET_LOG in the audit record's `code` field. */
const RET_LOG = 0x7ffc0000;
const X32_SYSCALL_BIT = 0x40000000;

/** Audit architecture numbers (linux/audit.h) → the SCMP_ARCH_* table to name their syscalls. */
const AUDIT_ARCHES: Record<string, string> = {
  c000003e: "SCMP_ARCH_X86_64",
  "40000003": "SCMP_ARCH_X86",
  c00000b7: "SCMP_ARCH_AARCH64",
  "40000028": "SCMP_ARCH_ARM",
};

const RECORD =
  /audit\((\d+)\.(\d{3}):\d+\).*?\bcomm="((?:[^"\\]|\\.)*)".*?\barch=([0-9a-f]+) syscall=(\d+)\b.*?\bcode=0x([0-9a-f]+)/;

export interface LoggedSyscall {
  /** The syscall's name, or `<arch>:<number>` when no table knows the number. */
  name: string;
  count: number;
  /** The processes (their `comm`) that made it. */
  processes: string[];
}

/** The seccomp log records in `kernelLog` (dmesg text) at or after `sinceMs`, by syscall, most frequent first. */
export function parseLoggedSyscalls(kernelLog: string, sinceMs: number): LoggedSyscall[] {
  const bySyscall = new Map<string, { count: number; processes: Set<string> }>();
  for (const line of kernelLog.split("\n")) {
    if (!line.includes("type=1326")) continue;
    const m = RECORD.exec(line);
    if (m === null || parseInt(m[6]!, 16) !== RET_LOG) continue;
    if (Number(m[1]) * 1000 + Number(m[2]) < sinceMs) continue;
    const number = Number(m[5]);
    let arch = AUDIT_ARCHES[m[4]!];
    if (arch === "SCMP_ARCH_X86_64" && number >= X32_SYSCALL_BIT) arch = "SCMP_ARCH_X32";
    const name = (arch !== undefined ? syscallNameForNumber(arch, number) : undefined) ?? `${m[4]}:${number}`;
    const entry = bySyscall.get(name) ?? { count: 0, processes: new Set<string>() };
    entry.count++;
    entry.processes.add(m[3]!);
    bySyscall.set(name, entry);
  }
  return [...bySyscall]
    .map(([name, e]) => ({ name, count: e.count, processes: [...e.processes].sort() }))
    .sort((a, b) => b.count - a.count || a.name.localeCompare(b.name));
}

/** The kernel log as `dmesg` prints it, or why it cannot be read (no dmesg, no permission). */
export function readKernelLog(): Promise<{ text: string } | { unreadable: string }> {
  return new Promise((resolve) => {
    execFile("dmesg", [], { maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err !== null) resolve({ unreadable: (stderr.trim() || err.message).split("\n")[0]! });
      else resolve({ text: stdout });
    });
  });
}
