import { describe, expect, it } from "vitest";
import type { CaptureChange, FalcoControl, FalcoStatus, FalcoTargets } from "../ports.ts";
import { SplitFalco, defaultHotSyscalls } from "./split-falco.ts";

/** A FalcoControl whose state, capture and barrier the test sets. */
class FakeFalco implements FalcoControl {
  applied: FalcoTargets[] = [];
  stopped = 0;
  barrierResult = true;
  current: FalcoStatus;
  #listeners: Array<(change: CaptureChange) => void> = [];

  constructor(status: Partial<FalcoStatus> = {}) {
    this.current = {
      state: "running",
      restarts: 0,
      driverSet: { excluded: [], swaps: 0, swapFailures: 0, swapping: false },
      ...status,
    };
  }

  apply(targets: FalcoTargets): Promise<void> {
    this.applied.push(targets);
    return Promise.resolve();
  }

  status(): FalcoStatus {
    return this.current;
  }

  stop(): Promise<void> {
    this.stopped++;
    return Promise.resolve();
  }

  onCaptureChange(listener: (change: CaptureChange) => void): void {
    this.#listeners.push(listener);
  }

  barrier(): Promise<boolean> {
    return Promise.resolve(this.barrierResult);
  }

  capture(capturing: boolean, at: number, reason?: string): void {
    for (const listener of this.#listeners) listener({ capturing, at, ...(reason ? { reason } : {}) });
  }
}

function pair() {
  const rest = new FakeFalco({ pid: 10, version: "0.44.1" });
  const hot = new FakeFalco({ pid: 20 });
  const split = new SplitFalco({ rest, hot, hotSyscalls: ["write", "read"] });
  const changes: CaptureChange[] = [];
  split.onCaptureChange((change) => changes.push(change));
  return { rest, hot, split, changes };
}

describe("SplitFalco", () => {
  it("captures from the moment the second Falco does until the first one stops, naming the hot one's cause", () => {
    const { rest, hot, changes } = pair();
    rest.capture(true, 100);
    expect(changes).toEqual([]);
    hot.capture(true, 250);
    expect(changes).toEqual([{ capturing: true, at: 250 }]);
    hot.capture(false, 400, "Falco exited with code 1");
    rest.capture(false, 450, "stopped");
    hot.capture(true, 500);
    expect(changes.slice(1)).toEqual([
      { capturing: false, at: 400, reason: "the hot-syscall Falco: Falco exited with code 1" },
    ]);
    rest.capture(true, 600);
    expect(changes.at(-1)).toEqual({ capturing: true, at: 600 });
  });

  it("applies targets to both, stops both, and passes a barrier only when both passed it", async () => {
    const { rest, hot, split } = pair();
    const targets: FalcoTargets = { sessions: [], excludeSyscalls: ["read"] };
    await split.apply(targets);
    expect(rest.applied).toEqual([targets]);
    expect(hot.applied).toEqual([targets]);
    expect(await split.barrier(1000)).toBe(true);
    hot.barrierResult = false;
    expect(await split.barrier(1000)).toBe(false);
    await split.stop();
    expect([rest.stopped, hot.stopped]).toEqual([1, 1]);
  });

  it("reports the worse state, both Falcos' swaps, and a syscall as left out by the Falco whose share it is", () => {
    const { rest, hot, split } = pair();
    rest.current.driverSet = {
      excluded: ["getpid", "read"],
      swaps: 1,
      swapFailures: 0,
      swapping: false,
      syscalls: 400,
      lastSwapAt: 1000,
    };
    hot.current.driverSet = {
      excluded: ["getpid", "write"],
      swaps: 2,
      swapFailures: 1,
      swapping: true,
      lastSwapAt: 2000,
    };
    rest.current.capturingSince = 50;
    hot.current.capturingSince = 70;
    expect(split.status()).toEqual({
      state: "running",
      version: "0.44.1",
      pid: 10,
      restarts: 0,
      capturingSince: 70,
      driverSet: {
        excluded: ["getpid", "write"],
        swaps: 3,
        swapFailures: 1,
        swapping: true,
        syscalls: 400,
        lastSwapAt: 2000,
      },
      hot: { state: "running", pid: 20, restarts: 0, syscalls: ["read", "write"] },
    });
    hot.current = { ...hot.current, state: "backoff", restarts: 2, lastExit: "killed by SIGKILL" };
    const failing = split.status();
    expect(failing.state).toBe("backoff");
    expect(failing.restarts).toBe(2);
    expect(failing.lastExit).toBe("the hot-syscall Falco: killed by SIGKILL");
    expect(failing.capturingSince).toBeUndefined();
    hot.current = { ...hot.current, state: "stopped" };
    expect(split.status().state).toBe("starting");
    rest.current = { ...rest.current, state: "stopped" };
    expect(split.status().state).toBe("stopped");
  });
});

describe("defaultHotSyscalls", () => {
  it("keeps the whole default list on x86_64 and leaves out what arm64 does not have", () => {
    const x86 = defaultHotSyscalls("SCMP_ARCH_X86_64");
    expect(x86).toHaveLength(17);
    expect(x86).toEqual(expect.arrayContaining(["select", "poll", "epoll_wait", "read", "futex"]));
    const arm = defaultHotSyscalls("SCMP_ARCH_AARCH64");
    expect(arm).not.toEqual(expect.arrayContaining(["select"]));
    expect(x86.filter((name) => !arm.includes(name))).toEqual(["epoll_wait", "poll", "select"]);
    expect(arm).toEqual(expect.arrayContaining(["epoll_pwait", "ppoll", "read", "pread64"]));
  });
});
