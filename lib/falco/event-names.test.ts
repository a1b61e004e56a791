import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { falcoEventToSyscall, syscallToFalcoEvent } from "./event-names.ts";
import { FALCO_FIXTURES_DIR } from "../../test/helpers/falco-fixtures.ts";

/** Event names per section of `falco --list-events` (Falco 0.44.1, recorded in the fixtures). */
function listedEvents(): Map<string, Set<string>> {
  const text = readFileSync(`${FALCO_FIXTURES_DIR}/falco-list-events.txt`, "utf8");
  const sections = new Map<string, Set<string>>();
  let current: Set<string> | undefined;
  for (const line of text.split("\n")) {
    const heading = /^## (.+)$/.exec(line);
    if (heading) {
      current = new Set();
      sections.set(heading[1]!, current);
      continue;
    }
    const event = /^[<>] (\w+)\(/.exec(line);
    if (event && current) current.add(event[1]!);
  }
  return sections;
}

/** Names libseccomp on this machine does not know for x86_64 (pseudo-syscall numbers count as known). */
function unknownToLibseccomp(names: readonly string[]): string[] {
  const script = [
    "import sys, seccomp",
    "for name in sys.stdin.read().split():",
    "    try:",
    "        known = seccomp.resolve_syscall(seccomp.Arch.X86_64, name) != -1",
    "    except Exception:",
    "        known = False",
    "    if not known: print(name)",
  ].join("\n");
  const result = spawnSync("/usr/bin/python3", ["-c", script], { input: names.join("\n"), encoding: "utf8" });
  expect(result.status, result.stderr).toBe(0);
  return result.stdout.split("\n").filter((name) => name.length > 0);
}

// Syscalls newer than libseccomp 2.5.4 (the version on this machine); a newer libseccomp knows
// some of them, so only inclusion in this list is asserted.
const NEWER_THAN_LIBSECCOMP_2_5_4 = new Set([
  "file_getattr",
  "file_setattr",
  "getxattrat",
  "listmount",
  "listns",
  "listxattrat",
  "lsm_get_self_attr",
  "lsm_list_modules",
  "lsm_set_self_attr",
  "mseal",
  "open_tree_attr",
  "removexattrat",
  "riscv_hwprobe",
  "rseq_slice_yield",
  "setxattrat",
  "statmount",
  "uprobe",
  "uretprobe",
]);

describe("falcoEventToSyscall", () => {
  const sections = listedEvents();
  const syscallEvents = [...sections.get("Syscall events")!];

  it("classifies every syscall event Falco 0.44.1 lists as a syscall", () => {
    expect(syscallEvents.length).toBeGreaterThan(400);
    for (const event of syscallEvents) expect(falcoEventToSyscall(event).kind, event).toBe("syscall");
  });

  it("classifies every tracepoint, plugin and meta event Falco 0.44.1 lists as non-syscall", () => {
    const others = ["Tracepoint events", "Plugin events", "Metaevents"].flatMap((name) => [
      ...sections.get(name)!,
    ]);
    expect(others).toEqual(expect.arrayContaining(["procexit", "switch", "signaldeliver", "page_fault"]));
    expect(others).toEqual(expect.arrayContaining(["container", "asyncevent", "drop", "pluginevent"]));
    for (const event of others) expect(falcoEventToSyscall(event), event).toEqual({ kind: "non-syscall" });
  });

  it("classifies the BPF iterator events and the unnamed generic placeholder as non-syscall", () => {
    for (const event of ["task", "task_file_regular", "task_file_socket_inet6", "syscall", "NA"]) {
      expect(falcoEventToSyscall(event), event).toEqual({ kind: "non-syscall" });
    }
  });

  it("renames the events whose names differ from the kernel's", () => {
    expect(falcoEventToSyscall("pread")).toEqual({ kind: "syscall", name: "pread64" });
    expect(falcoEventToSyscall("pwrite")).toEqual({ kind: "syscall", name: "pwrite64" });
    expect(falcoEventToSyscall("prlimit")).toEqual({ kind: "syscall", name: "prlimit64" });
    expect(falcoEventToSyscall("llseek")).toEqual({ kind: "syscall", name: "_llseek" });
  });

  it("keeps the native 64-bit names that only 32-bit kernels rename", () => {
    for (const name of [
      "sendfile",
      "fcntl",
      "getrlimit",
      "setuid",
      "getresgid",
      "mmap",
      "newfstatat",
      "pipe2",
    ]) {
      expect(falcoEventToSyscall(name)).toEqual({ kind: "syscall", name });
    }
  });

  it("takes an event name it does not know for a syscall of that name", () => {
    expect(falcoEventToSyscall("some_future_syscall")).toEqual({
      kind: "syscall",
      name: "some_future_syscall",
    });
  });

  it("maps every listed syscall event to a name libseccomp knows, except syscalls newer than libseccomp", () => {
    const mapped = syscallEvents.map((event) => {
      const result = falcoEventToSyscall(event);
      return result.kind === "syscall" ? result.name : event;
    });
    const unknown = unknownToLibseccomp(mapped);
    expect(unknown.filter((name) => !NEWER_THAN_LIBSECCOMP_2_5_4.has(name))).toEqual([]);
    // The unmapped Falco names are not syscall names at all, so the mapping is needed.
    expect(unknownToLibseccomp(["pread", "pwrite", "prlimit", "llseek"])).toEqual([
      "pread",
      "pwrite",
      "prlimit",
      "llseek",
    ]);
  });
});

describe("syscallToFalcoEvent", () => {
  it("gives back the event name of every Falco 0.44.1 syscall event from its kernel name", () => {
    for (const event of listedEvents().get("Syscall events")!) {
      const kernel = falcoEventToSyscall(event);
      if (kernel.kind === "syscall") expect(syscallToFalcoEvent(kernel.name), event).toBe(event);
    }
    expect(syscallToFalcoEvent("pread64")).toBe("pread");
    expect(syscallToFalcoEvent("getsid")).toBe("getsid");
  });
});
