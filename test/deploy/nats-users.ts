/**
 * The NATS user list that deploy/nats-permissions.json describes, for the deployment and attack
 * tests: rendered by `seccompose install`'s own code (each node's agent an NKey user, as in the
 * `nats-auth` Secret), or in the password form of the dev overlay and of agents outside Kubernetes.
 */
import { chmod, writeFile } from "node:fs/promises";
import model from "../../deploy/nats-permissions.json" with { type: "json" };
import { createUser } from "@nats-io/nkeys";
import { connect, nkeyAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import { natsUserEntries, type NatsUserEntry } from "../../cli/install/nats-credentials.ts";
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

/** One password entry of `authorization.users` in nats.conf. */
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

/** The password the tests give every password user of the permission model. */
export function testPassword(user: string): string {
  return `test-password-${user}`;
}

/** A node's NKey identity, as its enrollment would create it: made once per node and test run. */
export interface AgentIdentity {
  seed: Uint8Array;
  publicKey: string;
}
const identities = new Map<string, AgentIdentity>();

export function agentIdentity(nodeName: string): AgentIdentity {
  let identity = identities.get(nodeName);
  if (identity === undefined) {
    const pair = createUser();
    identity = { seed: pair.getSeed(), publicKey: pair.getPublicKey() };
    identities.set(nodeName, identity);
  }
  return identity;
}

/** Writes the node's seed file as enrollment leaves it (mode 0600), for a real agent process. */
export async function writeAgentSeed(nodeName: string, file: string): Promise<void> {
  await writeFile(file, `${new TextDecoder().decode(agentIdentity(nodeName).seed)}\n`, { mode: 0o600 });
  await chmod(file, 0o600);
}

/**
 * users.json's users for a cluster with these nodes, rendered by install's own code: one NKey
 * user per node (the key of `agentIdentity`), aggregator and cli with `testPassword` in clear.
 */
export function natsUsers(nodeNames: readonly string[]): NatsUserEntry[] {
  const agents = Object.fromEntries(nodeNames.map((n) => [n, agentIdentity(n).publicKey]));
  return natsUserEntries(
    model,
    { agents, aggregator: testPassword("aggregator"), cli: testPassword("cli"), route: "" },
    (_user, password) => password,
  );
}

/** Every user in the password form (dev overlay, outside Kubernetes): one per per-node component and node, one per other component. */
export function passwordUsers(
  nodeNames: readonly string[],
  passwordOf: (user: string) => string,
): NatsUser[] {
  return COMPONENTS.flatMap((component) =>
    (isPerNode(component) ? nodeNames : [undefined]).map((node) => {
      const user = userName(component, node);
      return { user, password: passwordOf(user), permissions: permissionsOf(component, node) };
    }),
  );
}

/**
 * Logs in to `url` as `component` (of `nodeName`) with its inbox prefix, as `natsUsers` set it up:
 * an agent with its node's seed, the others with their password.
 */
export function connectAs(url: string, component: Component, nodeName?: string): Promise<NatsConnection> {
  const user = userName(component, nodeName);
  const login = isPerNode(component)
    ? { authenticator: nkeyAuthenticator(agentIdentity(nodeName!).seed) }
    : { user, pass: testPassword(user) };
  return connect({ servers: url, ...login, inboxPrefix: inboxPrefix(component, nodeName), name: user });
}
