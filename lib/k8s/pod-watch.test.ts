import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ErrorCodes } from "../errors.ts";
import {
  makeNamespace,
  makePod,
  makeReplicaSet,
  startFakeApiServer,
} from "../../test/helpers/fake-apiserver.ts";
import type { FakeApiServer } from "../../test/helpers/fake-apiserver.ts";
import { loadKube } from "./client.ts";
import type { Kube } from "./client.ts";
import { watchPods } from "./pod-watch.ts";
import type { PodWatch, PodWatchEvent } from "./pod-watch.ts";

/** Records events as text and lets a test wait until a number of them arrived. */
function recorder() {
  const seen: string[] = [];
  let wake: () => void = () => {};
  return {
    seen,
    listener(e: PodWatchEvent) {
      seen.push(
        `${e.type} ${e.pod.metadata?.namespace}/${e.pod.metadata?.name} ${e.owner.kind}/${e.owner.name}`,
      );
      wake();
    },
    until(count: number): Promise<void> {
      return new Promise((resolve) => {
        wake = () => {
          if (seen.length >= count) resolve();
        };
        wake();
      });
    },
  };
}

let fake: FakeApiServer;
let kube: Kube;
let watch: PodWatch | undefined;

beforeEach(async () => {
  fake = await startFakeApiServer({
    objects: [
      makeNamespace("shop"),
      makeReplicaSet({ deployment: "web", namespace: "shop" }),
      makePod({
        name: "web-1",
        namespace: "shop",
        node: "node-a",
        owner: { kind: "Deployment", name: "web" },
      }),
      makePod({
        name: "web-2",
        namespace: "shop",
        node: "node-b",
        owner: { kind: "Deployment", name: "web" },
      }),
      makePod({
        name: "agent-a",
        namespace: "default",
        node: "node-a",
        owner: { kind: "DaemonSet", name: "agent" },
      }),
    ],
  });
  kube = loadKube({ kubeconfig: fake.kubeconfigPath });
});

afterEach(async () => {
  await watch?.stop();
  watch = undefined;
  await fake.stop();
});

describe("watchPods", () => {
  it("loads the pods of its node only, with their workload owners, before resolving", async () => {
    const rec = recorder();
    watch = await watchPods(kube, { node: "node-a", onChange: rec.listener });
    expect([...rec.seen].sort()).toEqual([
      "added default/agent-a DaemonSet/agent",
      "added shop/web-1 Deployment/web",
    ]);
    expect([...watch.pods().values()].map((p) => p.metadata?.name).sort()).toEqual(["agent-a", "web-1"]);
    const uid = [...watch.pods().keys()].find((u) => watch!.get(u)?.metadata?.name === "web-1")!;
    expect(watch.ownerOf(uid)).toEqual({ kind: "Deployment", name: "web" });
    expect(fake.requests.find((r) => r.query.watch === "true")).toMatchObject({
      path: "/api/v1/pods",
      query: { fieldSelector: "spec.nodeName=node-a" },
    });
  });

  it("sees pods added, modified and deleted on its node, in order, and nothing from other nodes", async () => {
    watch = await watchPods(kube, { node: "node-a" });
    const rec = recorder();
    watch.onChange(rec.listener);
    fake.add(makePod({ name: "elsewhere", namespace: "shop", node: "node-b" }));
    fake.add(
      makePod({ name: "job-1", namespace: "shop", node: "node-a", owner: { kind: "Job", name: "migrate" } }),
    );
    const job = fake.get("Pod", "shop", "job-1")!;
    fake.update({ ...job, status: { ...(job.status as object), phase: "Succeeded" } });
    fake.remove("Pod", "shop", "job-1");
    await rec.until(3);
    expect(rec.seen).toEqual([
      "added shop/job-1 Job/migrate",
      "modified shop/job-1 Job/migrate",
      "deleted shop/job-1 Job/migrate",
    ]);
    expect([...watch.pods().values()].map((p) => p.metadata?.name).sort()).toEqual(["agent-a", "web-1"]);
  });

  it("resumes after the API server ends the watch, missing nothing", async () => {
    watch = await watchPods(kube, { node: "node-a" });
    const rec = recorder();
    watch.onChange(rec.listener);
    fake.dropWatches();
    fake.add(makePod({ name: "late", namespace: "shop", node: "node-a" }));
    await rec.until(1);
    expect(rec.seen).toEqual(["added shop/late Pod/late"]);
    expect(fake.requests.filter((r) => r.query.watch === "true").length).toBeGreaterThanOrEqual(2);
  });

  it("stops telling listeners anything once stopped", async () => {
    const rec = recorder();
    const stopped = await watchPods(kube, { node: "node-a", onChange: rec.listener });
    await stopped.stop();
    const count = rec.seen.length;
    fake.add(makePod({ name: "after", namespace: "shop", node: "node-a" }));
    // A watch that still ran would have delivered this one before the next request is answered.
    await kube.core.listNode();
    expect(rec.seen.length).toBe(count);
  });

  it("rejects with SC_K8S_FORBIDDEN when it may not list pods", async () => {
    fake.forbid({ verb: "list", resource: "pods" });
    await expect(watchPods(kube, { node: "node-a" })).rejects.toMatchObject({
      code: ErrorCodes.SC_K8S_FORBIDDEN,
      message: expect.stringContaining('watch pods on node "node-a"'),
    });
  });

  it("watches every pod of the cluster when given no node, and keeps none when asked not to", async () => {
    const rec = recorder();
    watch = await watchPods(kube, { onChange: rec.listener, keepPods: false });
    expect([...rec.seen].sort()).toEqual([
      "added default/agent-a DaemonSet/agent",
      "added shop/web-1 Deployment/web",
      "added shop/web-2 Deployment/web",
    ]);
    expect(watch.node).toBeUndefined();
    expect(watch.pods().size).toBe(0);
    const listed = fake.requests.find((r) => r.path === "/api/v1/pods" && r.query.watch !== "true");
    expect(listed?.query.fieldSelector).toBeUndefined();
    fake.remove("Pod", "shop", "web-2");
    await rec.until(4);
    expect(rec.seen[3]).toBe("deleted shop/web-2 Deployment/web");
  });

  it("names no node in its error when it watches the whole cluster", async () => {
    fake.forbid({ verb: "list", resource: "pods" });
    await expect(watchPods(kube, {})).rejects.toMatchObject({
      code: ErrorCodes.SC_K8S_FORBIDDEN,
      message: expect.stringMatching(/watch pods \(403/),
    });
  });
});
