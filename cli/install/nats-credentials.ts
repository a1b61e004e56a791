/**
 * The NATS credentials `seccompose install` generates (deploy/README.md, "Credentials"): one agent
 * user per node, the aggregator, the CLI and the route user, with random passwords. Passwords
 * already in the cluster are kept, and so are their bcrypt hashes when they still match, so
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
import { subjectToken } from "../../lib/subjects.ts";
import bcrypt from "bcryptjs";

export const SECRET_NATS_AUTH = "nats-auth";
export const SECRET_AGENT = "seccompose-agent-nats";
export const SECRET_AGGREGATOR = "seccompose-aggregator-nats";
export const SECRET_CLI = "seccompose-cli-nats";
export const CREDENTIAL_SECRETS = [SECRET_NATS_AUTH, SECRET_AGENT, SECRET_AGGREGATOR, SECRET_CLI] as const;
/** Pod-template annotation of the NATS StatefulSet: changes with the users, so the servers restart and reread them. */
export const NATS_AUTH_ANNOTATION = "seccompose.dev/nats-auth-sha256";

interface PermissionModel {
  users: Record<string, { user: string; perNode: boolean; permissions: unknown }>;
}

export interface NatsCredentials {
  /** Node name → the password of that node's agent user. */
  agents: Record<string, string>;
  aggregator: string;
  cli: string;
  route: string;
}

/** What the cluster holds already; empty when seccompose was never installed. */
export interface ExistingCredentials {
  agents: Record<string, string>;
  aggregator?: string;
  cli?: string;
  route?: string;
  /** User name → bcrypt hash from users.json. */
  hashes: Map<string, string>;
}

async function permissionModel(): Promise<PermissionModel> {
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

/** Keeps every existing password; makes one for each new node and missing component. */
export function completeCredentials(
  existing: ExistingCredentials,
  nodes: readonly string[],
): NatsCredentials {
  return {
    agents: Object.fromEntries([...nodes].sort().map((n) => [n, existing.agents[n] ?? newPassword()])),
    aggregator: existing.aggregator ?? newPassword(),
    cli: existing.cli ?? newPassword(),
    route: existing.route ?? newPassword(),
  };
}

const decoded = (secret: V1Secret | undefined, key: string): string | undefined => {
  const value = secret?.data?.[key];
  return value !== undefined ? Buffer.from(value, "base64").toString("utf8") : undefined;
};

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
  const [auth, agents, aggregator, cli] = await Promise.all(CREDENTIAL_SECRETS.map(read));
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
    agents: Object.fromEntries(Object.keys(agents?.data ?? {}).map((k) => [k, decoded(agents, k)!])),
    hashes,
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

/** The cost nats-server's own `nats server passwd` uses. */
const BCRYPT_COST = 11;

/** users.json for the broker: every user with its permissions and a bcrypt hash (an existing one when it matches). */
export async function usersJson(
  credentials: NatsCredentials,
  existingHashes: ReadonlyMap<string, string>,
): Promise<string> {
  const model = await permissionModel();
  const hash = async (user: string, password: string): Promise<string> => {
    const known = existingHashes.get(user);
    if (known !== undefined && (await bcrypt.compare(password, known).catch(() => false))) return known;
    return bcrypt.hash(password, BCRYPT_COST);
  };
  const users: Array<{ user: string; password: string; permissions: unknown }> = [];
  for (const [component, spec] of Object.entries(model.users)) {
    if (spec.perNode) {
      for (const [node, password] of Object.entries(credentials.agents)) {
        const user = forNode(spec.user, node);
        users.push({
          user,
          password: await hash(user, password),
          permissions: forNode(spec.permissions, node),
        });
      }
    } else {
      const password =
        component === "aggregator"
          ? credentials.aggregator
          : component === "cli"
            ? credentials.cli
            : undefined;
      if (password === undefined) {
        throw new SeccomposeError(
          "SC_CONFIG_INVALID",
          `deploy/nats-permissions.json names component "${component}", which install has no password for`,
        );
      }
      users.push({
        user: spec.user,
        password: await hash(spec.user, password),
        permissions: spec.permissions,
      });
    }
  }
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

/** The four credential Secrets, and the digest of nats-auth's content for the StatefulSet annotation. */
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
      secret(SECRET_NATS_AUTH, namespace, { "users.json": users, "routes.conf": routes }),
      secret(SECRET_AGENT, namespace, credentials.agents),
      secret(SECRET_AGGREGATOR, namespace, { password: credentials.aggregator }),
      secret(SECRET_CLI, namespace, { password: credentials.cli }),
    ],
    natsAuthDigest: createHash("sha256").update(users).update(routes).digest("hex"),
  };
}
