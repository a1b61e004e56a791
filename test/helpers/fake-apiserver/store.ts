/**
 * The stored objects: resource versions, what the server fills in on create and carries over on
 * update (identity, generation, managedFields), and a change event for the watches on every write.
 */
import { randomUUID } from "node:crypto";
import { isDeepStrictEqual } from "node:util";
import { ApiError, notFound } from "./api-errors.ts";
import { fieldPaths } from "./field-paths.ts";
import { FieldOwnership, managedFieldsOf, recordUpdate } from "./field-ownership.ts";
import type { Owners } from "./field-ownership.ts";
import { clone, now, randomSuffix } from "./json.ts";
import { ResourceTypes, groupVersion, qualifiedResource } from "./resource-types.ts";
import type { ResourceType } from "./resource-types.ts";
import type { Route } from "./routing.ts";
import { matchesSelectors } from "./selectors.ts";
import type { Selectors } from "./selectors.ts";
import type { FakeObject, JsonObject } from "./types.ts";

export interface Change {
  /** The resource version the change created. */
  rv: number;
  type: ResourceType;
  eventType: "ADDED" | "MODIFIED" | "DELETED";
  object: FakeObject;
  previous: FakeObject | undefined;
}

export class ObjectStore {
  readonly types = new ResourceTypes();
  readonly ownership = new FieldOwnership();
  readonly #objects = new Map<ResourceType, Map<string, FakeObject>>();
  readonly #onChange: (change: Change) => void;
  #resourceVersion = 1;

  constructor(onChange: (change: Change) => void) {
    this.#onChange = onChange;
  }

  /** The latest resource version, as a list reports it. */
  get resourceVersion(): string {
    return String(this.#resourceVersion);
  }

  keyOf(type: ResourceType, namespace: string | undefined, name: string): string {
    return type.namespaced ? `${namespace ?? ""}/${name}` : name;
  }

  ownersOf(type: ResourceType, namespace: string | undefined, name: string): Owners {
    return this.ownership.of(type, this.keyOf(type, namespace, name));
  }

  /** The stored object itself (not a copy), if any. */
  find(type: ResourceType, namespace: string | undefined, name: string): FakeObject | undefined {
    return this.#bucket(type).get(this.keyOf(type, namespace, name));
  }

  /** The stored object the route names; 404 when there is none. */
  read(route: Route): FakeObject {
    const found = this.find(route.type, route.namespace, route.name!);
    if (!found) throw notFound(route.type, route.name!);
    return found;
  }

  /** 404 when a namespaced write names a namespace that does not exist. */
  requireNamespace(type: ResourceType, namespace: string | undefined): void {
    if (!type.namespaced || namespace === undefined) return;
    const namespaces = this.types.byKind("Namespace");
    if (!this.#bucket(namespaces).has(namespace)) throw notFound(namespaces, namespace);
  }

  /** The stored objects (not copies) in `namespace` (all when undefined) that match, in key order. */
  list(type: ResourceType, namespace: string | undefined, selectors: Selectors): FakeObject[] {
    return [...this.#bucket(type).values()]
      .filter((o) => namespace === undefined || o.metadata!.namespace === namespace)
      .filter((o) => matchesSelectors(o, selectors))
      .sort((a, b) =>
        this.keyOf(type, a.metadata!.namespace, a.metadata!.name!).localeCompare(
          this.keyOf(type, b.metadata!.namespace, b.metadata!.name!),
        ),
      );
  }

  /** Completes an object's metadata for storing it the first time. */
  initialize(type: ResourceType, obj: FakeObject, namespace: string | undefined): FakeObject {
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
    meta.creationTimestamp ??= now();
    if (type.kind !== "Event" && type.kind !== "Namespace") meta.generation ??= 1;
    if (type.kind === "Namespace") stored.status ??= { phase: "Active" };
    return stored;
  }

  /** Carries over what the server owns and bumps generation when the spec (anything but metadata/status) changed. */
  finishUpdate(type: ResourceType, previous: FakeObject, next: FakeObject): FakeObject {
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
  }

  /** Stores `obj` (already complete), bumps the resource version, notifies watches and returns a copy. */
  commit(
    type: ResourceType,
    obj: FakeObject,
    eventType: Change["eventType"],
    previous: FakeObject | undefined,
  ): FakeObject {
    const meta = obj.metadata!;
    const key = this.keyOf(type, meta.namespace, meta.name!);
    this.#resourceVersion++;
    if (eventType !== "DELETED") {
      meta.resourceVersion = String(this.#resourceVersion);
      meta.managedFields = managedFieldsOf(type, this.ownership.of(type, key));
      this.#bucket(type).set(key, obj);
    } else {
      this.#bucket(type).delete(key);
      this.ownership.forget(type, key);
    }
    if (type.kind === "CustomResourceDefinition") this.types.syncCustomType(obj, eventType === "DELETED");
    const object = clone(obj);
    this.#onChange({ rv: this.#resourceVersion, type, eventType, object, previous });
    return clone(obj);
  }

  /** A create request's object, owned wholly by `manager`; 409 when it exists. */
  create(route: Route, obj: FakeObject, manager: string): FakeObject {
    this.requireNamespace(route.type, route.namespace);
    const created = this.initialize(route.type, obj, route.namespace);
    const meta = created.metadata!;
    const key = this.keyOf(route.type, meta.namespace, meta.name!);
    if (this.#bucket(route.type).has(key)) {
      throw new ApiError(
        409,
        "AlreadyExists",
        `${qualifiedResource(route.type)} "${meta.name}" already exists`,
        {
          name: meta.name!,
          kind: route.type.plural,
        },
      );
    }
    this.ownership.of(route.type, key).set(manager, {
      operation: "Update",
      paths: new Set(fieldPaths(created)),
      time: now(),
    });
    return this.commit(route.type, created, "ADDED", undefined);
  }

  /**
   * An update or patch of the object or its status as `manager`: a status write changes only
   * status; a main-resource write leaves status alone when the type has a status subresource, as in
   * the real server. An update that changes nothing stores nothing.
   */
  write(route: Route, current: FakeObject, next: FakeObject, manager: string): FakeObject {
    let merged: FakeObject;
    if (route.subresource === "status") merged = { ...clone(current), status: clone(next.status) };
    else if (route.type.subresources.includes("status")) {
      merged = { ...clone(next), ...(current.status !== undefined ? { status: clone(current.status) } : {}) };
      if (current.status === undefined) delete merged.status;
    } else merged = clone(next);
    merged = this.finishUpdate(route.type, current, merged);
    if (isDeepStrictEqual(comparable(merged), comparable(current))) return clone(current);
    recordUpdate(
      this.ownersOf(route.type, current.metadata!.namespace, current.metadata!.name!),
      current,
      merged,
      manager,
    );
    return this.commit(route.type, merged, "MODIFIED", clone(current));
  }

  delete(type: ResourceType, current: FakeObject): void {
    this.commit(type, clone(current), "DELETED", clone(current));
  }

  /** Stores a new object as a controller would (no checks besides existence). */
  add(obj: FakeObject): FakeObject {
    const type = this.types.byKind(String(obj.kind), obj.apiVersion);
    const stored = this.initialize(type, obj, obj.metadata?.namespace);
    const key = this.keyOf(type, stored.metadata!.namespace, stored.metadata!.name!);
    if (this.#bucket(type).has(key)) throw new Error(`fake API server: ${type.kind} ${key} already exists`);
    return this.commit(type, stored, "ADDED", undefined);
  }

  /** Replaces an object as a controller would, as `manager`. */
  replace(obj: FakeObject, manager: string): FakeObject {
    const type = this.types.byKind(String(obj.kind), obj.apiVersion);
    const namespace = type.namespaced ? (obj.metadata?.namespace ?? "default") : undefined;
    const name = obj.metadata?.name ?? "";
    const current = this.find(type, namespace, name);
    if (!current) {
      throw new Error(`fake API server: ${type.kind} ${this.keyOf(type, namespace, name)} does not exist`);
    }
    const next = this.finishUpdate(type, current, clone(obj));
    recordUpdate(this.ownersOf(type, namespace, name), current, next, manager);
    return this.commit(type, next, "MODIFIED", clone(current));
  }

  #bucket(type: ResourceType): Map<string, FakeObject> {
    let objects = this.#objects.get(type);
    if (!objects) {
      objects = new Map();
      this.#objects.set(type, objects);
    }
    return objects;
  }
}

function specOf(obj: FakeObject): JsonObject {
  const copy: JsonObject = { ...obj };
  delete copy.metadata;
  delete copy.status;
  return copy;
}

/** An object without what changes on every write, to tell whether a write changed anything. */
export function comparable(obj: FakeObject): FakeObject {
  const copy = clone(obj);
  if (copy.metadata) {
    delete copy.metadata.resourceVersion;
    delete copy.metadata.managedFields;
  }
  return copy;
}

/** Status comes only through the status subresource when the type has one. */
export function withoutStatus(type: ResourceType, obj: FakeObject): FakeObject {
  if (!type.subresources.includes("status")) return obj;
  const copy = clone(obj);
  delete copy.status;
  return copy;
}
