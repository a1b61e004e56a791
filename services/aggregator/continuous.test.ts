import { describe, expect, it } from "vitest";
import { WorkloadObservations } from "../../lib/profile/observations.ts";
import {
  confirmStep,
  driftKey,
  driftReportDue,
  driftReportOf,
  freeze,
  isOutside,
  newTrack,
  nextStep,
  noteDrift,
  noteShapeChange,
  reconcileRevision,
  shapeOf,
  takeDrift,
  trackFromSnapshot,
  trackToSnapshot,
} from "./continuous.ts";

const settings = { convergenceWindowSeconds: 10, revisionDebounceMs: 1000 };

function observations(): WorkloadObservations {
  const wo = new WorkloadObservations({ namespace: "ns", kind: "Pod", name: "p", container: "c" });
  wo.observe("node-a", "read", 1, 0);
  wo.observe("node-a", "socket", 1, 0, ["2"]);
  wo.observe("node-a", "socket", 1, 0, ["10"]);
  wo.observe("node-a", "connect", 1, 0, ["3"]);
  return wo;
}

describe("continuous profiles", () => {
  it("restricts only the argument syscalls of the session, by their recorded tuples", () => {
    const shape = shapeOf(observations(), ["socket"]);
    expect(isOutside(shape, "read", undefined)).toBe(false);
    expect(isOutside(shape, "socket", ["2"])).toBe(false);
    expect(isOutside(shape, "socket", ["16"])).toBe(true);
    expect(isOutside(shape, "socket", undefined)).toBe(true);
    expect(isOutside(shape, "connect", ["99"])).toBe(false);
    expect(isOutside(shape, "ptrace", undefined)).toBe(true);
  });

  it("waits for the debounce window from the first unpublished change, not the last", () => {
    const t = newTrack(0);
    noteShapeChange(t, 0);
    noteShapeChange(t, 900);
    expect(nextStep(t, settings, 999)).toBeUndefined();
    const step = nextStep(t, settings, 1000);
    expect(step).toMatchObject({ kind: "revision", revision: 1, version: 2 });
    confirmStep(t, step!, 1000);
    expect(nextStep(t, settings, 1500)).toBeUndefined();
  });

  it("keeps changes merged while a revision was being published pending", () => {
    const t = newTrack(0);
    noteShapeChange(t, 0);
    const step = nextStep(t, settings, 1000)!;
    noteShapeChange(t, 1001);
    confirmStep(t, step, 1002);
    expect(nextStep(t, settings, 2001)).toBeUndefined();
    expect(nextStep(t, settings, 2002)).toMatchObject({ kind: "revision", revision: 2, version: 2 });
  });

  it("continues after a revision found in KV that the restored state did not know", () => {
    const t = newTrack(0);
    noteShapeChange(t, 0);
    confirmStep(t, nextStep(t, settings, 1000)!, 1000);
    reconcileRevision(t, 4);
    expect(nextStep(t, settings, 1000)).toMatchObject({ kind: "revision", revision: 5 });
    reconcileRevision(t, 2);
    expect(t.revision).toBe(4);
  });

  it("survives a snapshot with its frozen shape and reported drift", () => {
    const t = newTrack(5);
    noteShapeChange(t, 5);
    freeze(t, observations(), ["socket"], 6);
    const entry = {
      node: "node-a",
      containerId: "c".repeat(64),
      pod: "web-0",
      syscall: "ptrace",
      args: undefined,
      count: 3,
      firstSeen: 7,
      lastSeen: 8,
      detectedAt: 9,
    };
    noteDrift(t, driftKey(t, "node-a", entry.containerId, "ptrace", undefined)!, entry);
    noteDrift(t, driftKey(t, "node-b", undefined, "socket", ["16"])!, {
      ...entry,
      node: "node-b",
      containerId: undefined,
      pod: undefined,
      syscall: "socket",
      args: ["16"],
    });
    const copy = trackFromSnapshot(structuredClone(trackToSnapshot(t)));
    expect(copy).toEqual(t);
    expect(isOutside(copy.frozen!.shape, "socket", ["10"])).toBe(false);
  });

  it("keeps one drift entry per node, container, syscall and arguments, raising its count and last sighting", () => {
    const t = newTrack(0);
    freeze(t, observations(), ["socket"], 1);
    expect(driftKey(t, "node-a", "c1", "read", undefined)).toBeUndefined();
    const key = driftKey(t, "node-a", "c1", "ptrace", undefined)!;
    const first = { node: "node-a", containerId: "c1", pod: "p-1", syscall: "ptrace", args: undefined };
    expect(noteDrift(t, key, { ...first, count: 1, firstSeen: 10, lastSeen: 20, detectedAt: 21 })).toBe(true);
    expect(noteDrift(t, key, { ...first, count: 4, firstSeen: 10, lastSeen: 40, detectedAt: 41 })).toBe(
      false,
    );
    // A redelivered older batch lowers nothing.
    expect(noteDrift(t, key, { ...first, count: 2, firstSeen: 10, lastSeen: 30, detectedAt: 42 })).toBe(
      false,
    );
    expect(t.drift.get(key)).toMatchObject({ count: 4, firstSeen: 10, lastSeen: 40, detectedAt: 21 });
    expect(driftKey(t, "node-a", "c2", "ptrace", undefined)).not.toBe(key);
    expect(t.driftEvents).toBe(1);

    const report = driftReportOf("c1", observations().key, "ns_Pod_p_c", t, 50);
    expect(report.entries).toEqual([
      {
        node: "node-a",
        pod: "p-1",
        containerId: "c1",
        syscall: "ptrace",
        count: 4,
        firstSeen: new Date(10).toISOString(),
        lastSeen: new Date(40).toISOString(),
        detectedAt: new Date(21).toISOString(),
      },
    ]);
    expect(report).toMatchObject({ frozen: true, frozenRevision: 0, omitted: 0 });
    expect(takeDrift(t, new Set(["write"]))).toEqual([]);
    expect(takeDrift(t, new Set(["ptrace"])).map((e) => e.count)).toEqual([4]);
    expect(t.drift.size).toBe(0);
  });

  it("writes the drift report when it changed, at most once a second", () => {
    const t = newTrack(0);
    freeze(t, observations(), [], 0);
    expect(driftReportDue(t, 0)).toBe(false);
    const e = { node: "n", containerId: undefined, pod: undefined, syscall: "ptrace", args: undefined };
    noteDrift(t, driftKey(t, "n", undefined, "ptrace", undefined)!, {
      ...e,
      count: 1,
      firstSeen: 0,
      lastSeen: 0,
      detectedAt: 0,
    });
    expect(driftReportDue(t, 5)).toBe(true);
    t.driftPublishedVersion = t.driftVersion;
    t.driftPublishedAt = 5;
    noteDrift(t, driftKey(t, "n", undefined, "kill", undefined)!, {
      ...e,
      syscall: "kill",
      count: 1,
      firstSeen: 0,
      lastSeen: 0,
      detectedAt: 0,
    });
    expect(driftReportDue(t, 1004)).toBe(false);
    expect(driftReportDue(t, 1005)).toBe(true);
  });
});
