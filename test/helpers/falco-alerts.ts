import type { FalcoSyscallAlert, FalcoSyscallArgs } from "../../services/agent/intake/alert.ts";

/** The arguments of an alert that carried none. */
export const NO_SYSCALL_ARGS: FalcoSyscallArgs = {
  domain: null,
  domainText: null,
  request: null,
  requestText: null,
  option: null,
  optionText: null,
  flags: null,
  flagsText: null,
};

/** A syscall alert of a process in a kubelet pod container, as the intake hands it on. */
export function syscallAlert(
  name: string,
  podUid: string,
  containerId: string,
  timeMs: number,
  args: Partial<FalcoSyscallArgs> = {},
): FalcoSyscallAlert {
  return {
    kind: "syscall",
    syscall: name,
    falcoType: name,
    timeNs: BigInt(timeMs) * 1_000_000n + 123n,
    hostname: "node-a",
    pid: 10,
    tid: 10,
    processName: "app",
    cgroup: `/kubepods/burstable/pod${podUid}/${containerId}`,
    podUid,
    containerId,
    container: null,
    res: 0,
    args: { ...NO_SYSCALL_ARGS, ...args },
  };
}
