import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ErrorCodes } from "../errors.ts";
import { makeNamespace, makePod, startFakeApiServer, uidFor } from "../../test/helpers/fake-apiserver.ts";
import type { FakeApiServer } from "../../test/helpers/fake-apiserver.ts";
import { loadKube } from "./client.ts";
import type { Kube } from "./client.ts";
import {
  FALCO_HEALTHY_CONDITION,
  MAX_MESSAGE_LENGTH,
  createPodReporter,
  recordPodEvent,
  setPodCondition,
} from "./report.ts";

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
}

const AGENT = {
  namespace: "seccompose",
  name: "seccompose-agent-x7k2p",
  uid: uidFor("Pod", "seccompose", "seccompose-agent-x7k2p"),
};

let fake: FakeApiServer;
let kube: Kube;

beforeEach(async () => {
  fake = await startFakeApiServer({
    objects: [
      makeNamespace("seccompose"),
      makePod({
        name: AGENT.name,
        namespace: AGENT.namespace,
        node: "node-a",
        owner: { kind: "DaemonSet", name: "seccompose-agent" },
      }),
    ],
  });
  kube = loadKube({ kubeconfig: fake.kubeconfigPath });
});

afterEach(async () => {
  await fake.stop();
});

function conditions(): Condition[] {
  return (fake.get("Pod", AGENT.namespace, AGENT.name)!.status as { conditions: Condition[] }).conditions;
}

function falcoCondition(): Condition | undefined {
  return conditions().find((c) => c.type === FALCO_HEALTHY_CONDITION);
}

describe("setPodCondition", () => {
  it("adds the condition to the pod's status with a strategic merge patch, keeping the kubelet's conditions", async () => {
    const changed = await setPodCondition(
      kube,
      AGENT,
      {
        type: FALCO_HEALTHY_CONDITION,
        status: "False",
        reason: "FalcoExited",
        message: "falco exited with code 1",
      },
      new Date("2025-03-01T12:00:00.750Z"),
    );
    expect(changed).toBe(true);
    expect(conditions().map((c) => c.type)).toEqual([
      "PodScheduled",
      "Initialized",
      "ContainersReady",
      "Ready",
      FALCO_HEALTHY_CONDITION,
    ]);
    expect(falcoCondition()).toEqual({
      type: FALCO_HEALTHY_CONDITION,
      status: "False",
      reason: "FalcoExited",
      message: "falco exited with code 1",
      lastTransitionTime: "2025-03-01T12:00:00Z",
    });
    const patch = fake.requests.find((r) => r.method === "PATCH")!;
    expect(patch).toMatchObject({
      path: `/api/v1/namespaces/${AGENT.namespace}/pods/${AGENT.name}/status`,
      contentType: "application/strategic-merge-patch+json",
    });
  });

  it("writes nothing when the condition is already as given, and moves the transition time only when the status changes", async () => {
    const falcoDown = {
      type: FALCO_HEALTHY_CONDITION,
      status: "False" as const,
      reason: "FalcoExited",
      message: "exit 1",
    };
    await setPodCondition(kube, AGENT, falcoDown, new Date("2025-03-01T12:00:00Z"));
    const patches = () => fake.requests.filter((r) => r.method === "PATCH").length;
    expect(await setPodCondition(kube, AGENT, falcoDown, new Date("2025-03-01T12:05:00Z"))).toBe(false);
    expect(patches()).toBe(1);

    await setPodCondition(kube, AGENT, { ...falcoDown, message: "exit 2" }, new Date("2025-03-01T12:10:00Z"));
    expect(falcoCondition()).toMatchObject({ message: "exit 2", lastTransitionTime: "2025-03-01T12:00:00Z" });

    await setPodCondition(
      kube,
      AGENT,
      {
        type: FALCO_HEALTHY_CONDITION,
        status: "True",
        reason: "FalcoRunning",
        message: "falco 0.44.1 running",
      },
      new Date("2025-03-01T12:15:00Z"),
    );
    expect(falcoCondition()).toMatchObject({ status: "True", lastTransitionTime: "2025-03-01T12:15:00Z" });
    expect(patches()).toBe(3);
  });

  it("fails with SC_K8S_FORBIDDEN naming pods/status when RBAC does not allow the patch", async () => {
    fake.forbid({ verb: "patch", resource: "pods/status" });
    await expect(
      setPodCondition(kube, AGENT, {
        type: FALCO_HEALTHY_CONDITION,
        status: "Unknown",
        reason: "Starting",
        message: "",
      }),
    ).rejects.toMatchObject({
      code: ErrorCodes.SC_K8S_FORBIDDEN,
      message: expect.stringContaining(
        `Not allowed to patch pods/status "${AGENT.name}" in namespace "seccompose"`,
      ),
    });
  });
});

describe("recordPodEvent", () => {
  it("creates an Event about the pod that kubectl lists for it", async () => {
    const now = new Date("2025-03-01T12:00:00Z");
    await recordPodEvent(
      kube,
      AGENT,
      { type: "Warning", reason: "FalcoCrashLooping", message: "falco restarted 5 times: driver not loaded" },
      { host: "node-a" },
      now,
    );
    const events = fake.list("Event", AGENT.namespace);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      metadata: { name: expect.stringMatching(new RegExp(`^${AGENT.name}\\.[0-9a-f]+$`)) },
      involvedObject: {
        apiVersion: "v1",
        kind: "Pod",
        namespace: AGENT.namespace,
        name: AGENT.name,
        uid: AGENT.uid,
      },
      type: "Warning",
      reason: "FalcoCrashLooping",
      message: "falco restarted 5 times: driver not loaded",
      source: { component: "seccompose-agent", host: "node-a" },
      count: 1,
      firstTimestamp: "2025-03-01T12:00:00.000Z",
    });
    const res = await fetch(
      `${fake.url}/api/v1/namespaces/${AGENT.namespace}/events?fieldSelector=${encodeURIComponent(`involvedObject.name=${AGENT.name}`)}`,
      { headers: { authorization: `Bearer ${fake.token}` } },
    );
    expect(((await res.json()) as { items: unknown[] }).items).toHaveLength(1);
  });

  it("cuts a message longer than the API server accepts", async () => {
    const event = await recordPodEvent(kube, AGENT, {
      type: "Warning",
      reason: "FalcoError",
      message: "x".repeat(5000),
    });
    expect(event.message).toHaveLength(MAX_MESSAGE_LENGTH);
    expect(event.message?.endsWith("…")).toBe(true);
  });
});

describe("createPodReporter", () => {
  it("counts a repeated event on the existing Event instead of creating another", async () => {
    const reporter = createPodReporter(kube, AGENT, { host: "node-a" });
    const crash = { type: "Warning" as const, reason: "FalcoExited", message: "falco exited with code 1" };
    await reporter.event(crash);
    await reporter.event(crash);
    await reporter.event(crash);
    await reporter.event({ type: "Normal", reason: "FalcoRunning", message: "falco running again" });
    const events = fake.list("Event", AGENT.namespace);
    expect(events.map((e) => [e.reason, e.count])).toEqual(
      expect.arrayContaining([
        ["FalcoExited", 3],
        ["FalcoRunning", 1],
      ]),
    );
    expect(events).toHaveLength(2);
  });

  it("starts a new Event when the one it counted on has expired", async () => {
    const reporter = createPodReporter(kube, AGENT);
    const crash = { type: "Warning" as const, reason: "FalcoExited", message: "exit 1" };
    await reporter.event(crash);
    fake.remove("Event", AGENT.namespace, fake.list("Event", AGENT.namespace)[0]!.metadata!.name!);
    await reporter.event(crash);
    expect(fake.list("Event", AGENT.namespace).map((e) => e.count)).toEqual([1]);
  });

  it("does not even read the pod again for a condition it already set", async () => {
    const reporter = createPodReporter(kube, AGENT);
    const healthy = {
      type: FALCO_HEALTHY_CONDITION,
      status: "True" as const,
      reason: "FalcoRunning",
      message: "ok",
    };
    await reporter.condition(healthy);
    const before = fake.requests.length;
    await reporter.condition(healthy);
    expect(fake.requests.length).toBe(before);
    expect(falcoCondition()?.status).toBe("True");
  });
});
