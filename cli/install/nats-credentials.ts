/**
 * The NATS credentials `seccompose install` generates (deploy/README.md, "Credentials"): one NKey
 * user per node, whose public key the node's enrollment reported (the seed stays on the node), and
 * the aggregator, the CLI and the route user with random passwords. Keys and passwords already in
 * the cluster are kept, and so are the passwords' bcrypt hashes when they still match, so
 * installing again changes nothing unless the nodes changed.
 */
import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import type { V1Secret } from "@kubernetes/client-node";
import { ErrorCodes, SeccomposeError, isSeccomposeError } from "../../lib/errors.ts";
import type { Kube } from "../../lib/k8s/client.ts";
import type { ManifestObject } from "../../lib/k8s/apply.ts";
import { isUserPublicKey } from "../../lib/nats/node-identity.ts";
import { subjectToken } from "../../lib/subjects.ts";
import bcrypt from "bcryptjs";

export const SECRET_NATS_AUTH = "nats-auth";
export const SECRET_AGGREGATOR = "seccompose-aggregator-nats";
export const SECRET_CLI = "seccompose-cli-nats";
/**
 * Held every node's agent password in installs before node enrollment. Nothing reads it any more;
 * install deletes it when it finds it, and uninstall deletes it with the others.
 */
export const SECRET_AGENT_PASSWORDS = "seccompose-agent-nats";
export const CREDENTIAL_SECRETS = [SECRET_NATS_AUTH, SECRET_AGGREGATOR, SECRET_CLI] as const;
/** Key of `nats-auth` recording node name → enrolled public key, so installing again enrolls only new nodes. */
export const AGENT_KEYS_FILE = "agent-nkeys.json";
/** Pod-template annotation of the NATS StatefulSet: changes with the users, so the servers restart and reread them. */
export const NATS_AUTH_ANNOTATION = "seccompose.dev/nats-auth-sha256";

/** deploy/nats-permissions.json, as far as rendering users.json needs it. */
export interface PermissionModel {
  users: Record<string, { user: string; perNode: boolean; permissions: unknown }>;
}

export interface NatsCredentials {
  /** Node name → the public NKey (`U...`) of that node's agent user. */
  agents: Record<string, string>;
  aggregator: string;
  cli: string;
  route: string;
}

/** What the cluster holds already; empty when seccompose was never installed. */
export interface ExistingCredentials {
  /** Node name → enrolled public key. */
  agents: Record<string, string>;
  aggregator?: string;
  cli?: string;
  route?: string;
  /** User name → bcrypt hash from users.json. */
  hashes: Map<string, string>;
  /** Whether the agent password Secret of an install before node enrollment is still there. */
  agentPasswordSecret: boolean;
}

/** One entry of users.json: a node's agent as an NKey user, every other component with a password. */
export type NatsUserEntry =
  { nkey: string; permissions: unknown } | { user: string; password: string; permissions: unknown };

export async function permissionModel(): Promise<PermissionModel> {
  const candidates = ["../../deploy/nats-permissions.json", "../../../deploy/nats-permissions.json"].map(
    (p) => fileURLToPath(new URL(p, import.meta.url)),
  );
  const path = candidates.find((p) => existsSync(p));
  if (path === undefined) {
    throw new SeccomposeError(
      "SC_FILE_READ",
      `deploy/nats-permissions.json is missing (looked for ${candidates.join(", ")})`,
    );
  }
  return JSON.parse(await readFile(path, "utf8")) as PermissionModel;
}

function newPassword(): string {
  return randomBytes(18).toString("base64url");
}

/**
 * The credentials for the cluster's `nodes`: each node's key from `enrolled` or, failing that, the
 * existing install (a node with neither is left out: it has not been enrolled); every existing
 * password is kept, a missing one made.
 */
export function completeCredentials(
  existing: ExistingCredentials,
  nodes: readonly string[],
  enrolled: Readonly<Record<string, string>>,
): NatsCredentials {
  const agents: Record<string, string> = {};
  for (const node of [...nodes].sort()) {
    const key = enrolled[node] ?? existing.agents[node];
    if (key !== undefined) agents[node] = key;
  }
  return {
    agents,
    aggregator: existing.aggregator ?? newPassword(),
    cli: existing.cli ?? newPassword(),
    route: existing.route ?? newPassword(),
  };
}

const decoded = (secret: V1Secret | undefined, key: string): string | undefined => {
  const value = secret?.data?.[key];
  return value !== undefined ? Buffer.from(value, "base64").toString("utf8") : undefined;
};

/** Node → key pairs of a stored agent-nkeys.json; anything that is not a user public key is dropped (the node is enrolled again). */
function agentKeys(text: string | undefined): Record<string, string> {
  if (text === undefined) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return {};
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return {};
  return Object.fromEntries(
    Object.entries(parsed).filter(
      (e): e is [string, string] => typeof e[1] === "string" && isUserPublicKey(e[1]),
    ),
  );
}

/** Reads the credential Secrets of an existing install. */
export async function readExistingCredentials(kube: Kube, namespace: string): Promise<ExistingCredentials> {
  const read = async (name: string): Promise<V1Secret | undefined> => {
    try {
      return await kube.call({ verb: "get", resource: "secrets", namespace, name }, () =>
        kube.core.readNamespacedSecret({ namespace, name }),
      );
    } catch (err) {
      if (isSeccomposeError(err, ErrorCodes.SC_K8S_NOT_FOUND)) return undefined;
      throw err;
    }
  };
  const [auth, aggregator, cli, agentPasswords] = await Promise.all(
    [...CREDENTIAL_SECRETS, SECRET_AGENT_PASSWORDS].map(read),
  );
  const hashes = new Map<string, string>();
  const usersJson = decoded(auth, "users.json");
  if (usersJson !== undefined) {
    try {
      for (const u of (JSON.parse(usersJson) as { users?: Array<{ user?: unknown; password?: unknown }> })
        .users ?? []) {
        if (typeof u.user === "string" && typeof u.password === "string") hashes.set(u.user, u.password);
      }
    } catch {
      // An unreadable users.json is regenerated from the passwords.
    }
  }
  const route = /password:\s*"([^"]+)"/.exec(decoded(auth, "routes.conf") ?? "")?.[1];
  const existing: ExistingCredentials = {
    agents: agentKeys(decoded(auth, AGENT_KEYS_FILE)),
    hashes,
    agentPasswordSecret: agentPasswords !== undefined,
  };
  const aggregatorPassword = decoded(aggregator, "password");
  const cliPassword = decoded(cli, "password");
  if (aggregatorPassword !== undefined) existing.aggregator = aggregatorPassword;
  if (cliPassword !== undefined) existing.cli = cliPassword;
  if (route !== undefined) existing.route = route;
  return existing;
}

/** Replaces `<node>` (subject token) and `<nodeName>` (the name) in every string of `value`. */
function forNode<T>(value: T, nodeName: string): T {
  const token = subjectToken(nodeName);
  return JSON.parse(
    JSON.stringify(value, (_key, v: unknown) =>
      typeof v === "string" ? v.replaceAll("<nodeName>", nodeName).replaceAll("<node>", token) : v,
    ),
  ) as T;
}

/**
 * The users of users.json: per-node components (the agent) as one NKey user per node with that
 * node's permissions, the others as password users; `storedPassword` gives what users.json holds
 * for a password (a bcrypt hash at install).
 */
export function natsUserEntries(
  model: PermissionModel,
  credentials: NatsCredentials,
  storedPassword: (user: string, password: string) => string,
): NatsUserEntry[] {
  const users: NatsUserEntry[] = [];
  for (const [component, spec] of Object.entries(model.users)) {
    if (spec.perNode) {
      for (const [node, nkey] of Object.entries(credentials.agents)) {
        users.push({ nkey, permissions: forNode(spec.permissions, node) });
      }
      continue;
    }
    const password =
      component === "aggregator" ? credentials.aggregator : component === "cli" ? credentials.cli : undefined;
    if (password === undefined) {
      throw new SeccomposeError(
        "SC_CONFIG_INVALID",
        `deploy/nats-permissions.json names component "${component}", which install has no password for`,
      );
    }
    users.push({
      user: spec.user,
      password: storedPassword(spec.user, password),
      permissions: spec.permissions,
    });
  }
  return users;
}

/** The cost nats-server's own `nats server passwd` uses. */
const BCRYPT_COST = 11;

/** False for a stored value that is no bcrypt hash rather than an exception. */
function safeCompare(password: string, hash: string): boolean {
  try {
    return bcrypt.compareSync(password, hash);
  } catch {
    return false;
  }
}

/** users.json for the broker, passwords as bcrypt hashes (an existing hash when it still matches). */
export async function usersJson(
  credentials: NatsCredentials,
  existingHashes: ReadonlyMap<string, string>,
): Promise<string> {
  const hash = (user: string, password: string): string => {
    const known = existingHashes.get(user);
    return known !== undefined && safeCompare(password, known)
      ? known
      : bcrypt.hashSync(password, BCRYPT_COST);
  };
  const users = natsUserEntries(await permissionModel(), credentials, hash);
  return `${JSON.stringify({ users }, null, 2)}\n`;
}

/** routes.conf: the route user, and the route URLs carrying its password, for servers nats-0..N-1. */
export function routesConf(route: string, servers: number): string {
  const urls = Array.from(
    { length: servers },
    (_, i) => `    "nats://route:${route}@nats-${i}.nats-headless:6222"`,
  );
  return `authorization { user: route, password: "${route}" }\nroutes: [\n${urls.join(",\n")}\n]\n`;
}

function secret(name: string, namespace: string, data: Record<string, string>): ManifestObject {
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name, namespace, labels: { "app.kubernetes.io/part-of": "seccompose" } },
    type: "Opaque",
    data: Object.fromEntries(
      Object.entries(data).map(([k, v]) => [k, Buffer.from(v, "utf8").toString("base64")]),
    ),
  };
}

/**
 * The credential Secrets (none holds an agent credential: agents log in with the seed on their
 * node), and the digest of the users and routes for the StatefulSet annotation.
 */
export async function credentialSecrets(
  credentials: NatsCredentials,
  existing: ExistingCredentials,
  namespace: string,
  natsServers: number,
): Promise<{ secrets: ManifestObject[]; natsAuthDigest: string }> {
  const users = await usersJson(credentials, existing.hashes);
  const routes = routesConf(credentials.route, natsServers);
  return {
    secrets: [
      secret(SECRET_NATS_AUTH, namespace, {
        "users.json": users,
        "routes.conf": routes,
        [AGENT_KEYS_FILE]: `${JSON.stringify(credentials.agents, null, 2)}\n`,
      }),
      secret(SECRET_AGGREGATOR, namespace, { password: credentials.aggregator }),
      secret(SECRET_CLI, namespace, { password: credentials.cli }),
    ],
    natsAuthDigest: createHash("sha256").update(users).update(routes).digest("hex"),
  };
}
