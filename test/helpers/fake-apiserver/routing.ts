/** Which resource, object and subresource a request path names, and which RBAC verb a request is. */
import { ApiError } from "./api-errors.ts";
import type { ResourceType, ResourceTypes } from "./resource-types.ts";

export interface Route {
  type: ResourceType;
  namespace: string | undefined;
  name: string | undefined;
  subresource: string | undefined;
}

export type Verb = "get" | "list" | "watch" | "create" | "update" | "patch" | "delete";

export function parseRoute(types: ResourceTypes, pathname: string): Route | undefined {
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
  if (rest[0] === "namespaces" && rest.length >= 3) {
    const type = types.byPlural(group, version, rest[2]);
    if (type?.namespaced && rest.length <= 5) {
      return { type, namespace: rest[1], name: rest[3], subresource: rest[4] };
    }
  }
  const type = types.byPlural(group, version, rest[0]);
  if (!type || rest.length > 3) return undefined;
  // A namespaced type without a namespace in the path: a list or watch across all namespaces.
  if (type.namespaced && rest.length > 1) return undefined;
  return { type, namespace: undefined, name: rest[1], subresource: rest[2] };
}

export function verbOf(method: string, route: Route, watching: boolean): Verb {
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
      return method === "PUT" ? "update" : method === "PATCH" ? "patch" : "delete";
    default:
      throw new ApiError(405, "MethodNotAllowed", `method ${method} is not allowed`);
  }
}
