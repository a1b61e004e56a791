/**
 * The NATS user list that deploy/nats-permissions.json describes, rendered the way the `nats-auth`
 * Secret holds it (users.json inside the server's `authorization` block), for the deployment tests.
 */
import model from "../../deploy/nats-permissions.json" with { type: "json" };
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { subjectToken } from "../../lib/subjects.ts";

export type Component = keyof typeof model.users;

export interface SubjectRules {
  allow: string[];
  deny: string[];
}

export interface NatsPermissions {
  publish: SubjectRules;
  subscribe: SubjectRules;
  allow_responses?: boolean;
}

/** One entry of `authorization.users` in nats.conf. */
export interface NatsUser {
  user: string;
  password: string;
  permissions: NatsPermissions;
}

export const COMPONENTS = Object.keys(model.users) as Component[];

/** Replaces `<node>` (subject token) and `<nodeName>` (raw name) in every string of `value`. */
function forNode<T>(value: T, nodeName: string): T {
  const token = subjectToken(nodeName);
  return JSON.parse(
    JSON.stringify(value, (_key, v: unknown) =>
      typeof v === "string" ? v.replaceAll("<nodeName>", nodeName).replaceAll("<node>", token) : v,
    ),
  ) as T;
}

function hasPlaceholder(value: unknown): boolean {
  return /<node(Name)?>/.test(JSON.stringify(value));
}

export function isPerNode(component: Component): boolean {
  return model.users[component].perNode;
}

/** The user name of `component`; per-node components need the node. */
export function userName(component: Component, nodeName?: string): string {
  const { user } = model.users[component];
  if (!isPerNode(component)) return user;
  if (nodeName === undefined) throw new Error(`${component} has one user per node: give the node name`);
  return forNode(user, nodeName);
}

/** The reply-inbox prefix the component's client must set (`connect({ inboxPrefix })`). */
export function inboxPrefix(component: Component, nodeName?: string): string {
  const { inboxPrefix: prefix } = model.users[component];
  if (!isPerNode(component)) return prefix;
  if (nodeName === undefined) throw new Error(`${component} has one user per node: give the node name`);
  return forNode(prefix, nodeName);
}

export function permissionsOf(component: Component, nodeName?: string): NatsPermissions {
  const { permissions } = model.users[component] as { permissions: NatsPermissions };
  if (!isPerNode(component)) {
    if (hasPlaceholder(permissions)) throw new Error(`${component} is not per node but names <node>`);
    return permissions;
  }
  if (nodeName === undefined) throw new Error(`${component} has one user per node: give the node name`);
  return forNode(permissions, nodeName);
}

/** Every user for a cluster with these nodes: one per per-node component and node, one per other component. */
export function natsUsers(nodeNames: readonly string[], passwordOf: (user: string) => string): NatsUser[] {
  return COMPONENTS.flatMap((component) =>
    (isPerNode(component) ? nodeNames : [undefined]).map((node) => {
      const user = userName(component, node);
      return { user, password: passwordOf(user), permissions: permissionsOf(component, node) };
    }),
  );
}

/** The password the tests give every user of the permission model. */
export function testPassword(user: string): string {
  return `test-password-${user}`;
}

/** Logs in to `url` as `component` (of `nodeName`), with its own user, password and inbox prefix. */
export function connectAs(url: string, component: Component, nodeName?: string): Promise<NatsConnection> {
  const user = userName(component, nodeName);
  return connect({
    servers: url,
    user,
    pass: testPassword(user),
    inboxPrefix: inboxPrefix(component, nodeName),
    name: user,
  });
}
