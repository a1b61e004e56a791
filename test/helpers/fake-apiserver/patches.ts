/**
 * The patch types besides server-side apply: JSON patch (RFC 6902, by fast-json-patch), merge patch
 * (RFC 7386) and strategic merge patch, which merges lists with a known merge key item by item.
 */
import jsonPatchLibrary from "fast-json-patch";
import type { Operation } from "fast-json-patch";
import { ApiError } from "./api-errors.ts";
import { MERGE_KEYS } from "./field-paths.ts";
import { asObject, clone } from "./json.ts";
import type { FakeObject, JsonObject } from "./types.ts";

// The package is CommonJS without named exports Node can see.
const { applyPatch, JsonPatchError } = jsonPatchLibrary;

const ACCEPTED =
  "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json";

/** `current` with the patch of media type `contentType` applied; 415 for a type the server does not know. */
export function patchObject(contentType: string, current: FakeObject, patch: unknown): unknown {
  switch (contentType) {
    case "application/merge-patch+json":
      return mergePatch(current, patch, false);
    case "application/strategic-merge-patch+json":
      return mergePatch(current, patch, true);
    case "application/json-patch+json":
      return jsonPatch(current, patch);
    default:
      throw new ApiError(
        415,
        "UnsupportedMediaType",
        `the body of the request was in an unknown format - accepted media types include: ${ACCEPTED}`,
      );
  }
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

/** RFC 6902 JSON patch on a copy: all operations or none, failures as the API server's 400 and 422. */
function jsonPatch(target: FakeObject, patch: unknown): unknown {
  try {
    return applyPatch(target, patch as Operation[], true, false).newDocument;
  } catch (err) {
    if (!(err instanceof JsonPatchError)) throw err;
    const path = String(asObject(err.operation)?.path);
    switch (err.name) {
      case "SEQUENCE_NOT_AN_ARRAY":
        throw new ApiError(400, "BadRequest", "a JSON patch must be an array");
      case "OPERATION_NOT_AN_OBJECT":
      case "OPERATION_PATH_INVALID":
        throw new ApiError(400, "BadRequest", "invalid JSON patch operation");
      case "TEST_OPERATION_FAILED":
        throw new ApiError(422, "Invalid", `JSON patch test failed at ${path}`);
      case "OPERATION_PATH_UNRESOLVABLE":
      case "OPERATION_PATH_CANNOT_ADD":
      case "OPERATION_FROM_UNRESOLVABLE":
        throw new ApiError(422, "Invalid", `JSON patch path ${path} does not exist`);
      default:
        throw new ApiError(
          422,
          "Invalid",
          `invalid JSON patch operation at ${path}: ${err.message.split("\n")[0]}`,
        );
    }
  }
}
