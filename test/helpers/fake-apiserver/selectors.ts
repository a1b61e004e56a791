/** Label and field selectors of lists and watches, with the fields the real server lets each resource select on. */
import { parseLabelSelector, selectorMatches } from "../../../lib/label-selector.ts";
import type { LabelSelector } from "../../../lib/label-selector.ts";
import { ApiError } from "./api-errors.ts";
import { asObject } from "./json.ts";
import type { ResourceType } from "./resource-types.ts";
import type { FakeObject } from "./types.ts";

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

interface FieldRequirement {
  path: string;
  equal: boolean;
  value: string;
}

export interface Selectors {
  labels: LabelSelector | undefined;
  fields: FieldRequirement[];
}

/** A request's `labelSelector` and `fieldSelector`; 400 when one does not parse or names a field the resource does not offer. */
export function selectorsOf(type: ResourceType, query: URLSearchParams): Selectors {
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
}

/** Selectors every object matches. */
export const NO_SELECTORS: Selectors = { labels: undefined, fields: [] };

export function matchesSelectors(obj: FakeObject, { labels, fields }: Selectors): boolean {
  if (labels && !selectorMatches(labels, obj.metadata?.labels ?? {})) return false;
  for (const f of fields) {
    const value = fieldValue(obj, f.path);
    if ((value === f.value) !== f.equal) return false;
  }
  return true;
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

/** A field's value as a field selector sees it: missing fields are "", booleans and numbers their text. */
function fieldValue(obj: FakeObject, path: string): string {
  let current: unknown = obj;
  for (const segment of path.split(".")) current = asObject(current)?.[segment];
  if (current === undefined || current === null) return "";
  return typeof current === "object" ? JSON.stringify(current) : String(current);
}
