import { pino } from "pino";
import { beforeEach, describe, expect, it } from "vitest";
import { SeccomposeError } from "../../../lib/errors.ts";
import { sessionRecord } from "../../../test/helpers/session-record.ts";
import type { AdaptiveSyscallOptions } from "../falco/syscall-set-policy.ts";
import type {
  CaptureChange,
  FalcoControl,
  FalcoStatus,
  FalcoTargets,
  PodDirectory,
  PodInfo,
} from "../ports.ts";
import { FalcoPlan } from "./falco-plan.ts";
import { LeftOutCoverage } from "./left-out-coverage.ts";
import { newSession, type Session } from "./session.ts";

const T0 = 1_800_000_000_000;
const WEB_CID = "a".repeat(64);
const WEB: PodInfo = {
  uid: "pod-web",
  name: "web-0",
  namespace: "shop",
  labels: {},
  owner: { kind: "Deployment", name: "web" },
  containers: { [WEB_CID]: "nginx" },
};
const DB: PodInfo = { ...WEB, uid: "pod-db", name: "db-0", namespace: "data", containers: {} };
const ADAPTIVE: AdaptiveSyscallOptions = {
  minEventsPerSecond: 1,
  stableMs: 0,
  retryAfterMs: [30_000],
  maxFailures: 3,
  evaluateIntervalMs: 500,
};

/** Takes the excluded syscalls it is asked for, and counts a swap (or a failed one) when they change. */
class FakeFalco implements FalcoControl {
  readonly applied: FalcoTargets[] = [];
  /** The coverage's left-out syscalls while each apply was under way. */
  readonly leftOutDuringApply: string[][] = [];
  driverSet = { excluded: [] as string[], swaps: 0, swapFailures: 0, swapping: false };
  swapFails = false;
  failure: Error | undefined;
  readonly #coverage: LeftOutCoverage;
  constructor(coverage: LeftOutCoverage) {
    this.#coverage = coverage;
  }
  async apply(targets: FalcoTargets): Promise<void> {
    this.applied.push(targets);
    this.leftOutDuringApply.push([...this.#coverage.leftOut].sort());
    if (this.failure !== undefined) throw this.failure;
    const excluded = [...(targets.excludeSyscalls ?? [])];
    if (excluded.join() === this.driverSet.excluded.join()) return;
    if (this.swapFails) this.driverSet = { ...this.driverSet, swapFailures: this.driverSet.swapFailures + 1 };
    else this.driverSet = { ...this.driverSet, excluded, swaps: this.driverSet.swaps + 1 };
  }
  status(): FalcoStatus {
    return { state: "running", restarts: 0, driverSet: this.driverSet };
  }
  async stop(): Promise<void> {}
  onCaptureChange(_listener: (change: CaptureChange) => void): void {}
  async barrier(): Promise<boolean> {
    return true;
  }
}

const pods: PodDirectory = {
  byUid: (uid) => [WEB, DB].find((p) => p.uid === uid),
  pods: () => [WEB, DB],
  onChange: () => {},
};

let now: number;
let coverage: LeftOutCoverage;
let falco: FakeFalco;

function plan(options: { adaptive?: boolean; excludeNonTargetPods?: boolean } = {}): FalcoPlan {
  return new FalcoPlan({
    falco,
    pods,
    clock: () => now,
    logger: pino({ level: "silent" }),
    coverage,
    adaptiveSyscalls: options.adaptive === true ? ADAPTIVE : undefined,
    excludeNonTargetPods: options.excludeNonTargetPods,
  });
}

function shopSession(id = "s1"): Session {
  return newSession(sessionRecord(id, { targets: { namespaces: ["shop"] } }), [], T0, true);
}

function recordCalls(session: Session, name: string, calls: number): void {
  const meta = { pod: WEB.name, podUid: WEB.uid, containerId: WEB_CID };
  const workload = { namespace: "shop", kind: "Deployment", name: "web", container: "nginx" };
  for (let i = 0; i < calls; i++) session.tracker.record(WEB_CID, workload, meta, name, undefined, now);
}

beforeEach(() => {
  now = T0;
  coverage = new LeftOutCoverage();
  falco = new FakeFalco(coverage);
});

describe("FalcoPlan", () => {
  it("asks for the running sessions, leaving out the known pods none of them targets only when told to", async () => {
    const running = [shopSession("s1"), shopSession("s2")];
    await plan({ excludeNonTargetPods: true }).apply(running);
    await plan().apply(running);
    expect(falco.applied).toEqual([
      { sessions: running.map((s) => s.record), excludePodUids: ["pod-db"], excludeSyscalls: [] },
      { sessions: running.map((s) => s.record), excludePodUids: [], excludeSyscalls: [] },
    ]);
  });

  it("is stale after pods changed when the plan depends on pods, and until an apply succeeds", async () => {
    const fixed = plan();
    expect(fixed.podsChanged()).toBe(false);
    expect(fixed.stale).toBe(false);

    const byPods = plan({ excludeNonTargetPods: true });
    expect(byPods.podsChanged()).toBe(true);
    expect(byPods.stale).toBe(true);
    falco.failure = new SeccomposeError("SC_FILE_WRITE", "cannot write the Falco rules");
    await expect(byPods.apply([shopSession()])).rejects.toMatchObject({ code: "SC_FILE_WRITE" });
    expect(byPods.stale).toBe(true);
    falco.failure = undefined;
    await byPods.apply([shopSession()]);
    expect(byPods.stale).toBe(false);
  });

  it("lowers the driver set by a heavy syscall every target showed, counting both sets as left out during the swap", async () => {
    const adaptive = plan({ adaptive: true });
    const session = shopSession();
    recordCalls(session, "futex", 100);
    await adaptive.apply([session]);
    // The first evaluation only measures the rate.
    expect(falco.applied[0]!.excludeSyscalls).toEqual([]);
    now += 1000;
    recordCalls(session, "futex", 100);
    await adaptive.apply([session]);
    expect(falco.applied[1]!.excludeSyscalls).toEqual(["futex"]);
    expect(falco.leftOutDuringApply[1]).toEqual(["futex"]);
    expect([...coverage.leftOut]).toEqual(["futex"]);
    expect(adaptive.adaptiveState(now)).toBe("active");
  });

  it("backs the adaptive set off after a failed lowering swap, and leaves out only what the driver really does", async () => {
    const adaptive = plan({ adaptive: true });
    const session = shopSession();
    recordCalls(session, "futex", 100);
    await adaptive.apply([session]);
    now += 1000;
    recordCalls(session, "futex", 100);
    falco.swapFails = true;
    await adaptive.apply([session]);
    expect(falco.applied[1]!.excludeSyscalls).toEqual(["futex"]);
    expect([...coverage.leftOut]).toEqual([]);
    expect(adaptive.adaptiveState(now)).toBe("backoff");
    expect(adaptive.adaptiveState(now + 30_000)).toBe("active");
    expect(plan().adaptiveState(now)).toBe("disabled");
  });
});
