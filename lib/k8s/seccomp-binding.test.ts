import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { startFakeApiServer, makeNamespace } from "../../test/helpers/fake-apiserver.ts";
import type { FakeApiServer, FakeObject } from "../../test/helpers/fake-apiserver.ts";
import type { WorkloadKey } from "../contracts/types.ts";
import { ErrorCodes } from "../errors.ts";
import { loadKube, type Kube } from "./client.ts";
import {
  applyBinding,
  assertTemplateMutable,
  bindingFieldManager,
  bindingManaged,
  bindingPatch,
  bindingTarget,
  findContainer,
  readOwner,
  unbindingPatch,
} from "./seccomp-binding.ts";

const key = (kind: string, container = "app"): WorkloadKey => ({
  namespace: "shop",
  kind,
  name: "nightly",
  container,
});

describe("binding targets and patches", () => {
  it("binds the five owner kinds and refuses a bare Pod or ReplicaSet", () => {
    expect(bindingTarget(key("Deployment"))).toMatchObject({
      apiVersion: "apps/v1",
      resource: "deployments",
    });
    expect(bindingTarget(key("CronJob"))).toMatchObject({ apiVersion: "batch/v1", resource: "cronjobs" });
    for (const kind of ["Pod", "ReplicaSet", "Node"]) {
      expect(() => bindingTarget(key(kind))).toThrow(
        expect.objectContaining({ code: ErrorCodes.SC_WORKLOAD_UNSUPPORTED }),
      );
    }
    expect(() => assertTemplateMutable(bindingTarget(key("Job")))).toThrow(
      expect.objectContaining({ code: ErrorCodes.SC_WORKLOAD_IMMUTABLE }),
    );
    expect(() => assertTemplateMutable(bindingTarget(key("StatefulSet")))).not.toThrow();
  });

  it("puts a CronJob's binding under its job template, and only the container's two fields", () => {
    expect(bindingPatch(bindingTarget(key("CronJob")), "initContainers", "seccompose/p.json")).toEqual({
      apiVersion: "batch/v1",
      kind: "CronJob",
      metadata: { name: "nightly", namespace: "shop" },
      spec: {
        jobTemplate: {
          spec: {
            template: {
              spec: {
                initContainers: [
                  {
                    name: "app",
                    securityContext: {
                      seccompProfile: { type: "Localhost", localhostProfile: "seccompose/p.json" },
                    },
                  },
                ],
              },
            },
          },
        },
      },
    });
    expect(unbindingPatch(bindingTarget(key("CronJob")))).toEqual({
      apiVersion: "batch/v1",
      kind: "CronJob",
      metadata: { name: "nightly", namespace: "shop" },
    });
  });

  it("finds the container among containers and init containers, and names the ones there when it is missing", () => {
    const target = bindingTarget(key("Deployment", "migrate"));
    const owner = {
      apiVersion: "apps/v1",
      kind: "Deployment",
      spec: {
        template: {
          spec: {
            containers: [{ name: "app" }],
            initContainers: [
              { name: "migrate", securityContext: { seccompProfile: { type: "RuntimeDefault" } } },
            ],
          },
        },
      },
    };
    expect(findContainer(target, owner)).toEqual({
      list: "initContainers",
      seccompProfile: { type: "RuntimeDefault" },
    });
    expect(() => findContainer(bindingTarget(key("Deployment", "nope")), owner)).toThrow(
      'has no container "nope" in its pod template (containers: app, migrate)',
    );
  });
});

describe("binding a CronJob through server-side apply", () => {
  let api: FakeApiServer;
  let kube: Kube;
  beforeEach(async () => {
    api = await startFakeApiServer({ objects: [makeNamespace("shop")] });
    kube = loadKube({ kubeconfig: api.kubeconfigPath });
    const cronJob: FakeObject = {
      apiVersion: "batch/v1",
      kind: "CronJob",
      metadata: { name: "nightly", namespace: "shop" },
      spec: {
        schedule: "0 3 * * *",
        jobTemplate: {
          spec: {
            template: { spec: { restartPolicy: "Never", containers: [{ name: "app", image: "batch:1" }] } },
          },
        },
      },
    };
    const res = await fetch(`${api.url}/apis/batch/v1/namespaces/shop/cronjobs/nightly?fieldManager=gitops`, {
      method: "PATCH",
      headers: { authorization: `Bearer ${api.token}`, "content-type": "application/apply-patch+yaml" },
      body: JSON.stringify(cronJob),
    });
    expect(res.status).toBe(201);
  });
  afterEach(async () => {
    await api.stop();
  });

  it("binds the container of the job template, and unbinding restores the template as its owner wrote it", async () => {
    const target = bindingTarget(key("CronJob"));
    const before = await readOwner(kube, target);
    expect(bindingManaged(target, before)).toBe(false);
    const bound = await applyBinding(kube, target, bindingPatch(target, "containers", "seccompose/p.json"));
    expect(findContainer(target, bound).seccompProfile).toEqual({
      type: "Localhost",
      localhostProfile: "seccompose/p.json",
    });
    expect(bindingManaged(target, bound)).toBe(true);
    expect(bound.metadata?.managedFields?.map((m) => m.manager).sort()).toEqual(
      ["gitops", bindingFieldManager("app")].sort(),
    );
    const unbound = await applyBinding(kube, target, unbindingPatch(target));
    expect((unbound as unknown as { spec: unknown }).spec).toEqual(
      (before as unknown as { spec: unknown }).spec,
    );
    expect(bindingManaged(target, unbound)).toBe(false);
  });
});
