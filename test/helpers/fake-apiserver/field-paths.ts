/**
 * Field paths, the unit of field ownership in server-side apply: a path is a JSON-encoded array of
 * steps, each a map key or `{ key }`, an item of a list with a merge key (`containers` by `name`,
 * ...) named by that key, as server-side apply's associative lists are (`k:{"name":"nginx"}` in
 * managedFields). A path ending in an item stands for the item's existence.
 */
import { asObject } from "./json.ts";
import type { FakeObject, JsonObject } from "./types.ts";

type PathSegment = string | { key: JsonObject };

/** Strategic-merge-patch merge keys of the lists seccompose and its tests patch. */
export const MERGE_KEYS: Record<string, string> = {
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
 * The leaf paths of an object's fields: maps are descended into, and so are lists with a merge key
 * (item by item, as server-side apply treats `containers`, `env`, ...); other lists and scalars are
 * leaves; identity and server-owned metadata are left out.
 */
export function fieldPaths(obj: FakeObject): string[] {
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
export function getPath(obj: unknown, path: string): unknown {
  let current = obj;
  const segments = JSON.parse(path) as PathSegment[];
  for (const segment of segments) {
    current = typeof segment === "string" ? asObject(current)?.[segment] : findItem(current, segment.key);
  }
  const last = segments.at(-1);
  return typeof last === "object" && current !== undefined ? last.key : current;
}

/** Sets the value at `path`, creating maps and list items on the way; a list item path only makes the item exist. */
export function setPath(obj: JsonObject, path: string, value: unknown): void {
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
export function deletePath(obj: JsonObject, path: string): void {
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

/** True when `inner` is a field inside `outer` (a map or a list item). */
export function isInside(outer: string, inner: string): boolean {
  return inner.startsWith(`${outer.slice(0, -1)},`);
}

/** As the real server names a field in a conflict: `.spec.template.spec.containers[name="a"].image`. */
export function dottedPath(path: string): string {
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

/** A field set in managedFields' FieldsV1 form: `f:` for map keys, `k:` for list items. */
export function fieldsV1(paths: Set<string>): JsonObject {
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
