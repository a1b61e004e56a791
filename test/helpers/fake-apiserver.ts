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
 */
import { createHash, randomUUID } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { IncomingMessage, ServerResponse } from "node:http";
import { connect } from "node:net";
import type { AddressInfo, Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Duplex } from "node:stream";
import { isDeepStrictEqual } from "node:util";
import { parse as parseYaml } from "yaml";
import { parseLabelSelector, selectorMatches } from "../../lib/label-selector.ts";
import type { LabelSelector } from "../../lib/label-selector.ts";

export type JsonObject = { [key: string]: unknown };

export interface FakeObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: Array<{
    apiVersion: string;
    kind: string;
    name: string;
    uid: string;
    controller?: boolean;
    blockOwnerDeletion?: boolean;
  }>;
  [field: string]: unknown;
}

/** Any Kubernetes object as JSON. */
export interface FakeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: FakeObjectMeta;
  [field: string]: unknown;
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  /** Parsed JSON (or YAML, for apply) body; undefined when there was none. */
  body: unknown;
  /** Media type of the body, without parameters; "" when there was none. */
  contentType: string;
}

/** A request the fake answers with 403 Forbidden. Unset fields match anything. */
export interface ForbidRule {
  verb?: "get" | "list" | "watch" | "create" | "update" | "patch" | "delete";
  /** Plural resource name, with the subresource if any: "pods", "pods/status", "daemonsets". */
  resource: string;
  namespace?: string;
}

export interface FakeApiServerOptions {
  /** Objects present from the start, besides the namespaces default, kube-system, kube-public and kube-node-lease. */
  objects?: FakeObject[];
  /** Bearer token the server accepts; the kubeconfig carries it. */
  token?: string;
}

export interface FakeApiServer {
  /** http://127.0.0.1:PORT */
  readonly url: string;
  /** A kubeconfig whose context "fake" (the current one, namespace "default") points at this server. */
  readonly kubeconfigPath: string;
  readonly token: string;
  /** Every request received, in order. */
  readonly requests: RecordedRequest[];
  /** Stores a new object as a controller would (no checks), notifies watches, and returns the stored copy. */
  add(obj: FakeObject): FakeObject;
  /** Replaces an object (keeping uid and creationTimestamp), as `manager` if given; notifies watches. */
  update(obj: FakeObject, manager?: string): FakeObject;
  /** Deletes an object; a no-op if it does not exist. */
  remove(kind: string, namespace: string | undefined, name: string): void;
  get(kind: string, namespace: string | undefined, name: string): FakeObject | undefined;
  list(kind: string, namespace?: string): FakeObject[];
  /** Answers matching requests with 403 from now on. */
  forbid(rule: ForbidRule): void;
  /** Ends every open watch, as the real server does when a watch times out; clients resume from their resource version. */
  dropWatches(): void;
  /** Bridges port-forwards to `podPort` of the pod to 127.0.0.1:`targetPort`. */
  forwardPort(namespace: string, pod: string, podPort: number, targetPort: number): void;
  /** Ends all watches and connections, closes the server and removes the kubeconfig. */
  stop(): Promise<void>;
}

interface ResourceType {
  group: string;
  version: string;
  kind: string;
  plural: string;
  singular: string;
  namespaced: boolean;
  subresources: string[];
  shortNames?: string[];
}

const VERBS = ["create", "delete", "get", "list", "patch", "update", "watch"];

const BUILTIN_TYPES: ResourceType[] = [
  core("Namespace", "namespaces", false, ["status"], ["ns"]),
  core("Node", "nodes", false, ["status"], ["no"]),
  core("Pod", "pods", true, ["status", "portforward"], ["po"]),
  core("Service", "services", true, ["status"], ["svc"]),
  core("Event", "events", true, [], ["ev"]),
  core("ConfigMap", "configmaps", true, [], ["cm"]),
  core("Secret", "secrets", true, []),
  core("ServiceAccount", "serviceaccounts", true, [], ["sa"]),
  apps("DaemonSet", "daemonsets", ["ds"]),
  apps("Deployment", "deployments", ["deploy"]),
  apps("StatefulSet", "statefulsets", ["sts"]),
  apps("ReplicaSet", "replicasets", ["rs"]),
  typeOf("batch", "v1", "Job", "jobs", true, ["status"]),
  typeOf("batch", "v1", "CronJob", "cronjobs", true, ["status"], ["cj"]),
  typeOf("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", false, []),
  typeOf("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", false, []),
  typeOf("rbac.authorization.k8s.io", "v1", "Role", "roles", true, []),
  typeOf("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", true, []),
  typeOf("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", true, ["status"], ["pdb"]),
  typeOf(
    "apiextensions.k8s.io",
    "v1",
    "CustomResourceDefinition",
    "customresourcedefinitions",
    false,
    ["status"],
    ["crd"],
  ),
];

function typeOf(
  group: string,
  version: string,
  kind: string,
  plural: string,
  namespaced: boolean,
  subresources: string[],
  shortNames?: string[],
): ResourceType {
  return {
    group,
    version,
    kind,
    plural,
    singular: kind.toLowerCase(),
    namespaced,
    subresources,
    ...(shortNames ? { shortNames } : {}),
  };
}

function core(
  kind: string,
  plural: string,
  namespaced: boolean,
  subresources: string[],
  shortNames?: string[],
): ResourceType {
  return typeOf("", "v1", kind, plural, namespaced, subresources, shortNames);
}

function apps(kind: string, plural: string, shortNames: string[]): ResourceType {
  return typeOf("apps", "v1", kind, plural, true, ["status", "scale"], shortNames);
}

function groupVersion(type: ResourceType): string {
  return type.group === "" ? type.version : `${type.group}/${type.version}`;
}

/** Fields a field selector may name, per resource, as in the real API server; metadata.name/namespace always. */
const SELECTABLE_FIELDS: Record<string, string[]> = {
  pods: [
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.phase",
    "status.podIP",
    "status.nominatedNodeName",
  ],
  events: [
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
  ],
  nodes: ["spec.unschedulable"],
  replicasets: ["status.replicas"],
  jobs: ["status.successful"],
};

/** Strategic-merge-patch merge keys of the lists seccompose and its tests patch. */
const MERGE_KEYS: Record<string, string> = {
  conditions: "type",
  containers: "name",
  initContainers: "name",
  ephemeralContainers: "name",
  containerStatuses: "name",
  initContainerStatuses: "name",
  volumes: "name",
  volumeMounts: "mountPath",
  env: "name",
  imagePullSecrets: "name",
  ownerReferences: "uid",
};

/** Metadata the server owns; never part of a manager's field set. */
const SERVER_METADATA = new Set([
  "name",
  "namespace",
  "uid",
  "resourceVersion",
  "generation",
  "creationTimestamp",
  "managedFields",
  "deletionTimestamp",
  "generateName",
]);

class ApiError extends Error {
  readonly code: number;
  readonly reason: string;
  readonly details: JsonObject | undefined;

  constructor(code: number, reason: string, message: string, details?: JsonObject) {
    super(message);
    this.code = code;
    this.reason = reason;
    this.details = details;
  }
}

function statusBody(code: number, reason: string, message: string, details?: JsonObject): JsonObject {
  return {
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message,
    reason,
    ...(details ? { details } : {}),
    code,
  };
}

interface FieldRequirement {
  path: string;
  equal: boolean;
  value: string;
}

interface Watcher {
  type: ResourceType;
  namespace: string | undefined;
  labels: LabelSelector | undefined;
  fields: FieldRequirement[];
  res: ServerResponse;
}

interface WatchEvent {
  rv: number;
  type: ResourceType;
  eventType: "ADDED" | "MODIFIED" | "DELETED";
  object: FakeObject;
  previous: FakeObject | undefined;
}

interface FieldManager {
  operation: "Apply" | "Update";
  paths: Set<string>;
  time: string;
}

interface Route {
  type: ResourceType;
  namespace: string | undefined;
  name: string | undefined;
  subresource: string | undefined;
}

const USER = "system:serviceaccount:seccompose:tester";
const CLUSTER_NAMESPACES = ["default", "kube-system", "kube-public", "kube-node-lease"];

export async function startFakeApiServer(opts: FakeApiServerOptions = {}): Promise<FakeApiServer> {
  const token = opts.token ?? `fake-${randomUUID()}`;
  const types: ResourceType[] = [...BUILTIN_TYPES];
  const store = new Map<ResourceType, Map<string, FakeObject>>();
  const managers = new Map<string, Map<string, FieldManager>>();
  const events: WatchEvent[] = [];
  const watchers = new Set<Watcher>();
  const forbidden: ForbidRule[] = [];
  const portForwards = new Map<string, number>();
  const upgraded = new Set<Duplex>();
  const requests: RecordedRequest[] = [];
  let resourceVersion = 1;

  const typeByKind = (kind: string, apiVersion?: string): ResourceType => {
    const found = types.find(
      (t) => t.kind === kind && (apiVersion === undefined || groupVersion(t) === apiVersion),
    );
    if (!found) throw new Error(`fake API server: unknown kind ${apiVersion ?? "*"} ${kind}`);
    return found;
  };
  const bucket = (type: ResourceType): Map<string, FakeObject> => {
    let objects = store.get(type);
    if (!objects) {
      objects = new Map();
      store.set(type, objects);
    }
    return objects;
  };
  const keyOf = (type: ResourceType, namespace: string | undefined, name: string): string =>
    type.namespaced ? `${namespace ?? ""}/${name}` : name;
  const managersOf = (type: ResourceType, key: string): Map<string, FieldManager> => {
    const id = `${type.group}/${type.plural}/${key}`;
    let m = managers.get(id);
    if (!m) {
      m = new Map();
      managers.set(id, m);
    }
    return m;
  };

  /** Stores `obj` (already complete), bumps the resource version and notifies watches. */
  const commit = (
    type: ResourceType,
    obj: FakeObject,
    eventType: WatchEvent["eventType"],
    previous: FakeObject | undefined,
  ): FakeObject => {
    const meta = obj.metadata!;
    const key = keyOf(type, meta.namespace, meta.name!);
    resourceVersion++;
    if (eventType !== "DELETED") {
      meta.resourceVersion = String(resourceVersion);
      meta.managedFields = managedFieldsOf(type, managersOf(type, key));
      bucket(type).set(key, obj);
    } else {
      bucket(type).delete(key);
      managers.delete(`${type.group}/${type.plural}/${key}`);
    }
    if (type.kind === "CustomResourceDefinition") syncCustomTypes(obj, eventType === "DELETED");
    const event: WatchEvent = { rv: resourceVersion, type, eventType, object: clone(obj), previous };
    events.push(event);
    for (const watcher of watchers) deliver(watcher, event);
    return clone(obj);
  };

  const managedFieldsOf = (type: ResourceType, owners: Map<string, FieldManager>): JsonObject[] =>
    [...owners.entries()]
      .filter(([, m]) => m.paths.size > 0)
      .map(([manager, m]) => ({
        manager,
        operation: m.operation,
        apiVersion: groupVersion(type),
        time: m.time,
        fieldsType: "FieldsV1",
        fieldsV1: fieldsV1(m.paths),
      }));

  /** A stored CustomResourceDefinition serves its kind, as the real server does once it is established. */
  const syncCustomTypes = (crd: FakeObject, removed: boolean): void => {
    const spec = asObject(crd.spec);
    const names = asObject(spec?.names);
    const group = typeof spec?.group === "string" ? spec.group : undefined;
    if (!spec || !names || !group) return;
    for (let i = types.length - 1; i >= 0; i--) {
      if (types[i]!.group === group && types[i]!.plural === names.plural) types.splice(i, 1);
    }
    if (removed) return;
    const versions = Array.isArray(spec.versions) ? spec.versions : [];
    for (const v of versions) {
      const version = asObject(v);
      if (!version || version.served === false || typeof version.name !== "string") continue;
      const subresources = asObject(version.subresources);
      types.push({
        group,
        version: version.name,
        kind: String(names.kind),
        plural: String(names.plural),
        singular: String(names.singular ?? String(names.kind).toLowerCase()),
        namespaced: spec.scope !== "Cluster",
        subresources: subresources?.status !== undefined ? ["status"] : [],
        ...(Array.isArray(names.shortNames) ? { shortNames: names.shortNames.map(String) } : {}),
      });
    }
  };

  /** Completes an object's metadata for storing it the first time. */
  const initialize = (type: ResourceType, obj: FakeObject, namespace: string | undefined): FakeObject => {
    const stored = clone(obj);
    stored.apiVersion = groupVersion(type);
    stored.kind = type.kind;
    const meta = (stored.metadata ??= {});
    if (!meta.name) {
      if (!meta.generateName) {
        throw new ApiError(422, "Invalid", `${type.kind} is invalid: metadata.name: Required value`);
      }
      meta.name = `${meta.generateName}${randomSuffix()}`;
    }
    if (type.namespaced) meta.namespace = namespace ?? meta.namespace ?? "default";
    else delete meta.namespace;
    meta.uid ??= randomUUID();
    meta.creationTimestamp ??= new Date().toISOString().replace(/\.\d+Z$/, "Z");
    if (type.kind !== "Event" && type.kind !== "Namespace") meta.generation ??= 1;
    if (type.kind === "Namespace") stored.status ??= { phase: "Active" };
    return stored;
  };

  /** A changed object as `manager` wrote it with an update (PUT, patch or a test's update()). */
  const recordUpdate = (
    type: ResourceType,
    previous: FakeObject,
    next: FakeObject,
    manager: string,
  ): FakeObject => {
    const key = keyOf(type, previous.metadata!.namespace, previous.metadata!.name!);
    const owners = managersOf(type, key);
    const before = new Set(fieldPaths(previous));
    const after = new Set(fieldPaths(next));
    const changed = [...after].filter((p) => !isDeepStrictEqual(getPath(previous, p), getPath(next, p)));
    for (const [, m] of owners) {
      for (const p of changed) m.paths.delete(p);
      for (const p of before) if (!after.has(p)) m.paths.delete(p);
    }
    if (changed.length > 0) {
      const own = owners.get(manager) ?? { operation: "Update" as const, paths: new Set<string>(), time: "" };
      for (const p of changed) own.paths.add(p);
      own.time = now();
      owners.set(manager, own);
    }
    return next;
  };

  /** Carries over what the server owns and bumps generation when the spec (anything but metadata/status) changed. */
  const finishUpdate = (type: ResourceType, previous: FakeObject, next: FakeObject): FakeObject => {
    const meta = (next.metadata ??= {});
    const prevMeta = previous.metadata!;
    meta.name = prevMeta.name!;
    if (type.namespaced) meta.namespace = prevMeta.namespace!;
    meta.uid = prevMeta.uid!;
    meta.creationTimestamp = prevMeta.creationTimestamp!;
    next.apiVersion = groupVersion(type);
    next.kind = type.kind;
    if (prevMeta.generation !== undefined) {
      meta.generation = isDeepStrictEqual(specOf(previous), specOf(next))
        ? prevMeta.generation
        : prevMeta.generation + 1;
    }
    return next;
  };

  const readObject = (route: Route): FakeObject => {
    const found = bucket(route.type).get(keyOf(route.type, route.namespace, route.name!));
    if (!found) throw notFound(route.type, route.name!);
    return found;
  };

  const requireNamespace = (type: ResourceType, namespace: string | undefined): void => {
    if (!type.namespaced || namespace === undefined) return;
    const namespaces = typeByKind("Namespace");
    if (!bucket(namespaces).has(namespace)) throw notFound(namespaces, namespace);
  };

  const writeSubresource = (
    route: Route,
    current: FakeObject,
    next: FakeObject,
    manager: string,
  ): FakeObject => {
    // A status write changes only status; a main-resource write leaves status alone when the
    // type has a status subresource, as in the real server.
    let merged: FakeObject;
    if (route.subresource === "status") merged = { ...clone(current), status: clone(next.status) };
    else if (route.type.subresources.includes("status")) {
      merged = { ...clone(next), ...(current.status !== undefined ? { status: clone(current.status) } : {}) };
      if (current.status === undefined) delete merged.status;
    } else merged = clone(next);
    merged = finishUpdate(route.type, current, merged);
    if (isDeepStrictEqual(comparable(merged), comparable(current))) return clone(current);
    recordUpdate(route.type, current, merged, manager);
    return commit(route.type, merged, "MODIFIED", clone(current));
  };

  const apply = (
    route: Route,
    body: unknown,
    query: URLSearchParams,
  ): { code: number; object: FakeObject } => {
    const manager = query.get("fieldManager");
    if (!manager) {
      throw new ApiError(
        400,
        "BadRequest",
        'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch',
      );
    }
    const config = asObject(body) as FakeObject | undefined;
    if (!config || config.kind !== route.type.kind || config.apiVersion !== groupVersion(route.type)) {
      throw new ApiError(
        400,
        "BadRequest",
        `apply patch must have apiVersion ${groupVersion(route.type)} and kind ${route.type.kind}`,
      );
    }
    if (config.metadata?.name !== route.name) {
      throw new ApiError(400, "BadRequest", "the name of the object does not match the name on the URL");
    }
    const force = query.get("force") === "true";
    const key = keyOf(route.type, route.namespace, route.name!);
    const current = bucket(route.type).get(key);
    const applied = new Set(fieldPaths(config));
    if (route.type.subresources.includes("status")) {
      for (const p of [...applied]) if (p.startsWith('["status"')) applied.delete(p);
    }
    const owners = managersOf(route.type, key);
    if (!current) {
      requireNamespace(route.type, route.namespace);
      const created = initialize(route.type, withoutStatus(route.type, config), route.namespace);
      owners.set(manager, { operation: "Apply", paths: applied, time: now() });
      return { code: 201, object: commit(route.type, created, "ADDED", undefined) };
    }
    const conflicts: Array<{ manager: string; path: string }> = [];
    for (const [other, m] of owners) {
      if (other === manager) continue;
      for (const p of applied) {
        if (m.paths.has(p) && !isDeepStrictEqual(getPath(current, p), getPath(config, p))) {
          conflicts.push({ manager: other, path: p });
        }
      }
    }
    if (conflicts.length > 0 && !force) {
      const causes = conflicts.map((c) => ({
        type: "FieldManagerConflict",
        message: `conflict with "${c.manager}"`,
        field: dottedPath(c.path),
      }));
      throw new ApiError(
        409,
        "Conflict",
        `Apply failed with ${conflicts.length} conflict${conflicts.length === 1 ? "" : "s"}: ${causes
          .map((c) => `${c.message}: ${c.field}`)
          .join(", ")}`,
        { name: route.name!, kind: route.type.plural, causes },
      );
    }
    for (const c of conflicts) owners.get(c.manager)!.paths.delete(c.path);
    const next = clone(current);
    const previouslyOwned = owners.get(manager)?.paths ?? new Set<string>();
    for (const p of previouslyOwned) {
      // A list item stays while another manager owns it or anything inside it.
      const inside = `${p.slice(0, -1)},`;
      const ownedElsewhere = [...owners].some(
        ([other, m]) =>
          other !== manager && (m.paths.has(p) || [...m.paths].some((q) => q.startsWith(inside))),
      );
      if (!applied.has(p) && !ownedElsewhere) deletePath(next, p);
    }
    for (const p of applied) setPath(next, p, clone(getPath(config, p)));
    const finished = finishUpdate(route.type, current, next);
    const ownersBefore = managedFieldsOf(route.type, owners).map((m) => ({ ...m, time: "" }));
    owners.set(manager, { operation: "Apply", paths: applied, time: owners.get(manager)?.time ?? now() });
    const ownersAfter = managedFieldsOf(route.type, owners).map((m) => ({ ...m, time: "" }));
    if (
      isDeepStrictEqual(comparable(finished), comparable(current)) &&
      isDeepStrictEqual(ownersBefore, ownersAfter)
    ) {
      return { code: 200, object: clone(current) };
    }
    owners.get(manager)!.time = now();
    return { code: 200, object: commit(route.type, finished, "MODIFIED", clone(current)) };
  };

  const isForbidden = (verb: string, route: Route): boolean => {
    const resource = route.subresource ? `${route.type.plural}/${route.subresource}` : route.type.plural;
    return forbidden.some(
      (r) =>
        (r.verb === undefined || r.verb === verb) &&
        r.resource === resource &&
        (r.namespace === undefined || r.namespace === route.namespace),
    );
  };

  const forbiddenError = (verb: string, route: Route): ApiError => {
    const resource = route.subresource ? `${route.type.plural}/${route.subresource}` : route.type.plural;
    const subject = route.name
      ? `${qualifiedResource(route.type)} "${route.name}"`
      : qualifiedResource(route.type);
    const scope = route.namespace ? `in the namespace "${route.namespace}"` : "at the cluster scope";
    return new ApiError(
      403,
      "Forbidden",
      `${subject} is forbidden: User "${USER}" cannot ${verb} resource "${resource}" in API group "${route.type.group}" ${scope}`,
      { ...(route.name ? { name: route.name } : {}), group: route.type.group, kind: route.type.plural },
    );
  };

  const selectorsOf = (
    type: ResourceType,
    query: URLSearchParams,
  ): { labels: LabelSelector | undefined; fields: FieldRequirement[] } => {
    const labelText = query.get("labelSelector");
    let labels: LabelSelector | undefined;
    if (labelText) {
      try {
        labels = parseLabelSelector(labelText);
      } catch (err) {
        throw new ApiError(400, "BadRequest", `unable to parse requirement: ${(err as Error).message}`);
      }
    }
    return { labels, fields: parseFieldSelector(type, query.get("fieldSelector") ?? "") };
  };

  const listObjects = (
    type: ResourceType,
    namespace: string | undefined,
    labels: LabelSelector | undefined,
    fields: FieldRequirement[],
  ): FakeObject[] =>
    [...bucket(type).values()]
      .filter((o) => namespace === undefined || o.metadata!.namespace === namespace)
      .filter((o) => matchesSelectors(o, labels, fields))
      .sort((a, b) =>
        keyOf(type, a.metadata!.namespace, a.metadata!.name!).localeCompare(
          keyOf(type, b.metadata!.namespace, b.metadata!.name!),
        ),
      );

  const startWatch = (route: Route, query: URLSearchParams, res: ServerResponse): void => {
    const { labels, fields } = selectorsOf(route.type, query);
    const watcher: Watcher = { type: route.type, namespace: route.namespace, labels, fields, res };
    res.writeHead(200, { "Content-Type": "application/json", "Cache-Control": "no-cache, private" });
    res.flushHeaders();
    const since = query.get("resourceVersion");
    if (since === null || since === "" || since === "0") {
      // No resource version: the current state as ADDED events, then changes (as the real server).
      for (const obj of listObjects(route.type, route.namespace, labels, fields)) {
        writeEvent(res, "ADDED", obj);
      }
    } else {
      const from = Number(since);
      for (const event of events) if (event.rv > from) deliver(watcher, event);
    }
    watchers.add(watcher);
    const timeoutSeconds = Number(query.get("timeoutSeconds") ?? "0");
    const timer =
      timeoutSeconds > 0
        ? setTimeout(() => {
            watchers.delete(watcher);
            res.end();
          }, timeoutSeconds * 1000)
        : undefined;
    res.on("close", () => {
      if (timer) clearTimeout(timer);
      watchers.delete(watcher);
    });
  };

  const deliver = (watcher: Watcher, event: WatchEvent): void => {
    if (watcher.type !== event.type) return;
    const ns = event.object.metadata?.namespace;
    if (watcher.namespace !== undefined && ns !== watcher.namespace) return;
    const now = matchesSelectors(event.object, watcher.labels, watcher.fields);
    const before =
      event.previous !== undefined && matchesSelectors(event.previous, watcher.labels, watcher.fields);
    let type: string | undefined;
    if (event.eventType === "ADDED") type = now ? "ADDED" : undefined;
    else if (event.eventType === "DELETED") type = now ? "DELETED" : undefined;
    // An object that starts or stops matching the selectors is added to or deleted from the watch.
    else if (now) type = before ? "MODIFIED" : "ADDED";
    else if (before) type = "DELETED";
    if (type) writeEvent(watcher.res, type, event.object);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const raw = await readBody(req);
    const contentType = (req.headers["content-type"] ?? "").split(";")[0]!.trim();
    let body: unknown;
    const recorded: RecordedRequest = {
      method: req.method ?? "GET",
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      body: undefined,
      contentType: raw.length > 0 ? contentType : "",
    };
    requests.push(recorded);
    if (raw.length > 0) {
      try {
        body = contentType.includes("yaml") ? parseYaml(raw) : JSON.parse(raw);
      } catch (err) {
        throw new ApiError(400, "BadRequest", `the request body is not valid: ${(err as Error).message}`);
      }
      recorded.body = body;
    }
    if (req.headers.authorization !== `Bearer ${token}`) {
      throw new ApiError(401, "Unauthorized", "Unauthorized");
    }
    const discovery = discoveryDocument(types, url.pathname);
    if (discovery !== undefined) return sendJson(res, 200, discovery);
    const route = parseRoute(types, url.pathname);
    if (!route) throw new ApiError(404, "NotFound", "the server could not find the requested resource");
    const method = req.method ?? "GET";
    const query = url.searchParams;
    const watching = query.get("watch") === "true" || query.get("watch") === "1";
    const verb = verbOf(method, route, watching);
    if (isForbidden(verb, route)) throw forbiddenError(verb, route);
    if (route.subresource === "portforward") {
      throw new ApiError(400, "BadRequest", "Upgrade request required");
    }
    if (route.subresource !== undefined && !route.type.subresources.includes(route.subresource)) {
      throw new ApiError(404, "NotFound", "the server could not find the requested resource");
    }
    const manager = query.get("fieldManager") ?? "fake-client";
    switch (verb) {
      case "watch":
        return startWatch(route, query, res);
      case "list": {
        const { labels, fields } = selectorsOf(route.type, query);
        const items = listObjects(route.type, route.namespace, labels, fields).map((o) => {
          const item = clone(o);
          // Items of a typed list carry no apiVersion/kind in the real API.
          delete item.apiVersion;
          delete item.kind;
          return item;
        });
        return sendJson(res, 200, {
          kind: `${route.type.kind}List`,
          apiVersion: groupVersion(route.type),
          metadata: { resourceVersion: String(resourceVersion) },
          items,
        });
      }
      case "get":
        return sendJson(res, 200, readObject(route));
      case "create": {
        const obj = asObject(body) as FakeObject | undefined;
        if (!obj) throw new ApiError(400, "BadRequest", "the request body must be an object");
        if (route.namespace !== undefined && obj.metadata?.namespace !== undefined) {
          if (obj.metadata.namespace !== route.namespace) {
            throw new ApiError(
              400,
              "BadRequest",
              "the namespace of the provided object does not match the namespace sent on the request",
            );
          }
        }
        requireNamespace(route.type, route.namespace);
        const created = initialize(route.type, obj, route.namespace);
        const key = keyOf(route.type, created.metadata!.namespace, created.metadata!.name!);
        if (bucket(route.type).has(key)) {
          throw new ApiError(
            409,
            "AlreadyExists",
            `${qualifiedResource(route.type)} "${created.metadata!.name}" already exists`,
            {
              name: created.metadata!.name!,
              kind: route.type.plural,
            },
          );
        }
        managersOf(route.type, key).set(manager, {
          operation: "Update",
          paths: new Set(fieldPaths(created)),
          time: now(),
        });
        return sendJson(res, 201, commit(route.type, created, "ADDED", undefined));
      }
      case "update": {
        const current = readObject(route);
        const obj = asObject(body) as FakeObject | undefined;
        if (!obj) throw new ApiError(400, "BadRequest", "the request body must be an object");
        const rv = obj.metadata?.resourceVersion;
        if (rv !== undefined && rv !== current.metadata!.resourceVersion) {
          throw conflictError(route);
        }
        return sendJson(res, 200, writeSubresource(route, current, obj, manager));
      }
      case "patch": {
        if (contentType === "application/apply-patch+yaml") {
          if (route.subresource !== undefined) {
            throw new ApiError(415, "UnsupportedMediaType", "apply is supported on the main resource only");
          }
          const { code, object } = apply(route, body, query);
          return sendJson(res, code, object);
        }
        const current = readObject(route);
        let patched: unknown;
        if (contentType === "application/merge-patch+json") patched = mergePatch(current, body, false);
        else if (contentType === "application/strategic-merge-patch+json") {
          patched = mergePatch(current, body, true);
        } else if (contentType === "application/json-patch+json") patched = jsonPatch(current, body);
        else {
          throw new ApiError(
            415,
            "UnsupportedMediaType",
            `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json`,
          );
        }
        const next = asObject(patched) as FakeObject | undefined;
        if (!next) throw new ApiError(422, "Invalid", "the patch must produce an object");
        const rv = asObject(asObject(body)?.metadata)?.resourceVersion;
        if (rv !== undefined && rv !== current.metadata!.resourceVersion) throw conflictError(route);
        return sendJson(res, 200, writeSubresource(route, current, next, manager));
      }
      case "delete": {
        const current = readObject(route);
        commit(route.type, clone(current), "DELETED", clone(current));
        return sendJson(res, 200, current);
      }
    }
  };

  const handlePortForward = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const refuse = (code: number, reason: string): void => {
      socket.end(`HTTP/1.1 ${code} ${reason}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
    };
    requests.push({
      method: req.method ?? "GET",
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      body: undefined,
      contentType: "",
    });
    if (req.headers.authorization !== `Bearer ${token}`) return refuse(401, "Unauthorized");
    const route = parseRoute(types, url.pathname);
    if (!route || route.subresource !== "portforward" || route.type.kind !== "Pod") {
      return refuse(404, "Not Found");
    }
    if (isForbidden("create", route)) return refuse(403, "Forbidden");
    const pod = bucket(route.type).get(keyOf(route.type, route.namespace, route.name!));
    if (!pod) return refuse(404, "Not Found");
    const port = Number(url.searchParams.get("ports"));
    const offered = String(req.headers["sec-websocket-protocol"] ?? "")
      .split(",")
      .map((p) => p.trim());
    const key = req.headers["sec-websocket-key"];
    if (!Number.isInteger(port) || port <= 0 || port > 65535 || typeof key !== "string") {
      return refuse(400, "Bad Request");
    }
    if (!offered.includes("v4.channel.k8s.io")) return refuse(400, "Bad Request");
    upgraded.add(socket);
    socket.on("close", () => upgraded.delete(socket));
    const ws = acceptWebSocket(socket, key, "v4.channel.k8s.io", head);
    const portBytes = Buffer.alloc(2);
    portBytes.writeUInt16LE(port);
    // Each port has a data channel (0) and an error channel (1); the first frame of each names the port.
    ws.send(Buffer.concat([Buffer.from([0]), portBytes]));
    ws.send(Buffer.concat([Buffer.from([1]), portBytes]));
    const target = portForwards.get(`${route.namespace}/${route.name}/${port}`);
    const failure = (detail: string): void => {
      ws.send(
        Buffer.concat([
          Buffer.from([1]),
          Buffer.from(
            `an error occurred forwarding ${port} -> ${port}: error forwarding port ${port} to pod ${pod.metadata!.uid}: ${detail}`,
          ),
        ]),
      );
      ws.close();
    };
    if (target === undefined) return failure(`failed to connect to localhost:${port}: connection refused`);
    const upstream: Socket = connect(target, "127.0.0.1");
    upstream.on("data", (chunk: Buffer) => ws.send(Buffer.concat([Buffer.from([0]), chunk])));
    upstream.on("error", (err) => failure(err.message));
    upstream.on("close", () => ws.close());
    ws.onMessage((payload) => {
      if (payload[0] === 0 && payload.length > 1) upstream.write(payload.subarray(1));
    });
    ws.onClose(() => upstream.end());
  };

  for (const name of CLUSTER_NAMESPACES) {
    const type = typeByKind("Namespace");
    commit(type, initialize(type, { metadata: { name } }, undefined), "ADDED", undefined);
  }
  for (const obj of opts.objects ?? []) addObject(obj);

  function addObject(obj: FakeObject): FakeObject {
    const type = typeByKind(String(obj.kind), obj.apiVersion);
    const stored = initialize(type, obj, obj.metadata?.namespace);
    const key = keyOf(type, stored.metadata!.namespace, stored.metadata!.name!);
    if (bucket(type).has(key)) throw new Error(`fake API server: ${type.kind} ${key} already exists`);
    return commit(type, stored, "ADDED", undefined);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (res.headersSent) {
        res.end();
        return;
      }
      if (err instanceof ApiError)
        sendJson(res, err.code, statusBody(err.code, err.reason, err.message, err.details));
      else sendJson(res, 500, statusBody(500, "InternalError", String(err)));
    });
  });
  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    handlePortForward(req, socket, head);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const dir = await mkdtemp(join(tmpdir(), "seccompose-fake-apiserver-"));
  const kubeconfigPath = join(dir, "kubeconfig");
  await writeFile(kubeconfigPath, kubeconfigText(url, token));

  return {
    url,
    kubeconfigPath,
    token,
    requests,
    add: addObject,
    update(obj, manager = "fake-controller") {
      const type = typeByKind(String(obj.kind), obj.apiVersion);
      const namespace = type.namespaced ? (obj.metadata?.namespace ?? "default") : undefined;
      const key = keyOf(type, namespace, obj.metadata?.name ?? "");
      const current = bucket(type).get(key);
      if (!current) throw new Error(`fake API server: ${type.kind} ${key} does not exist`);
      const next = finishUpdate(type, current, clone(obj));
      recordUpdate(type, current, next, manager);
      return commit(type, next, "MODIFIED", clone(current));
    },
    remove(kind, namespace, name) {
      const type = typeByKind(kind);
      const current = bucket(type).get(keyOf(type, namespace, name));
      if (current) commit(type, clone(current), "DELETED", clone(current));
    },
    get(kind, namespace, name) {
      const type = typeByKind(kind);
      const found = bucket(type).get(keyOf(type, namespace, name));
      return found ? clone(found) : undefined;
    },
    list(kind, namespace) {
      return listObjects(typeByKind(kind), namespace, undefined, []).map(clone);
    },
    forbid(rule) {
      forbidden.push(rule);
    },
    dropWatches() {
      for (const watcher of watchers) watcher.res.end();
      watchers.clear();
    },
    forwardPort(namespace, pod, podPort, targetPort) {
      portForwards.set(`${namespace}/${pod}/${podPort}`, targetPort);
    },
    async stop() {
      for (const watcher of watchers) watcher.res.end();
      watchers.clear();
      for (const socket of upgraded) socket.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function kubeconfigText(url: string, token: string): string {
  // The client refuses plain http unless TLS verification is off, as kubectl does not.
  return [
    "apiVersion: v1",
    "kind: Config",
    "clusters:",
    "  - name: fake",
    "    cluster:",
    `      server: ${url}`,
    "      insecure-skip-tls-verify: true",
    "users:",
    "  - name: fake",
    "    user:",
    `      token: ${token}`,
    "contexts:",
    "  - name: fake",
    "    context:",
    "      cluster: fake",
    "      user: fake",
    "      namespace: default",
    "current-context: fake",
    "",
  ].join("\n");
}

function verbOf(method: string, route: Route, watching: boolean): string {
  switch (method) {
    case "GET":
      if (route.name === undefined) return watching ? "watch" : "list";
      return "get";
    case "POST":
      if (route.name !== undefined) throw new ApiError(405, "MethodNotAllowed", "POST needs a collection");
      return "create";
    case "PUT":
    case "PATCH":
    case "DELETE":
      if (route.name === undefined) {
        throw new ApiError(405, "MethodNotAllowed", `${method} on a collection is not supported`);
      }
      return method === "PUT" ? "update" : method.toLowerCase();
    default:
      throw new ApiError(405, "MethodNotAllowed", `method ${method} is not allowed`);
  }
}

function parseRoute(types: ResourceType[], pathname: string): Route | undefined {
  const segments = pathname
    .split("/")
    .filter((s) => s !== "")
    .map(decodeURIComponent);
  let group: string;
  let version: string;
  let rest: string[];
  if (segments[0] === "api" && segments.length >= 2) {
    group = "";
    version = segments[1]!;
    rest = segments.slice(2);
  } else if (segments[0] === "apis" && segments.length >= 3) {
    group = segments[1]!;
    version = segments[2]!;
    rest = segments.slice(3);
  } else return undefined;
  const find = (plural: string | undefined): ResourceType | undefined =>
    types.find((t) => t.group === group && t.version === version && t.plural === plural);
  if (rest[0] === "namespaces" && rest.length >= 3) {
    const type = find(rest[2]);
    if (type?.namespaced && rest.length <= 5) {
      return { type, namespace: rest[1], name: rest[3], subresource: rest[4] };
    }
  }
  const type = find(rest[0]);
  if (!type || rest.length > 3) return undefined;
  // A namespaced type without a namespace in the path: a list or watch across all namespaces.
  if (type.namespaced && rest.length > 1) return undefined;
  return { type, namespace: undefined, name: rest[1], subresource: rest[2] };
}

function discoveryDocument(types: ResourceType[], pathname: string): JsonObject | undefined {
  const path = pathname.replace(/\/+$/, "");
  const groups = [...new Set(types.filter((t) => t.group !== "").map((t) => t.group))].sort();
  const versionsOf = (group: string): string[] => [
    ...new Set(types.filter((t) => t.group === group).map((t) => t.version)),
  ];
  const groupDocument = (group: string): JsonObject => {
    const versions = versionsOf(group).map((version) => ({ groupVersion: `${group}/${version}`, version }));
    return { name: group, versions, preferredVersion: versions[0] };
  };
  if (path === "/version") {
    return {
      major: "1",
      minor: "31",
      gitVersion: "v1.31.2",
      goVersion: "go1.22.8",
      platform: "linux/amd64",
    };
  }
  if (path === "/api") {
    return {
      kind: "APIVersions",
      versions: ["v1"],
      serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress: "127.0.0.1:6443" }],
    };
  }
  if (path === "/apis") {
    return { kind: "APIGroupList", apiVersion: "v1", groups: groups.map(groupDocument) };
  }
  const groupMatch = /^\/apis\/([^/]+)$/.exec(path);
  if (groupMatch && groups.includes(groupMatch[1]!)) {
    return { kind: "APIGroup", apiVersion: "v1", ...groupDocument(groupMatch[1]!) };
  }
  const resourceList = (group: string, version: string): JsonObject | undefined => {
    const served = types.filter((t) => t.group === group && t.version === version);
    if (served.length === 0) return undefined;
    const resources: JsonObject[] = [];
    for (const t of served) {
      resources.push({
        name: t.plural,
        singularName: t.singular,
        namespaced: t.namespaced,
        kind: t.kind,
        verbs: VERBS,
        ...(t.shortNames ? { shortNames: t.shortNames } : {}),
      });
      for (const sub of t.subresources) {
        resources.push({
          name: `${t.plural}/${sub}`,
          singularName: "",
          namespaced: t.namespaced,
          kind: t.kind,
          verbs: sub === "portforward" ? ["create", "get"] : ["get", "patch", "update"],
        });
      }
    }
    return {
      kind: "APIResourceList",
      apiVersion: "v1",
      groupVersion: group === "" ? version : `${group}/${version}`,
      resources,
    };
  };
  const coreMatch = /^\/api\/([^/]+)$/.exec(path);
  if (coreMatch) return resourceList("", coreMatch[1]!);
  const gvMatch = /^\/apis\/([^/]+)\/([^/]+)$/.exec(path);
  if (gvMatch) return resourceList(gvMatch[1]!, gvMatch[2]!);
  return undefined;
}

function parseFieldSelector(type: ResourceType, text: string): FieldRequirement[] {
  if (text.trim() === "") return [];
  return text.split(",").map((part) => {
    const m = /^\s*([^!=\s]+)\s*(==|=|!=)\s*([^,]*?)\s*$/.exec(part);
    if (!m) throw new ApiError(400, "BadRequest", `invalid field selector: '${part}'`);
    const path = m[1]!;
    const allowed = ["metadata.name", "metadata.namespace", ...(SELECTABLE_FIELDS[type.plural] ?? [])];
    if (!allowed.includes(path)) {
      throw new ApiError(400, "BadRequest", `field label not supported: ${path}`);
    }
    return { path, equal: m[2] !== "!=", value: m[3]! };
  });
}

function matchesSelectors(
  obj: FakeObject,
  labels: LabelSelector | undefined,
  fields: FieldRequirement[],
): boolean {
  if (labels && !selectorMatches(labels, obj.metadata?.labels ?? {})) return false;
  for (const f of fields) {
    const value = fieldValue(obj, f.path);
    if ((value === f.value) !== f.equal) return false;
  }
  return true;
}

/** A field's value as a field selector sees it: missing fields are "", booleans and numbers their text. */
function fieldValue(obj: FakeObject, path: string): string {
  let current: unknown = obj;
  for (const segment of path.split(".")) current = asObject(current)?.[segment];
  if (current === undefined || current === null) return "";
  return typeof current === "object" ? JSON.stringify(current) : String(current);
}

function conflictError(route: Route): ApiError {
  return new ApiError(
    409,
    "Conflict",
    `Operation cannot be fulfilled on ${route.type.plural} "${route.name}": the object has been modified; please apply your changes to the latest version and try again`,
    { name: route.name!, kind: route.type.plural },
  );
}

/** `pods`, `daemonsets.apps`: how the real server names a resource in messages. */
function qualifiedResource(type: ResourceType): string {
  return type.group === "" ? type.plural : `${type.plural}.${type.group}`;
}

function notFound(type: ResourceType, name: string): ApiError {
  return new ApiError(404, "NotFound", `${qualifiedResource(type)} "${name}" not found`, {
    name,
    ...(type.group ? { group: type.group } : {}),
    kind: type.plural,
  });
}

function writeEvent(res: ServerResponse, type: string, object: FakeObject): void {
  res.write(`${JSON.stringify({ type, object })}\n`);
}

function sendJson(res: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text) });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

function now(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, "Z");
}

const SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789";

function randomSuffix(): string {
  let out = "";
  for (let i = 0; i < 5; i++) out += SUFFIX_ALPHABET[Math.floor(Math.random() * SUFFIX_ALPHABET.length)];
  return out;
}

function clone<T>(value: T): T {
  return structuredClone(value);
}

function asObject(value: unknown): JsonObject | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as JsonObject)
    : undefined;
}

function withoutStatus(type: ResourceType, obj: FakeObject): FakeObject {
  if (!type.subresources.includes("status")) return obj;
  const copy = clone(obj);
  delete copy.status;
  return copy;
}

function specOf(obj: FakeObject): JsonObject {
  const copy: JsonObject = { ...obj };
  delete copy.metadata;
  delete copy.status;
  return copy;
}

/** An object without what changes on every write, to tell whether a write changed anything. */
function comparable(obj: FakeObject): FakeObject {
  const copy = clone(obj);
  if (copy.metadata) {
    delete copy.metadata.resourceVersion;
    delete copy.metadata.managedFields;
  }
  return copy;
}

/**
 * A step of a field path: a map key, or `{ key }`, an item of a list with a merge key
 * (`containers` by `name`, ...) named by that key, as server-side apply's associative lists are
 * (`k:{"name":"nginx"}` in managedFields). A path ending in an item stands for the item's existence.
 */
type PathSegment = string | { key: JsonObject };

/** The item's identity when `list` is an associative list (MERGE_KEYS) whose items all carry the key. */
function itemKey(field: PathSegment | undefined, item: unknown): JsonObject | undefined {
  const mergeKey = typeof field === "string" ? MERGE_KEYS[field] : undefined;
  const value = asObject(item)?.[mergeKey ?? ""];
  return mergeKey !== undefined && (typeof value === "string" || typeof value === "number")
    ? { [mergeKey]: value }
    : undefined;
}

function isAssociative(field: PathSegment | undefined, value: unknown): value is unknown[] {
  return (
    Array.isArray(value) && value.length > 0 && value.every((item) => itemKey(field, item) !== undefined)
  );
}

function findItem(list: unknown, key: JsonObject): JsonObject | undefined {
  if (!Array.isArray(list)) return undefined;
  const [[name, value]] = Object.entries(key) as [[string, unknown]];
  return list.map(asObject).find((item) => item?.[name] === value);
}

/**
 * The leaf paths of an object's fields (JSON-encoded segment arrays), the unit of field ownership:
 * maps are descended into, and so are lists with a merge key (item by item, as server-side apply
 * treats `containers`, `env`, ...); other lists and scalars are leaves; identity and server-owned
 * metadata are left out.
 */
function fieldPaths(obj: FakeObject): string[] {
  const out: string[] = [];
  const walk = (value: unknown, path: PathSegment[]): void => {
    const o = asObject(value);
    if (o && Object.keys(o).length > 0) {
      for (const [k, v] of Object.entries(o)) walk(v, [...path, k]);
    } else if (isAssociative(path.at(-1), value)) {
      for (const item of value) {
        const itemPath = [...path, { key: itemKey(path.at(-1), item)! }];
        out.push(JSON.stringify(itemPath));
        walk(item, itemPath);
      }
    } else out.push(JSON.stringify(path));
  };
  for (const [k, v] of Object.entries(obj)) {
    if (k === "apiVersion" || k === "kind") continue;
    if (k === "metadata") {
      for (const [mk, mv] of Object.entries(asObject(v) ?? {})) {
        if (!SERVER_METADATA.has(mk)) walk(mv, ["metadata", mk]);
      }
    } else walk(v, [k]);
  }
  return out;
}

/** The value at `path`; for a path ending in a list item, the item's key (the item's existence). */
function getPath(obj: unknown, path: string): unknown {
  let current = obj;
  const segments = JSON.parse(path) as PathSegment[];
  for (const segment of segments) {
    current = typeof segment === "string" ? asObject(current)?.[segment] : findItem(current, segment.key);
  }
  const last = segments.at(-1);
  return typeof last === "object" && current !== undefined ? last.key : current;
}

/** Sets the value at `path`, creating maps and list items on the way; a list item path only makes the item exist. */
function setPath(obj: JsonObject, path: string, value: unknown): void {
  const segments = JSON.parse(path) as PathSegment[];
  let current = obj;
  for (const [i, segment] of segments.entries()) {
    const last = i === segments.length - 1;
    if (typeof segment === "string") {
      if (last) {
        current[segment] = value;
        return;
      }
      const next = segments[i + 1]!;
      if (typeof next === "object") {
        if (!Array.isArray(current[segment])) current[segment] = [];
        const list = current[segment] as unknown[];
        let item = findItem(list, next.key);
        if (!item) {
          item = { ...next.key };
          list.push(item);
        }
        current = item;
        continue;
      }
      let child = asObject(current[segment]);
      if (!child) {
        child = {};
        current[segment] = child;
      }
      current = child;
    }
    // An item segment: the string segment before it already stepped into the item.
  }
}

/** Deletes the field (or list item) at `path`; maps and lists emptied by the removal go too, as in server-side apply. */
function deletePath(obj: JsonObject, path: string): void {
  const segments = JSON.parse(path) as PathSegment[];
  const parents: Array<JsonObject | unknown[]> = [];
  let current: JsonObject | unknown[] = obj;
  for (const segment of segments.slice(0, -1)) {
    parents.push(current);
    const next: unknown =
      typeof segment === "string"
        ? Array.isArray(current)
          ? undefined
          : current[segment]
        : findItem(current, segment.key);
    if (typeof next !== "object" || next === null) return;
    current = next as JsonObject | unknown[];
  }
  const last = segments.at(-1)!;
  if (typeof last === "string") {
    if (Array.isArray(current)) return;
    delete current[last];
  } else {
    const item = findItem(current, last.key);
    if (item && Array.isArray(current)) current.splice(current.indexOf(item), 1);
  }
  for (let i = parents.length - 1; i >= 0; i--) {
    const parent = parents[i]!;
    const segment = segments[i]!;
    if (typeof segment !== "string" || Array.isArray(parent)) break;
    const child = parent[segment];
    const empty = Array.isArray(child) ? child.length === 0 : Object.keys(asObject(child) ?? {}).length === 0;
    if (!empty || (!Array.isArray(child) && asObject(child) === undefined)) break;
    delete parent[segment];
  }
}

/** As the real server names a field in a conflict: `.spec.template.spec.containers[name="a"].image`. */
function dottedPath(path: string): string {
  return (JSON.parse(path) as PathSegment[])
    .map((s) =>
      typeof s === "string"
        ? `.${s}`
        : `[${Object.entries(s.key)
            .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
            .join(",")}]`,
    )
    .join("");
}

function fieldsV1(paths: Set<string>): JsonObject {
  const root: JsonObject = {};
  for (const path of paths) {
    let current = root;
    for (const segment of JSON.parse(path) as PathSegment[]) {
      const key = typeof segment === "string" ? `f:${segment}` : `k:${JSON.stringify(segment.key)}`;
      current[key] ??= {};
      current = current[key] as JsonObject;
    }
    // A list item's own entry, as the real server writes it.
    if (typeof (JSON.parse(path) as PathSegment[]).at(-1) === "object") current["."] = {};
  }
  return root;
}

/** RFC 7386 merge patch; with `strategic`, lists with a known merge key are merged item by item. */
function mergePatch(target: unknown, patch: unknown, strategic: boolean, field?: string): unknown {
  const patchObject = asObject(patch);
  if (patchObject) {
    if (strategic && patchObject.$patch === "replace") {
      const replaced = { ...patchObject };
      delete replaced.$patch;
      return clone(replaced);
    }
    const base: JsonObject = { ...(asObject(target) ?? {}) };
    for (const [k, v] of Object.entries(patchObject)) {
      if (strategic && k.startsWith("$")) continue;
      if (v === null) delete base[k];
      else base[k] = mergePatch(base[k], v, strategic, k);
    }
    return base;
  }
  const mergeKey = field !== undefined ? MERGE_KEYS[field] : undefined;
  if (strategic && mergeKey && Array.isArray(patch) && Array.isArray(target)) {
    const result = target.map((item) => clone(item));
    for (const item of patch) {
      const o = asObject(item);
      if (!o) return clone(patch);
      const at = result.findIndex((existing) => asObject(existing)?.[mergeKey] === o[mergeKey]);
      if (o.$patch === "delete") {
        if (at >= 0) result.splice(at, 1);
      } else if (at >= 0) result[at] = mergePatch(result[at], o, true);
      else result.push(clone(o));
    }
    return result;
  }
  return clone(patch);
}

/** RFC 6902 JSON patch: add, remove, replace and test. */
function jsonPatch(target: FakeObject, patch: unknown): unknown {
  if (!Array.isArray(patch)) throw new ApiError(400, "BadRequest", "a JSON patch must be an array");
  const doc: JsonObject = clone(target);
  for (const raw of patch) {
    const op = asObject(raw);
    if (!op || typeof op.path !== "string")
      throw new ApiError(400, "BadRequest", "invalid JSON patch operation");
    const segments = op.path
      .split("/")
      .slice(1)
      .map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"));
    const last = segments.pop();
    let parent: unknown = doc;
    for (const s of segments) parent = Array.isArray(parent) ? parent[Number(s)] : asObject(parent)?.[s];
    if (last === undefined || typeof parent !== "object" || parent === null) {
      throw new ApiError(422, "Invalid", `JSON patch path ${op.path} does not exist`);
    }
    const container = parent as JsonObject | unknown[];
    const read = (): unknown =>
      Array.isArray(container) ? container[Number(last)] : (container as JsonObject)[last];
    switch (op.op) {
      case "add":
        if (Array.isArray(container)) {
          container.splice(last === "-" ? container.length : Number(last), 0, clone(op.value));
        } else container[last] = clone(op.value);
        break;
      case "replace":
      case "remove":
        if (read() === undefined)
          throw new ApiError(422, "Invalid", `JSON patch path ${op.path} does not exist`);
        if (op.op === "replace") {
          if (Array.isArray(container)) container[Number(last)] = clone(op.value);
          else container[last] = clone(op.value);
        } else if (Array.isArray(container)) container.splice(Number(last), 1);
        else delete container[last];
        break;
      case "test":
        if (!isDeepStrictEqual(read(), op.value)) {
          throw new ApiError(422, "Invalid", `JSON patch test failed at ${op.path}`);
        }
        break;
      default:
        throw new ApiError(422, "Invalid", `JSON patch operation ${String(op.op)} is not supported`);
    }
  }
  return doc;
}

interface ServerWebSocket {
  send(data: Buffer): void;
  close(): void;
  onMessage(listener: (payload: Buffer) => void): void;
  onClose(listener: () => void): void;
}

const WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/** The server side of an RFC 6455 WebSocket: binary and text messages, ping/pong, close. */
function acceptWebSocket(socket: Duplex, key: string, protocol: string, head: Buffer): ServerWebSocket {
  const accept = createHash("sha1")
    .update(key + WEBSOCKET_GUID)
    .digest("base64");
  socket.write(
    [
      "HTTP/1.1 101 Switching Protocols",
      "Upgrade: websocket",
      "Connection: Upgrade",
      `Sec-WebSocket-Accept: ${accept}`,
      `Sec-WebSocket-Protocol: ${protocol}`,
      "",
      "",
    ].join("\r\n"),
  );
  const messageListeners: Array<(payload: Buffer) => void> = [];
  const closeListeners: Array<() => void> = [];
  let buffered: Buffer = Buffer.alloc(0);
  let fragments: Buffer[] = [];
  let closed = false;

  const frame = (opcode: number, payload: Buffer): Buffer => {
    let header: Buffer;
    if (payload.length < 126) header = Buffer.from([0x80 | opcode, payload.length]);
    else if (payload.length < 65536) {
      header = Buffer.alloc(4);
      header[0] = 0x80 | opcode;
      header[1] = 126;
      header.writeUInt16BE(payload.length, 2);
    } else {
      header = Buffer.alloc(10);
      header[0] = 0x80 | opcode;
      header[1] = 127;
      header.writeBigUInt64BE(BigInt(payload.length), 2);
    }
    return Buffer.concat([header, payload]);
  };
  const finish = (): void => {
    if (closed) return;
    closed = true;
    for (const listener of closeListeners) listener();
  };
  const close = (): void => {
    if (closed) return;
    if (socket.writable) socket.end(frame(0x8, Buffer.from([0x03, 0xe8])));
    finish();
  };
  const parse = (): void => {
    for (;;) {
      if (buffered.length < 2) return;
      const b0 = buffered[0]!;
      const b1 = buffered[1]!;
      let length = b1 & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (buffered.length < 4) return;
        length = buffered.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        if (buffered.length < 10) return;
        length = Number(buffered.readBigUInt64BE(2));
        offset = 10;
      }
      const masked = (b1 & 0x80) !== 0;
      const mask = masked ? buffered.subarray(offset, offset + 4) : undefined;
      if (masked) offset += 4;
      if (buffered.length < offset + length) return;
      const payload = Buffer.from(buffered.subarray(offset, offset + length));
      if (mask) for (let i = 0; i < payload.length; i++) payload[i]! ^= mask[i % 4]!;
      buffered = buffered.subarray(offset + length);
      const opcode = b0 & 0x0f;
      const fin = (b0 & 0x80) !== 0;
      if (opcode === 0x8) {
        close();
        return;
      }
      if (opcode === 0x9) {
        socket.write(frame(0xa, payload));
        continue;
      }
      if (opcode === 0xa) continue;
      fragments.push(payload);
      if (fin) {
        const message = Buffer.concat(fragments);
        fragments = [];
        for (const listener of messageListeners) listener(message);
      }
    }
  };
  socket.on("data", (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    parse();
  });
  socket.on("close", finish);
  socket.on("error", finish);
  if (head.length > 0) {
    buffered = Buffer.from(head);
    queueMicrotask(parse);
  }
  return {
    send(data) {
      if (!closed && socket.writable) socket.write(frame(0x2, data));
    },
    close,
    onMessage(listener) {
      messageListeners.push(listener);
    },
    onClose(listener) {
      closeListeners.push(listener);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Realistic objects

/** A stable UUID for an object, so owners and their dependents agree without a lookup. */
export function uidFor(kind: string, namespace: string | undefined, name: string): string {
  const h = createHash("sha256")
    .update(`${kind}/${namespace ?? ""}/${name}`)
    .digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** A stable 64-hex container id, as containerd reports it. */
export function containerIdFor(pod: string, container: string): string {
  return createHash("sha256").update(`${pod}/${container}`).digest("hex");
}

/** The pod-template-hash a Deployment gives its ReplicaSet (stable per deployment name). */
export function templateHashFor(deployment: string): string {
  const digest = createHash("sha256").update(deployment).digest();
  let out = "";
  for (let i = 0; i < 10; i++) out += SUFFIX_ALPHABET[digest[i]! % SUFFIX_ALPHABET.length];
  return out;
}

const CREATED = "2025-01-15T10:00:00Z";

export function makeNamespace(name: string, labels: Record<string, string> = {}): FakeObject {
  return {
    apiVersion: "v1",
    kind: "Namespace",
    metadata: {
      name,
      uid: uidFor("Namespace", undefined, name),
      labels: { "kubernetes.io/metadata.name": name, ...labels },
    },
    spec: { finalizers: ["kubernetes"] },
    status: { phase: "Active" },
  };
}

export interface NodeSpec {
  name: string;
  kernelVersion?: string;
  /** GOARCH, as the kubelet reports it: amd64, arm64. */
  architecture?: string;
  osImage?: string;
  ready?: boolean;
  labels?: Record<string, string>;
  taints?: Array<{ key: string; value?: string; effect: "NoSchedule" | "PreferNoSchedule" | "NoExecute" }>;
}

export function makeNode(spec: NodeSpec): FakeObject {
  const architecture = spec.architecture ?? "amd64";
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name: spec.name,
      uid: uidFor("Node", undefined, spec.name),
      creationTimestamp: CREATED,
      labels: {
        "kubernetes.io/hostname": spec.name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": architecture,
        "beta.kubernetes.io/arch": architecture,
        "beta.kubernetes.io/os": "linux",
        ...spec.labels,
      },
    },
    spec: { podCIDR: "10.244.1.0/24", ...(spec.taints ? { taints: spec.taints } : {}) },
    status: {
      conditions: [
        {
          type: "Ready",
          status: spec.ready === false ? "False" : "True",
          reason: spec.ready === false ? "KubeletNotReady" : "KubeletReady",
          message:
            spec.ready === false ? "container runtime network not ready" : "kubelet is posting ready status",
          lastHeartbeatTime: CREATED,
          lastTransitionTime: CREATED,
        },
      ],
      addresses: [
        { type: "InternalIP", address: "10.0.0.10" },
        { type: "Hostname", address: spec.name },
      ],
      nodeInfo: {
        machineID: createHash("md5").update(spec.name).digest("hex"),
        systemUUID: uidFor("system", undefined, spec.name),
        bootID: uidFor("boot", undefined, spec.name),
        kernelVersion: spec.kernelVersion ?? "6.8.0-1019-aws",
        osImage: spec.osImage ?? "Ubuntu 24.04.1 LTS",
        containerRuntimeVersion: "containerd://1.7.22",
        kubeletVersion: "v1.31.2",
        kubeProxyVersion: "",
        operatingSystem: "linux",
        architecture,
      },
    },
  };
}

export interface PodSpecInput {
  name: string;
  namespace?: string;
  /** Node the pod is scheduled on; unscheduled (Pending) without one. */
  node?: string;
  labels?: Record<string, string>;
  /**
   * The workload: a Deployment owns the pod through its ReplicaSet `<name>-<hash>`, a CronJob through
   * its Job `<name>-28950000`; DaemonSet, StatefulSet, ReplicaSet and Job own it directly.
   */
  owner?: { kind: string; name: string };
  containers?: Array<{
    name: string;
    id?: string;
    image?: string;
    ports?: Array<{ name?: string; containerPort: number }>;
  }>;
  initContainers?: Array<{ name: string; id?: string; image?: string }>;
  /** Default: Running when scheduled, Pending otherwise. */
  phase?: "Pending" | "Running" | "Succeeded" | "Failed";
  /** Default: true when Running. */
  ready?: boolean;
}

/** The Job name a CronJob creates (its scheduled time in minutes). */
export const CRONJOB_JOB_SUFFIX = "28950000";

export function makePod(spec: PodSpecInput): FakeObject {
  const namespace = spec.namespace ?? "default";
  const phase = spec.phase ?? (spec.node ? "Running" : "Pending");
  const ready = spec.ready ?? phase === "Running";
  const containers = spec.containers ?? [{ name: "app" }];
  const labels: Record<string, string> = { ...spec.labels };
  let ownerReferences: FakeObjectMeta["ownerReferences"];
  const ref = (apiVersion: string, kind: string, name: string) => ({
    apiVersion,
    kind,
    name,
    uid: uidFor(kind, namespace, name),
    controller: true,
    blockOwnerDeletion: true,
  });
  const owner = spec.owner ?? { kind: "", name: "" };
  switch (owner.kind) {
    case "":
      break;
    case "Deployment": {
      const hash = templateHashFor(owner.name);
      labels["pod-template-hash"] = hash;
      ownerReferences = [ref("apps/v1", "ReplicaSet", `${owner.name}-${hash}`)];
      break;
    }
    case "CronJob":
      ownerReferences = [ref("batch/v1", "Job", `${owner.name}-${CRONJOB_JOB_SUFFIX}`)];
      labels["batch.kubernetes.io/job-name"] = `${owner.name}-${CRONJOB_JOB_SUFFIX}`;
      break;
    case "Job":
      ownerReferences = [ref("batch/v1", "Job", owner.name)];
      labels["batch.kubernetes.io/job-name"] = owner.name;
      break;
    case "DaemonSet":
    case "StatefulSet":
      labels["controller-revision-hash"] ??= templateHashFor(`${owner.kind}/${owner.name}`);
      ownerReferences = [ref("apps/v1", owner.kind, owner.name)];
      break;
    case "Node":
      // A static pod's mirror is owned by its node.
      ownerReferences = [{ ...ref("v1", "Node", owner.name), uid: uidFor("Node", undefined, owner.name) }];
      break;
    default:
      ownerReferences = [ref("apps/v1", owner.kind, owner.name)];
  }
  const running = phase === "Running";
  const status = (c: { name: string; id?: string; image?: string }, init: boolean) => ({
    name: c.name,
    image: c.image ?? `registry.example.com/${c.name}:1.0`,
    imageID: `registry.example.com/${c.name}@sha256:${containerIdFor("image", c.name)}`,
    ...(phase !== "Pending"
      ? { containerID: `containerd://${c.id ?? containerIdFor(spec.name, c.name)}` }
      : {}),
    ready: init ? false : ready,
    restartCount: 0,
    started: init ? false : running,
    state: init
      ? { terminated: { exitCode: 0, reason: "Completed", startedAt: CREATED, finishedAt: CREATED } }
      : running
        ? { running: { startedAt: CREATED } }
        : { waiting: { reason: "ContainerCreating" } },
  });
  const condition = (type: string, value: boolean) => ({
    type,
    status: value ? "True" : "False",
    lastProbeTime: null,
    lastTransitionTime: CREATED,
  });
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: spec.name,
      namespace,
      uid: uidFor("Pod", namespace, spec.name),
      creationTimestamp: CREATED,
      labels,
      ...(ownerReferences ? { ownerReferences } : {}),
    },
    spec: {
      ...(spec.initContainers
        ? {
            initContainers: spec.initContainers.map((c) => ({
              name: c.name,
              image: c.image ?? `registry.example.com/${c.name}:1.0`,
            })),
          }
        : {}),
      containers: containers.map((c) => ({
        name: c.name,
        image: c.image ?? `registry.example.com/${c.name}:1.0`,
        ...(c.ports ? { ports: c.ports.map((p) => ({ ...p, protocol: "TCP" })) } : {}),
      })),
      ...(spec.node ? { nodeName: spec.node } : {}),
      restartPolicy: "Always",
      schedulerName: "default-scheduler",
      serviceAccountName: "default",
    },
    status: {
      phase,
      conditions: [
        condition("PodScheduled", spec.node !== undefined),
        ...(spec.node
          ? [condition("Initialized", true), condition("ContainersReady", ready), condition("Ready", ready)]
          : []),
      ],
      ...(spec.node
        ? {
            hostIP: "10.0.0.10",
            podIP: `10.244.1.${(parseInt(uidFor("ip", namespace, spec.name).slice(0, 2), 16) % 250) + 2}`,
            startTime: CREATED,
            ...(spec.initContainers
              ? { initContainerStatuses: spec.initContainers.map((c) => status(c, true)) }
              : {}),
            containerStatuses: containers.map((c) => status(c, false)),
          }
        : {}),
      qosClass: "BestEffort",
    },
  };
}

export interface DaemonSetSpecInput {
  name: string;
  namespace?: string;
  /** Selector labels, also the pod template's labels. */
  labels?: Record<string, string>;
  desired: number;
  ready: number;
  updated: number;
  /** Default: ready. */
  available?: number;
  /** Default: desired. */
  current?: number;
  generation?: number;
  /** Default: generation. */
  observedGeneration?: number;
  image?: string;
}

export function makeDaemonSet(spec: DaemonSetSpecInput): FakeObject {
  const namespace = spec.namespace ?? "default";
  const labels = spec.labels ?? { "app.kubernetes.io/name": spec.name };
  const generation = spec.generation ?? 1;
  const current = spec.current ?? spec.desired;
  const available = spec.available ?? spec.ready;
  return {
    apiVersion: "apps/v1",
    kind: "DaemonSet",
    metadata: {
      name: spec.name,
      namespace,
      uid: uidFor("DaemonSet", namespace, spec.name),
      generation,
      creationTimestamp: CREATED,
      labels,
    },
    spec: {
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          containers: [{ name: spec.name, image: spec.image ?? `registry.example.com/${spec.name}:1.0` }],
        },
      },
      updateStrategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 1, maxSurge: 0 } },
      revisionHistoryLimit: 10,
    },
    status: {
      currentNumberScheduled: current,
      desiredNumberScheduled: spec.desired,
      numberMisscheduled: 0,
      numberReady: spec.ready,
      numberAvailable: available,
      ...(spec.desired - available > 0 ? { numberUnavailable: spec.desired - available } : {}),
      updatedNumberScheduled: spec.updated,
      observedGeneration: spec.observedGeneration ?? generation,
    },
  };
}

export interface DeploymentSpecInput {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  replicas: number;
  /** Status counts; default: all replicas updated, ready and available. */
  updated?: number;
  ready?: number;
  available?: number;
  /** Total pods, old and new; default: replicas. */
  total?: number;
  generation?: number;
  observedGeneration?: number;
}

export function makeDeployment(spec: DeploymentSpecInput): FakeObject {
  const namespace = spec.namespace ?? "default";
  const labels = spec.labels ?? { "app.kubernetes.io/name": spec.name };
  const generation = spec.generation ?? 1;
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: {
      name: spec.name,
      namespace,
      uid: uidFor("Deployment", namespace, spec.name),
      generation,
      creationTimestamp: CREATED,
      labels,
    },
    spec: {
      replicas: spec.replicas,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: { containers: [{ name: spec.name, image: `registry.example.com/${spec.name}:1.0` }] },
      },
      strategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: "25%", maxSurge: "25%" } },
      progressDeadlineSeconds: 600,
    },
    status: {
      observedGeneration: spec.observedGeneration ?? generation,
      replicas: spec.total ?? spec.replicas,
      updatedReplicas: spec.updated ?? spec.replicas,
      readyReplicas: spec.ready ?? spec.replicas,
      availableReplicas: spec.available ?? spec.ready ?? spec.replicas,
      conditions: [
        {
          type: "Progressing",
          status: "True",
          reason: "NewReplicaSetAvailable",
          message: `ReplicaSet "${spec.name}-${templateHashFor(spec.name)}" has successfully progressed.`,
          lastUpdateTime: CREATED,
          lastTransitionTime: CREATED,
        },
      ],
    },
  };
}

/** The ReplicaSet `<deployment>-<hash>` a Deployment owns (the owner makePod gives its pods). */
export function makeReplicaSet(spec: {
  deployment: string;
  namespace?: string;
  replicas?: number;
}): FakeObject {
  const namespace = spec.namespace ?? "default";
  const hash = templateHashFor(spec.deployment);
  const name = `${spec.deployment}-${hash}`;
  const labels = { "app.kubernetes.io/name": spec.deployment, "pod-template-hash": hash };
  const replicas = spec.replicas ?? 1;
  return {
    apiVersion: "apps/v1",
    kind: "ReplicaSet",
    metadata: {
      name,
      namespace,
      uid: uidFor("ReplicaSet", namespace, name),
      generation: 1,
      creationTimestamp: CREATED,
      labels,
      ownerReferences: [
        {
          apiVersion: "apps/v1",
          kind: "Deployment",
          name: spec.deployment,
          uid: uidFor("Deployment", namespace, spec.deployment),
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    spec: {
      replicas,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          containers: [{ name: spec.deployment, image: `registry.example.com/${spec.deployment}:1.0` }],
        },
      },
    },
    status: { replicas, readyReplicas: replicas, availableReplicas: replicas, observedGeneration: 1 },
  };
}

/** A Job, owned by a CronJob when `cronJob` is given (named `<cronJob>-<suffix>`, as makePod expects). */
export function makeJob(spec: { name?: string; cronJob?: string; namespace?: string }): FakeObject {
  const namespace = spec.namespace ?? "default";
  const name = spec.cronJob !== undefined ? `${spec.cronJob}-${CRONJOB_JOB_SUFFIX}` : spec.name!;
  return {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: {
      name,
      namespace,
      uid: uidFor("Job", namespace, name),
      generation: 1,
      creationTimestamp: CREATED,
      labels: { "batch.kubernetes.io/job-name": name },
      ...(spec.cronJob !== undefined
        ? {
            ownerReferences: [
              {
                apiVersion: "batch/v1",
                kind: "CronJob",
                name: spec.cronJob,
                uid: uidFor("CronJob", namespace, spec.cronJob),
                controller: true,
                blockOwnerDeletion: true,
              },
            ],
          }
        : {}),
    },
    spec: {
      completions: 1,
      parallelism: 1,
      backoffLimit: 6,
      template: {
        metadata: { labels: { "batch.kubernetes.io/job-name": name } },
        spec: {
          restartPolicy: "Never",
          containers: [{ name: "job", image: "registry.example.com/job:1.0" }],
        },
      },
    },
    status: { active: 1, startTime: CREATED },
  };
}

export function makeService(spec: {
  name: string;
  namespace?: string;
  selector: Record<string, string>;
  ports: Array<{ name?: string; port: number; targetPort?: number | string }>;
}): FakeObject {
  const namespace = spec.namespace ?? "default";
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: {
      name: spec.name,
      namespace,
      uid: uidFor("Service", namespace, spec.name),
      creationTimestamp: CREATED,
    },
    spec: {
      type: "ClusterIP",
      clusterIP: "10.96.0.42",
      clusterIPs: ["10.96.0.42"],
      selector: spec.selector,
      ports: spec.ports.map((p) => ({ ...p, protocol: "TCP", targetPort: p.targetPort ?? p.port })),
      sessionAffinity: "None",
    },
    status: { loadBalancer: {} },
  };
}
