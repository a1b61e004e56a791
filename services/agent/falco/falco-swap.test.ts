import { pino } from "pino";
import { describe, expect, it } from "vitest";
import type { FalcoStatus, FalcoTargets } from "../ports.ts";
import { AwaitedConditions } from "./awaited-conditions.ts";
import type { FalcoSlot } from "./config-writer.ts";
import { FalcoRun, type LineMode } from "./falco-run.ts";
import { FalcoSwaps, widens, type SwapHost } from "./falco-swap.ts";
import { FakeFalcoProcess } from "../../../test/helpers/fake-falco-process.ts";
import { sessionInNamespaces } from "../../../test/helpers/session-record.ts";

const TAG = "probe-00ff-";
const DROP = "16:30:22.000000000: Critical Falco internal: syscall event drop";
const CGROUP = "/kubepods/burstable/pod5d0c8a3e-1f2b-4a6c-9d7e-0b1a2c3d4e5f/4f1e2d3c4b5a";
/** A compact alert of a pod process, which a successor must see too. */
const podAlert = (pid: number, n: number) =>
  `16:30:21.000000000: Debug sc1|${1_764_000_000_000_000_000n + BigInt(n)}|read|0|${pid}|${pid}|<NA>|<NA>|<NA>|<NA>|${CGROUP}`;

interface Falco {
  child: FakeFalcoProcess;
  run: FalcoRun;
  /** What it prints after each probe it reports. */
  afterProbe: (seq: number) => string[];
}

/**
 * A swap between two fake Falcos. Each probe the swap touches comes back through each Falco
 * that still runs, followed by what that Falco's `afterProbe` prints.
 */
function swapBench(
  options: {
    successor?: "captures" | "crashes" | "none";
    swapRetryMs?: number[];
    dropReportMs?: number;
  } = {},
) {
  const lines: string[] = [];
  const failures: string[] = [];
  const calls: string[] = [];
  const conditions = new AwaitedConditions();
  const logger = pino({ level: "silent" });
  const falcos: Falco[] = [];
  let running: FalcoRun | null = null;
  let seq = 0;
  const start = (slot: FalcoSlot, mode: LineMode, afterProbe: Falco["afterProbe"]): Falco => {
    const child = new FakeFalcoProcess();
    const run = new FalcoRun({
      child: child.child,
      pid: 100 + falcos.length,
      slot,
      targets: { sessions: [] },
      signature: "",
      mode,
      probeTag: TAG,
      threadOrigins: () => null,
      onLine: (line) => lines.push(line),
      logger,
      events: {
        opened: () => undefined,
        probeReturned: (r) => {
          if (r.mode === "hold") conditions.wake();
          if (r === swaps.incoming && !r.capturing) swaps.successorCaptures(r);
        },
        reloadFailed: () => undefined,
        heldTooMany: (r) => swaps.heldTooMany(r),
        closed: (r, code, signal) => {
          if (r === swaps.incoming) swaps.successorExited(r, code, signal);
        },
        afterClosed: () => conditions.wake(),
      },
    });
    const falco = { child, run, afterProbe };
    falcos.push(falco);
    return falco;
  };
  const host: SwapHost = {
    running: () => running,
    startSuccessor: async (slot) => {
      if (options.successor === "none") return null;
      const successor = start(slot, "discard", (n) => [`new after ${n}`]);
      successor.child.stdout.write("new before capture\n");
      // The successor's own capture probe, made before the swap's.
      setImmediate(() =>
        options.successor === "crashes"
          ? successor.child.exit(1, null, "cannot open the driver")
          : successor.child.stdout.write(`1 probe /cfg/${TAG}0\n`),
      );
      return successor.run;
    },
    cutOver: (run) => {
      calls.push(`cutOver ${run.pid}`);
      running = run;
    },
    swapped: () => calls.push("swapped"),
    reloadInPlace: (run) => calls.push(`reloadInPlace ${run.pid}`),
  };
  const probes = {
    get last() {
      return seq;
    },
    next: () => ++seq,
    touch: async (n: number) => {
      for (const { child, run, afterProbe } of falcos) {
        if (!run.stopping) child.stdout.write([`1 probe /cfg/${TAG}${n}`, ...afterProbe(n), ""].join("\n"));
      }
    },
    stop: () => undefined,
  };
  const swaps: FalcoSwaps = new FalcoSwaps({
    host,
    probes,
    conditions,
    backoff: { ended: (run) => calls.push(`ended ${run.pid}`) },
    binary: "falco",
    logger,
    onFailure: (reason) => failures.push(reason),
    clock: () => 1_000,
    swapTimeoutMs: 2_000,
    swapRetryMs: options.swapRetryMs ?? [60_000],
    dropReportMs: options.dropReportMs ?? 20,
    stopGraceMs: 10_000,
  });
  const old = start("a", "forward", (n) => (n === 2 ? [`old after ${n}`, DROP] : [`old after ${n}`]));
  old.run.capturing = true;
  running = old.run;
  return { swaps, old, falcos, lines, failures, calls };
}

const driverSet = (swaps: FalcoSwaps) => {
  const set: FalcoStatus["driverSet"] = { excluded: [], swaps: 0, swapFailures: 0, swapping: false };
  swaps.report(set);
  return set;
};

describe("FalcoSwaps", () => {
  it("hands on the old Falco's alerts up to the cutover probe and the successor's from there, with the old one's drops, then retires the old one", async () => {
    const bench = swapBench();
    bench.old.child.stdout.write("old before the swap\n");
    await bench.swaps.swap(bench.old.run, false);

    const successor = bench.falcos[1]!;
    expect(bench.calls).toEqual([`cutOver ${successor.run.pid}`, `ended ${bench.old.run.pid}`, "swapped"]);
    expect(bench.lines[0]).toBe("old before the swap");
    expect(bench.lines[1]).toBe(DROP);
    const handedOn = bench.lines.slice(2);
    expect(handedOn.length).toBeGreaterThanOrEqual(2);
    expect(handedOn).toEqual(handedOn.map((_, i) => `new after ${i + 1}`));
    expect(successor.run.mode).toBe("forward");
    expect(bench.old.run).toMatchObject({ mode: "drops", stopping: true, capturing: false, held: [] });
    expect(driverSet(bench.swaps)).toEqual({
      excluded: [],
      swaps: 1,
      swapFailures: 0,
      swapping: false,
      lastSwapAt: 1_000,
    });
    expect(bench.failures).toEqual([]);

    await bench.old.run.closed;
    expect(bench.old.child.signals).toEqual(["SIGTERM"]);
  });

  it("gives the swap up when the successor exits before it captures: the old Falco hands on what it held and goes on", async () => {
    const bench = swapBench({ successor: "crashes" });
    await bench.swaps.swap(bench.old.run, false);
    expect(bench.failures).toEqual([
      "Falco swap failed: the second Falco exited before it captured (Error: cannot open the driver)",
    ]);
    expect(bench.calls).toEqual([]);
    expect(bench.old.run.mode).toBe("forward");
    expect(driverSet(bench.swaps)).toMatchObject({
      swaps: 0,
      swapFailures: 1,
      swapping: false,
      lastSwapFailure: "the second Falco exited before it captured (Error: cannot open the driver)",
    });
    // Optional swaps wait after a failure; a raise does not.
    expect(bench.swaps.waits(false)).toBe(true);
    expect(bench.swaps.waits(true)).toBe(false);
  });

  it("reloads the old Falco in place when a raise cannot swap, here with no second Falco at all", async () => {
    const bench = swapBench({ successor: "none", swapRetryMs: [0] });
    await bench.swaps.swap(bench.old.run, true);
    expect(bench.failures).toEqual(["Falco swap failed: cannot start a second Falco (falco)"]);
    expect(bench.calls).toEqual([`reloadInPlace ${bench.old.run.pid}`]);
    expect(bench.swaps.waits(false)).toBe(false);
  });

  it("gives the swap up when the successor does not see a pod process the running Falco sees busy", async () => {
    const bench = swapBench();
    bench.falcos[0]!.afterProbe = (n) => [
      podAlert(4242, n * 10),
      podAlert(4242, n * 10 + 1),
      podAlert(4242, n * 10 + 2),
    ];
    await bench.swaps.swap(bench.old.run, false);
    expect(bench.failures).toEqual([
      expect.stringMatching(
        /^Falco swap failed: the second Falco does not attribute processes that ran before it started \(1 seen by the running Falco only, e\.g\. .*kubepods.* pid 4242\)$/,
      ),
    ]);
    expect(bench.calls).toEqual([]);
    // What the old Falco held from the cutover probe on is handed on, nothing of the successor's.
    expect(bench.lines.filter((line) => line.includes("new"))).toEqual([]);
    expect(bench.lines.filter((line) => line.includes("|4242|")).length).toBeGreaterThanOrEqual(6);
    expect(bench.falcos[1]!.child.signals).toEqual(["SIGKILL"]);
  });

  it("stops the old Falcos still reporting their drops when asked, before their time is up", async () => {
    const bench = swapBench({ dropReportMs: 60_000 });
    await bench.swaps.swap(bench.old.run, false);
    expect(bench.old.child.signals).toEqual([]);
    await bench.swaps.stopRetiring();
    expect(bench.old.child.signals).toEqual(["SIGTERM"]);
    // Gone: a second stop has nothing left to stop.
    await bench.swaps.stopRetiring();
    expect(bench.old.child.signals).toEqual(["SIGTERM"]);
  });
});

describe("widens", () => {
  const base: FalcoTargets = {
    sessions: [sessionInNamespaces("s1", ["a"]), sessionInNamespaces("s2", ["b"])],
    excludeSyscalls: ["read"],
    excludePodUids: ["p1"],
  };

  it.each<[string, FalcoTargets, boolean]>([
    ["leaves out more syscalls", { ...base, excludeSyscalls: ["read", "write"] }, false],
    ["no longer leaves a syscall out", { ...base, excludeSyscalls: [] }, true],
    ["no longer leaves a pod out", { ...base, excludePodUids: [] }, true],
    [
      "adds a session's namespace",
      { ...base, sessions: [...base.sessions, sessionInNamespaces("s3", ["c"])] },
      true,
    ],
    [
      "has the same namespaces in another order of sessions",
      { ...base, sessions: [...base.sessions].reverse() },
      false,
    ],
  ])("a change that %s: %s", (_, next, widened) => {
    expect(widens(base, next, base)).toBe(widened);
  });
});
