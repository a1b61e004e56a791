/**
 * Reaching seccompose's broker from the CLI. A NATS URL given as `--nats-url`,
 * `$SECCOMPOSE_NATS_URL` or `seccompose config set natsUrl` is used as is; without one, the CLI
 * finds the broker through the kubeconfig: a port-forward to the in-cluster `nats` service and the
 * `cli` user's password from Secret `seccompose-cli-nats`, as `kubectl port-forward` would, so
 * NATS never needs to be exposed outside the cluster.
 */
import { jetstream, type JetStreamClient } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { pino } from "pino";
import { ErrorCodes, SeccomposeError, isSeccomposeError } from "../../lib/errors.ts";
import { loadKube, type Kube } from "../../lib/k8s/client.ts";
import { forwardToService, type ServiceForward } from "../../lib/k8s/port-forward.ts";
import { connectNats } from "../../lib/nats/connect.ts";
import type { ClusterSettings } from "./options.ts";
import { listItems } from "../../lib/list-items.ts";

export const NATS_SERVICE = "nats";
export const NATS_CLIENT_PORT = 4222;
export const CLI_NATS_SECRET = "seccompose-cli-nats";
export const CLI_NATS_USER = "cli";
/** The `cli` user may subscribe only under this prefix (deploy/nats-permissions.json). */
export const CLI_INBOX_PREFIX = "_INBOX.cli";

export interface Broker {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  /** How it was reached, for messages: the URL, or the port-forward to a pod. */
  readonly via: string;
}

/**
 * The cluster and broker one command works with; both are opened on first use and closed by
 * `close()`, so a command that needs neither never touches them.
 */
export class ClusterContext {
  readonly settings: ClusterSettings;
  #kube: Kube | undefined;
  #kubeError: unknown;
  #broker: Promise<Broker> | undefined;
  #forward: ServiceForward | undefined;

  constructor(settings: ClusterSettings) {
    this.settings = settings;
  }

  /** The Kubernetes clients; throws SC_K8S_CONFIG when no kubeconfig can be loaded. */
  kube(): Kube {
    if (this.#kube !== undefined) return this.#kube;
    if (this.#kubeError !== undefined) throw this.#kubeError;
    try {
      this.#kube = loadKube({
        ...(this.settings.kubeconfig !== undefined ? { kubeconfig: this.settings.kubeconfig } : {}),
        ...(this.settings.context !== undefined ? { context: this.settings.context } : {}),
      });
      return this.#kube;
    } catch (err) {
      this.#kubeError = err;
      throw err;
    }
  }

  /** The Kubernetes clients, or undefined (with the reason) when there is no Kubernetes configuration. */
  optionalKube(): { kube: Kube } | { reason: string } {
    try {
      return { kube: this.kube() };
    } catch (err) {
      if (isSeccomposeError(err, ErrorCodes.SC_K8S_CONFIG)) return { reason: err.message };
      throw err;
    }
  }

  broker(): Promise<Broker> {
    this.#broker ??= this.#connect();
    return this.#broker;
  }

  async close(): Promise<void> {
    const broker = await this.#broker?.catch(() => undefined);
    if (broker !== undefined && !broker.nc.isClosed()) await broker.nc.close().catch(() => undefined);
    await this.#forward?.close();
  }

  async #connect(): Promise<Broker> {
    const nats = this.settings.nats;
    let url = nats.url;
    let user = nats.user;
    let password = nats.password;
    let via: string;
    if (url !== undefined) {
      via = url;
    } else {
      const kube = this.#kubeForBroker();
      this.#forward = await forwardToService(kube, {
        namespace: this.settings.namespace,
        service: NATS_SERVICE,
        port: NATS_CLIENT_PORT,
      });
      url = this.#forward.localUrl;
      via = `port-forward to pod ${this.settings.namespace}/${this.#forward.pod()} (service ${NATS_SERVICE}) in ${kube.context}`;
      if (nats.creds === undefined && user === undefined) {
        user = CLI_NATS_USER;
        password ??= await readCliPassword(kube, this.settings.namespace);
      }
    }
    const nc = await connectNats(
      {
        // Several servers of one cluster, comma-separated, as the nats CLI takes them: any one reachable will do.
        servers: listItems(url),
        name: "seccompose-cli",
        inboxPrefix: CLI_INBOX_PREFIX,
        ...(nats.creds !== undefined ? { credsFile: nats.creds } : {}),
        ...(user !== undefined ? { user } : {}),
        ...(password !== undefined ? { pass: password } : {}),
      },
      // The CLI reports failures itself; connection chatter would only clutter its output.
      pino({ level: "silent" }),
    );
    return { nc, js: jetstream(nc), via };
  }

  #kubeForBroker(): Kube {
    try {
      return this.kube();
    } catch (err) {
      if (!isSeccomposeError(err, ErrorCodes.SC_K8S_CONFIG)) throw err;
      throw new SeccomposeError(
        ErrorCodes.SC_K8S_CONFIG,
        `No NATS URL given (--nats-url, $SECCOMPOSE_NATS_URL or \`seccompose config set natsUrl\`) and no Kubernetes cluster to find NATS in: ${err.message}`,
        { cause: err },
      );
    }
  }
}

/** The `cli` user's NATS password from Secret seccompose-cli-nats (key `password`). */
export async function readCliPassword(kube: Kube, namespace: string): Promise<string> {
  let secret;
  try {
    secret = await kube.call({ verb: "get", resource: "secrets", namespace, name: CLI_NATS_SECRET }, () =>
      kube.core.readNamespacedSecret({ namespace, name: CLI_NATS_SECRET }),
    );
  } catch (err) {
    if (isSeccomposeError(err, ErrorCodes.SC_K8S_NOT_FOUND)) {
      throw new SeccomposeError(
        ErrorCodes.SC_K8S_NOT_FOUND,
        `Secret ${namespace}/${CLI_NATS_SECRET} does not exist: is seccompose installed in namespace "${namespace}"? (seccompose install, or --namespace)`,
        { cause: err },
      );
    }
    if (isSeccomposeError(err, ErrorCodes.SC_K8S_FORBIDDEN)) {
      throw new SeccomposeError(
        ErrorCodes.SC_K8S_FORBIDDEN,
        `${err.message}; reading the CLI's NATS password needs ClusterRole seccompose-broker-access bound in namespace "${namespace}" (deploy/README.md, RBAC)`,
        { cause: err },
      );
    }
    throw err;
  }
  const encoded = secret.data?.password;
  if (encoded === undefined) {
    throw new SeccomposeError(
      ErrorCodes.SC_K8S_NOT_FOUND,
      `Secret ${namespace}/${CLI_NATS_SECRET} has no key "password"`,
    );
  }
  return Buffer.from(encoded, "base64").toString("utf8");
}

/** Runs `body` with a context and always closes what it opened. */
export async function withCluster<T>(
  settings: ClusterSettings,
  body: (ctx: ClusterContext) => Promise<T>,
): Promise<T> {
  const ctx = new ClusterContext(settings);
  try {
    return await body(ctx);
  } finally {
    await ctx.close();
  }
}
