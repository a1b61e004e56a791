import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorCodes } from "../errors.ts";
import {
  makeDaemonSet,
  makeNamespace,
  makePod,
  startFakeApiServer,
} from "../../test/helpers/fake-apiserver.ts";
import type { FakeApiServer, FakeObject } from "../../test/helpers/fake-apiserver.ts";
import { agentDaemonSetStatus, missingAgents, selectorString } from "./agents.ts";
import { loadKube } from "./client.ts";
import type { Kube } from "./client.ts";

const LABELS = { "app.kubernetes.io/name": "seccompose-agent" };

function crashLooping(pod: FakeObject): FakeObject {
  const status = pod.status as {
    containerStatuses: Array<{ state: unknown; ready: boolean; restartCount: number }>;
  };
  status.containerStatuses[0]!.state = {
    waiting: { reason: "CrashLoopBackOff", message: "back-off 5m0s restarting failed container" },
  };
  status.containerStatuses[0]!.restartCount = 7;
  return pod;
}

let fake: FakeApiServer;
let kube: Kube;

beforeAll(async () => {
  const agentPod = (node: string, ready = true) =>
    makePod({
      name: `seccompose-agent-${node}`,
      namespace: "seccompose",
      node,
      labels: LABELS,
      owner: { kind: "DaemonSet", name: "seccompose-agent" },
      containers: [{ name: "agent" }, { name: "falco" }],
      ready,
    });
  fake = await startFakeApiServer({
    objects: [
      makeNamespace("seccompose"),
      makeDaemonSet({
        name: "seccompose-agent",
        namespace: "seccompose",
        labels: LABELS,
        desired: 4,
        current: 3,
        ready: 2,
        updated: 3,
      }),
      agentPod("node-b"),
      agentPod("node-a"),
      crashLooping(agentPod("node-c", false)),
      // Same labels, another owner: not one of the DaemonSet's agents.
      makePod({ name: "impostor", namespace: "seccompose", node: "node-d", labels: LABELS }),
    ],
  });
  kube = loadKube({ kubeconfig: fake.kubeconfigPath });
});

afterAll(async () => {
  await fake.stop();
});

describe("agentDaemonSetStatus", () => {
  it("reports the DaemonSet's numbers and the nodes its own pods run on", async () => {
    const status = await agentDaemonSetStatus(kube, "seccompose", "seccompose-agent");
    expect(status).toMatchObject({
      desired: 4,
      current: 3,
      ready: 2,
      available: 2,
      updated: 3,
      misscheduled: 0,
    });
    expect(status.nodes).toEqual(["node-a", "node-b", "node-c"]);
    expect(status.readyNodes).toEqual(["node-a", "node-b"]);
    expect(status.pods.map((p) => [p.node, p.ready, p.reason])).toEqual([
      ["node-a", true, undefined],
      ["node-b", true, undefined],
      ["node-c", false, "CrashLoopBackOff: back-off 5m0s restarting failed container"],
    ]);
    expect(fake.requests.at(-1)?.query.labelSelector).toBe("app.kubernetes.io/name=seccompose-agent");
  });

  it("names the agents that did not answer and counts those not scheduled anywhere", async () => {
    const status = await agentDaemonSetStatus(kube, "seccompose", "seccompose-agent");
    expect(missingAgents(status, ["node-a", "node-x"])).toEqual({
      silent: ["node-b", "node-c"],
      unscheduled: 1,
    });
    expect(missingAgents(status, ["node-a", "node-b", "node-c"])).toEqual({ silent: [], unscheduled: 1 });
  });

  it("fails with SC_K8S_NOT_FOUND when the DaemonSet is not installed", async () => {
    await expect(agentDaemonSetStatus(kube, "seccompose", "other")).rejects.toMatchObject({
      code: ErrorCodes.SC_K8S_NOT_FOUND,
      message: expect.stringContaining('get daemonsets "other" in namespace "seccompose"'),
    });
  });
});

describe("selectorString", () => {
  it("writes matchLabels and every matchExpressions operator in the list API's syntax", () => {
    expect(
      selectorString({
        matchLabels: { app: "agent", tier: "node" },
        matchExpressions: [
          { key: "env", operator: "In", values: ["prod", "staging"] },
          { key: "canary", operator: "NotIn", values: ["true"] },
          { key: "owner", operator: "Exists" },
          { key: "legacy", operator: "DoesNotExist" },
        ],
      }),
    ).toBe("app=agent,tier=node,env in (prod,staging),canary notin (true),owner,!legacy");
  });
});
