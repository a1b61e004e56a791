import { pino } from "pino";
import { describe, expect, it } from "vitest";
import type { NoveltyTracker } from "../edge/novelty-tracker.ts";
import type { FalcoSyscallAlert } from "../intake/alert.ts";
import { syscallAlert } from "../../../test/helpers/falco-alerts.ts";
import { compileTargets } from "../pods/targets.ts";
import type { PodInfo } from "../ports.ts";
import { AlertRouter, type RoutedSession } from "./alert-router.ts";
import { LeftOutCoverage } from "./left-out-coverage.ts";

const CID = "a".repeat(64);
const POD: PodInfo = {
  uid: "pod-1",
  name: "web-0",
  namespace: "shop",
  labels: {},
  owner: { kind: "Deployment", name: "web" },
  containers: { [CID]: "nginx" },
};
/** A call of the pod's container; `null`s: a host process. */
function alert(
  syscall: string,
  podUid: string | null = "pod-1",
  containerId: string | null = CID,
): FalcoSyscallAlert {
  return {
    ...syscallAlert(syscall, podUid ?? "", containerId ?? "", 1_800_000_000_000),
    podUid,
    containerId,
  };
}

function setup(namespaces: string[]) {
  const recorded: string[] = [];
  const session = {
    matcher: compileTargets({ namespaces }),
    argSpecs: new Map(),
    tracker: {
      record: (_c: string, w: { name: string }, _m: unknown, name: string) =>
        recorded.push(`${w.name}:${name}`),
    },
    seen: undefined,
    uncovered: undefined,
  } as unknown as RoutedSession & { tracker: NoveltyTracker };
  const known = new Map<string, PodInfo>();
  const now = 1000;
  let unattributed = 0;
  const router = new AlertRouter<typeof session>({
    pods: { byUid: (uid) => known.get(uid) },
    clock: () => now,
    logger: pino({ level: "silent" }),
    holdUnknownMs: 30_000,
    maxHeldEvents: 2,
    coverage: new LeftOutCoverage(),
    onUncovered: () => {},
    onUnattributed: (n) => (unattributed += n),
  });
  router.setRunning([session]);
  return {
    router,
    recorded,
    known,
    unattributed: () => unattributed,
  };
}

describe("AlertRouter", () => {
  it("records a target container's calls, skips host processes and containers no session targets", () => {
    const t = setup(["shop"]);
    t.known.set("pod-1", POD);
    t.router.route(alert("read"));
    t.router.route(alert("write", null, null));
    t.known.set("pod-2", { ...POD, uid: "pod-2", namespace: "other", containers: { ["b".repeat(64)]: "x" } });
    t.router.route(alert("openat", "pod-2", "b".repeat(64)));
    expect(t.recorded).toEqual(["web:read"]);
    expect(t.unattributed()).toBe(0);
  });

  it("holds calls of a container it does not know yet, bounded, and routes them once the pod appears", () => {
    const t = setup(["shop"]);
    for (const name of ["read", "write", "openat"]) t.router.route(alert(name));
    expect(t.router.heldEvents).toBe(2);
    expect(t.unattributed()).toBe(1);
    t.known.set("pod-1", POD);
    t.router.podsChanged();
    expect(t.recorded).toEqual(["web:write", "web:openat"]);
    expect(t.router.heldEvents).toBe(0);
  });

  it("gives held calls up after holdUnknownMs", () => {
    const t = setup(["shop"]);
    t.router.route(alert("read"));
    // Held at 1000: still held just before 31,000, given up at it.
    t.router.expireHeld(30_999);
    expect(t.router.heldEvents).toBe(1);
    t.router.expireHeld(31_000);
    expect(t.router.heldEvents).toBe(0);
    expect(t.unattributed()).toBe(1);
  });
});
