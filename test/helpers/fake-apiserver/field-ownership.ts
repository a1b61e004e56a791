/**
 * Which manager owns which fields of each object (managedFields): an update takes the fields it
 * changed from whoever owned them; server-side apply (server-side-apply.ts) sets a manager's whole set.
 */
import { isDeepStrictEqual } from "node:util";
import { fieldPaths, fieldsV1, getPath } from "./field-paths.ts";
import { now } from "./json.ts";
import { groupVersion } from "./resource-types.ts";
import type { ResourceType } from "./resource-types.ts";
import type { FakeObject, JsonObject } from "./types.ts";

export interface FieldManager {
  operation: "Apply" | "Update";
  /** Field paths (field-paths.ts) the manager owns. */
  paths: Set<string>;
  time: string;
}

/** The managers of one object, by name. */
export type Owners = Map<string, FieldManager>;

export class FieldOwnership {
  readonly #owners = new Map<string, Owners>();

  /** The managers of the object stored under `key`; an empty map, kept, when it has none yet. */
  of(type: ResourceType, key: string): Owners {
    const id = ownerId(type, key);
    let owners = this.#owners.get(id);
    if (!owners) {
      owners = new Map();
      this.#owners.set(id, owners);
    }
    return owners;
  }

  forget(type: ResourceType, key: string): void {
    this.#owners.delete(ownerId(type, key));
  }
}

function ownerId(type: ResourceType, key: string): string {
  return `${type.group}/${type.plural}/${key}`;
}

/** `next` as `manager` wrote it with an update (PUT, patch or a test's update()): it owns what it changed. */
export function recordUpdate(owners: Owners, previous: FakeObject, next: FakeObject, manager: string): void {
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
}

/** The object's metadata.managedFields: one entry per manager that owns any field. */
export function managedFieldsOf(type: ResourceType, owners: Owners): JsonObject[] {
  return [...owners.entries()]
    .filter(([, m]) => m.paths.size > 0)
    .map(([manager, m]) => ({
      manager,
      operation: m.operation,
      apiVersion: groupVersion(type),
      time: m.time,
      fieldsType: "FieldsV1",
      fieldsV1: fieldsV1(m.paths),
    }));
}
