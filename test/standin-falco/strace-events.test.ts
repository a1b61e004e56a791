import { describe, expect, it } from "vitest";
import type { SyscallRecord } from "../../lib/strace/parse.ts";
import { cgroupPath, type CommandSpec } from "./alert-format.ts";
import { commandEvents, falcoEventName, processTree, returnValue } from "./strace-events.ts";

const CLONE_THREAD = 0x10000n;

function record(pid: number, name: string, result: string, args: bigint[] | null = null): SyscallRecord {
  return { kind: "syscall", pid, name, args, result };
}

const spec: CommandSpec = { cmd: ["/usr/bin/app", "--serve"], podUid: "p-1", containerId: "c1" };

describe("what the stand-in reports of strace's records", () => {
  it("names events as Falco does", () => {
    expect(falcoEventName("pread64")).toBe("pread");
    expect(falcoEventName("setuid32")).toBe("setuid");
    expect(falcoEventName("fchown32")).toBe("fchown");
    expect(falcoEventName("openat")).toBe("openat");
  });

  it("reads strace's result as Falco's return value, and none for a call that did not return", () => {
    expect(returnValue("0")).toBe(0n);
    expect(returnValue("-1 ENOENT (No such file or directory)")).toBe(-2n);
    expect(returnValue("-1 (errno 512)")).toBe(-512n);
    expect(returnValue("0x7f3a00000000")).toBe(0x7f3a00000000n);
    expect(returnValue("-1 ENOSUCHERRNO (?)")).toBeNull();
    expect(returnValue("?")).toBeNull();
  });

  it("tells threads from processes: clone by CLONE_THREAD, clone3 by whether the child execs", () => {
    const { threadGroupOf, parentOf } = processTree([
      record(10, "clone", "11", [CLONE_THREAD]),
      record(10, "clone", "12", [0n]),
      record(11, "clone3", "13", null),
      record(10, "clone3", "14", null),
      record(14, "execve", "0"),
    ]);
    expect(Object.fromEntries(threadGroupOf)).toEqual({ 11: 10, 12: 12, 13: 10, 14: 14 });
    expect(Object.fromEntries(parentOf)).toEqual({ 12: 10, 14: 10 });
  });

  it("puts a pod's command in its cgroup, in either layout", () => {
    expect(cgroupPath(spec)).toBe("/kubepods/burstable/podp-1/c1");
    expect(cgroupPath({ ...spec, cgroupLayout: "systemd" })).toBe(
      "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-podp_1.slice/cri-containerd-c1.scope",
    );
  });

  it("reports returned calls with their raw arguments, a procexit per exit, nothing left out by base_syscalls", () => {
    const events = [
      ...commandEvents(
        spec,
        [
          record(10, "clone", "11", [CLONE_THREAD]),
          record(11, "socket", "3", [2n, 1n, 0n]),
          record(11, "ioctl", "0", [3n, 0x5401n]),
          record(11, "read", "?"),
          record(11, "pread64", "5"),
          record(11, "write", "-1 EBADF (Bad file descriptor)"),
          record(11, "rt_sigreturn", "0"),
          record(11, "exit", "?"),
          record(10, "exit_group", "?"),
        ],
        new Set(["pread"]),
      ),
    ];
    expect(events.map((e) => [e.type, e.pid, e.tid, e.rawres])).toEqual([
      ["clone", 10, 10, 11n],
      ["socket", 10, 11, 3n],
      ["ioctl", 10, 11, 0n],
      ["write", 10, 11, -9n],
      ["procexit", 10, 11, null],
      ["procexit", 10, 10, null],
    ]);
    expect(Object.fromEntries(events[1]!.rawArgs)).toEqual({ domain: { value: 2n, radix: 10 } });
    expect(Object.fromEntries(events[2]!.rawArgs)).toEqual({ request: { value: 0x5401n, radix: 16 } });
    expect(events[0]).toMatchObject({
      processName: "app",
      ppid: null,
      cgroup: "/kubepods/burstable/podp-1/c1",
      container: spec,
    });
  });
});
