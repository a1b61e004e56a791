/** RBAC as tests set it up: requests matching a forbid rule are answered 403, as the real server would. */
import { ApiError } from "./api-errors.ts";
import { qualifiedResource } from "./resource-types.ts";
import type { Route } from "./routing.ts";
import type { ForbidRule } from "./types.ts";

/** The user the kubeconfig's token stands for, as the real server names it in a refusal. */
const USER = "system:serviceaccount:seccompose:tester";

export class AccessRules {
  readonly #forbidden: ForbidRule[] = [];

  forbid(rule: ForbidRule): void {
    this.#forbidden.push(rule);
  }

  isForbidden(verb: string, route: Route): boolean {
    const resource = resourceOf(route);
    return this.#forbidden.some(
      (r) =>
        (r.verb === undefined || r.verb === verb) &&
        r.resource === resource &&
        (r.namespace === undefined || r.namespace === route.namespace),
    );
  }

  /** Throws the real server's 403 when the request is forbidden. */
  check(verb: string, route: Route): void {
    if (!this.isForbidden(verb, route)) return;
    const subject = route.name
      ? `${qualifiedResource(route.type)} "${route.name}"`
      : qualifiedResource(route.type);
    const scope = route.namespace ? `in the namespace "${route.namespace}"` : "at the cluster scope";
    throw new ApiError(
      403,
      "Forbidden",
      `${subject} is forbidden: User "${USER}" cannot ${verb} resource "${resourceOf(route)}" in API group "${route.type.group}" ${scope}`,
      { ...(route.name ? { name: route.name } : {}), group: route.type.group, kind: route.type.plural },
    );
  }
}

function resourceOf(route: Route): string {
  return route.subresource ? `${route.type.plural}/${route.subresource}` : route.type.plural;
}
