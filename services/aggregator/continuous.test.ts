import { describe, expect, it } from "vitest";
import { WorkloadObservations } from "../../lib/profile/observations.ts";
import {
  confirmStep,
  freeze,
  isOutside,
  newTrack,
  nextStep,
  noteShapeChange,
  reconcileRevision,
  shapeOf,
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
    t.driftSeen.add("node-a\u0000ptrace\u0000*");
    t.driftEvents = 1;
    const copy = trackFromSnapshot(structuredClone(trackToSnapshot(t)));
    expect(copy).toEqual(t);
    expect(isOutside(copy.frozen!.shape, "socket", ["10"])).toBe(false);
  });
});
