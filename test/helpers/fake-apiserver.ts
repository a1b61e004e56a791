/**
 * A stand-in for the Kubernetes API server, for tests of lib/k8s: plain HTTP on 127.0.0.1 with
 * bearer-token auth, speaking enough of the real API that @kubernetes/client-node works against it
 * unchanged — discovery, list/get/create/update/patch/delete, label and field selectors, resource
 * versions, watches (so informers work), server-side apply with field ownership and conflicts
 * (lists with a merge key, such as `containers`, owned item by item as the real server's
 * associative lists), status subresources, and the pods/portforward WebSocket protocol
 * (v4.channel.k8s.io) bridged to a local TCP port.
 *
 * What it leaves out, on purpose: TLS, admission and validation, garbage collection (deleting a
 * Deployment leaves its pods), graceful pod termination (DELETE removes at once), pagination, and
 * strategic-merge semantics beyond merge keys for the common lists.
 *
 * The modules under fake-apiserver/ each do one job; this file is what tests import.
 */
export { startFakeApiServer } from "./fake-apiserver/server.ts";
export type {
  FakeApiServer,
  FakeApiServerOptions,
  FakeObject,
  FakeObjectMeta,
  ForbidRule,
  JsonObject,
  RecordedRequest,
} from "./fake-apiserver/types.ts";
export { CRONJOB_JOB_SUFFIX, containerIdFor, templateHashFor, uidFor } from "./fake-apiserver/objects/ids.ts";
export { makeNamespace, makeNode } from "./fake-apiserver/objects/cluster.ts";
export type { NodeSpec } from "./fake-apiserver/objects/cluster.ts";
export { makePod } from "./fake-apiserver/objects/pod.ts";
export type { PodSpecInput } from "./fake-apiserver/objects/pod.ts";
export { makeService } from "./fake-apiserver/objects/service.ts";
export {
  makeDaemonSet,
  makeDeployment,
  makeJob,
  makeReplicaSet,
} from "./fake-apiserver/objects/workloads.ts";
export type { DaemonSetSpecInput, DeploymentSpecInput } from "./fake-apiserver/objects/workloads.ts";
