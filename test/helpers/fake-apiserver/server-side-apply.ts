/**
 * Server-side apply: the applied configuration is the manager's whole field set; fields it owned
 * and no longer applies are removed unless another manager owns them (a list item stays while
 * another manager owns anything inside it); changing a field another manager owns is a conflict
 * unless forced, which takes the field over.
 */
import { isDeepStrictEqual } from "node:util";
import { ApiError } from "./api-errors.ts";
import { deletePath, dottedPath, fieldPaths, getPath, isInside, setPath } from "./field-paths.ts";
import { managedFieldsOf } from "./field-ownership.ts";
import { asObject, clone, now } from "./json.ts";
import { groupVersion } from "./resource-types.ts";
import type { Route } from "./routing.ts";
import { comparable, withoutStatus } from "./store.ts";
import type { ObjectStore } from "./store.ts";
import type { FakeObject } from "./types.ts";

/** Applies `body` (an apply patch) to the object the route names, creating it if needed. */
export function serverSideApply(
  store: ObjectStore,
  route: Route,
  body: unknown,
  query: URLSearchParams,
): { code: number; object: FakeObject } {
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
  const name = route.name!;
  const force = query.get("force") === "true";
  const current = store.find(route.type, route.namespace, name);
  const applied = new Set(fieldPaths(config));
  if (route.type.subresources.includes("status")) {
    for (const p of [...applied]) if (p.startsWith('["status"')) applied.delete(p);
  }
  const owners = store.ownersOf(route.type, route.namespace, name);
  if (!current) {
    store.requireNamespace(route.type, route.namespace);
    const created = store.initialize(route.type, withoutStatus(route.type, config), route.namespace);
    owners.set(manager, { operation: "Apply", paths: applied, time: now() });
    return { code: 201, object: store.commit(route.type, created, "ADDED", undefined) };
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
      { name, kind: route.type.plural, causes },
    );
  }
  for (const c of conflicts) owners.get(c.manager)!.paths.delete(c.path);
  const next = clone(current);
  const previouslyOwned = owners.get(manager)?.paths ?? new Set<string>();
  for (const p of previouslyOwned) {
    // A list item stays while another manager owns it or anything inside it.
    const ownedElsewhere = [...owners].some(
      ([other, m]) => other !== manager && (m.paths.has(p) || [...m.paths].some((q) => isInside(p, q))),
    );
    if (!applied.has(p) && !ownedElsewhere) deletePath(next, p);
  }
  for (const p of applied) setPath(next, p, clone(getPath(config, p)));
  const finished = store.finishUpdate(route.type, current, next);
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
  return { code: 200, object: store.commit(route.type, finished, "MODIFIED", clone(current)) };
}
