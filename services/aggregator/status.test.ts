import { describe, expect, it } from "vitest";
import { assertValid } from "../../lib/contracts/validators.ts";
import { noOwnershipRefusals } from "./pod-ownership.ts";
import { AggregatorState } from "./session-state.ts";
import { noRefusals } from "./session.ts";
import { buildStatus, requestedSession } from "./status.ts";

const T0 = 1_764_000_000_000;
const encode = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

describe("status reply", () => {
  it("describes a recording session: nodes, merged batch ranges, missing nodes and workloads", () => {
    const state = new AggregatorState(() => T0);
    state.setRecord({
      schemaVersion: 1,
      id: "s1",
      mode: "oneshot",
      state: "stopping",
      createdAt: "2026-11-27T10:00:00Z",
      stopDeadline: "2026-11-27T10:05:00Z",
      expectedNodes: ["node-b", "node-a"],
      targets: {},
      profile: {},
    });
    for (const seq of [1, 2, 4]) {
      state.apply({
        schemaVersion: 1,
        kind: "batch",
        session: "s1",
        node: "node-a",
        arch: "x86_64",
        seq,
        sentAt: T0 + seq,
        droppedEvents: 3,
        workloads: [
          {
            workload: { namespace: "ns", kind: "Pod", name: "p", container: "c" },
            syscalls: [
              { name: "read", count: seq, firstSeen: T0 },
              { name: "write", count: 1, firstSeen: T0 },
            ],
          },
        ],
      });
    }
    state.apply({
      schemaVersion: 1,
      kind: "fin",
      session: "s1",
      node: "node-a",
      batches: 4,
      sentAt: T0 + 9,
      droppedEvents: 3,
    });
    state.noteBadMessage();
    const status = buildStatus(state, {
      instance: "abc",
      now: T0,
      consumer: {
        stream: "SC_EVENTS",
        durable: "sc_aggregator",
        numPending: 12,
        numAckPending: 3,
        ackFloor: 40,
      },
      checkpoint: undefined,
      session: undefined,
      podOwnershipOff: "no Kubernetes API",
    });
    assertValid("aggregatorStatus", status, "test");
    expect(status).toMatchObject({ instance: "abc", badBatches: 1, consumer: { numPending: 12 } });
    expect(status.sessions).toEqual([
      {
        session: "s1",
        mode: "oneshot",
        state: "recording",
        expectedNodes: ["node-a", "node-b"],
        nodesReporting: 1,
        missingNodes: ["node-a", "node-b"],
        stopDeadline: "2026-11-27T10:05:00Z",
        lastEventAt: new Date(T0 + 4).toISOString(),
        batchesMerged: 3,
        eventsMerged: 6,
        lateBatches: 0,
        nodes: [
          {
            name: "node-a",
            arch: "x86_64",
            batchesMerged: 3,
            eventsMerged: 6,
            mergedBatches: "1-2,4",
            finBatches: 4,
            complete: false,
            droppedEvents: 3,
            lastEventAt: new Date(T0 + 9).toISOString(),
            workloads: 1,
            tuples: 2,
            refusedEvents: 0,
            ownershipRefused: noOwnershipRefusals(),
            limited: false,
          },
        ],
        workloads: [
          {
            workload: { namespace: "ns", kind: "Pod", name: "p", container: "c" },
            token: "ns_Pod_p_c",
            profileKey: "s1.ns_Pod_p_c",
            syscalls: 2,
            revision: 0,
            converged: false,
            lastChangeAt: new Date(T0).toISOString(),
            frozen: false,
            driftEvents: 0,
            drifted: 0,
          },
        ],
        refused: noRefusals(),
        heldMessages: 0,
        ownershipWaiting: 0,
        tuples: 2,
      },
    ]);
    expect(status).toMatchObject({
      podOwnershipChecked: false,
      podOwnershipReason: "no Kubernetes API",
      caughtUp: true,
      refused: noRefusals(),
    });
    const other = buildStatus(state, {
      instance: "abc",
      now: T0,
      consumer: undefined,
      checkpoint: undefined,
      session: "other",
      podOwnershipOff: undefined,
    });
    expect(other.sessions).toEqual([]);
    expect(other.podOwnershipChecked).toBe(true);
    expect(other.podOwnershipReason).toBeUndefined();
  });

  it("reads the session a request asks about, or all of them for an empty body", () => {
    expect(requestedSession(new Uint8Array(0))).toEqual({ session: undefined });
    expect(requestedSession(encode({}))).toEqual({ session: undefined });
    expect(requestedSession(encode({ session: "s1" }))).toEqual({ session: "s1" });
    expect(requestedSession(encode({ session: "a.b" }))).toHaveProperty("error");
    expect(requestedSession(new TextEncoder().encode("{"))).toEqual({
      error: "the status request body is not JSON",
    });
  });
});
