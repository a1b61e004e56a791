/** One way for agent, aggregator and CLI to open a NATS connection: same retry policy, same logging. */
import { readFile } from "node:fs/promises";
import { connect, credsAuthenticator, nkeyAuthenticator } from "@nats-io/transport-node";
import type { ConnectionOptions, NatsConnection, Status } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { SeccomposeError } from "../errors.ts";
import { toSeccomposeError } from "./errors.ts";
import { readNodeIdentity } from "./node-identity.ts";

export interface NatsConnectOptions {
  servers: string[];
  user?: string;
  pass?: string;
  token?: string;
  /** A JWT `.creds` file (user JWT + nkey seed). */
  credsFile?: string;
  /** An NKey user seed file (a node's own identity, lib/nats/node-identity.ts); excludes the other credentials. */
  nkeyFile?: string;
  /** Client name shown by the server's monitoring (`/connz`), e.g. `seccompose-agent/node-a`. */
  name: string;
  /** Keep retrying the first connect instead of failing when no server is up yet. */
  waitOnFirstConnect?: boolean;
  /** Prefix of reply inboxes, for servers that restrict subscriptions per user. */
  inboxPrefix?: string;
}

function logStatus(logger: Logger, status: Status): void {
  switch (status.type) {
    case "disconnect":
      logger.warn(
        { event: "nats.disconnected", server: status.server },
        "disconnected from NATS; reconnecting",
      );
      break;
    case "reconnect":
      logger.info({ event: "nats.reconnected", server: status.server }, "reconnected to NATS");
      break;
    case "error":
      logger.error({ event: "nats.error", err: status.error }, "NATS reported an error");
      break;
    case "ldm":
      logger.warn(
        { event: "nats.lame-duck", server: status.server },
        "NATS server entered lame duck mode; moving to another server",
      );
      break;
    case "staleConnection":
      logger.warn({ event: "nats.stale" }, "NATS connection is stale (pings unanswered); reconnecting");
      break;
    case "slowConsumer":
      logger.warn(
        { event: "nats.slow-consumer", subject: status.sub.getSubject(), pending: status.pending },
        "NATS slow consumer",
      );
      break;
    case "close":
      logger.info("NATS connection closed");
      break;
    case "reconnecting":
    case "update":
    case "ping":
    case "forceReconnect":
      logger.debug({ status: status.type }, "NATS connection status");
      break;
  }
}

async function authOptions(opts: NatsConnectOptions): Promise<Partial<ConnectionOptions>> {
  if (opts.nkeyFile !== undefined) {
    const others = (["user", "pass", "token", "credsFile"] as const).filter((k) => opts[k] !== undefined);
    if (others.length > 0) {
      throw new SeccomposeError(
        "SC_CONFIG_INVALID",
        `the NATS NKey seed file ${opts.nkeyFile} is the login; drop the other NATS credentials given with it (${others.join(", ")})`,
      );
    }
    const { seed } = await readNodeIdentity(opts.nkeyFile);
    return { authenticator: nkeyAuthenticator(seed) };
  }
  if (opts.credsFile !== undefined) {
    let creds: Uint8Array;
    try {
      creds = await readFile(opts.credsFile);
    } catch (err) {
      throw new SeccomposeError(
        "SC_FILE_READ",
        `cannot read NATS creds file ${opts.credsFile}: ${(err as Error).message}`,
        { cause: err },
      );
    }
    return { authenticator: credsAuthenticator(creds) };
  }
  if (opts.token !== undefined) return { token: opts.token };
  if (opts.user !== undefined) return { user: opts.user, pass: opts.pass ?? "" };
  return {};
}

/**
 * Connects with unlimited reconnects (an agent must outlive any NATS outage) and logs every
 * connection status change through `logger` until the connection closes.
 */
export async function connectNats(opts: NatsConnectOptions, logger: Logger): Promise<NatsConnection> {
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers: opts.servers,
      name: opts.name,
      maxReconnectAttempts: -1,
      // Skips capturing a stack per request: much faster JetStream publishing.
      noAsyncTraces: true,
      waitOnFirstConnect: opts.waitOnFirstConnect ?? false,
      ...(opts.inboxPrefix !== undefined ? { inboxPrefix: opts.inboxPrefix } : {}),
      ...(await authOptions(opts)),
    });
  } catch (err) {
    throw toSeccomposeError(err, `connecting to ${opts.servers.join(", ")}`);
  }
  logger.info({ server: nc.getServer(), name: opts.name }, "connected to NATS");
  void (async () => {
    for await (const status of nc.status()) logStatus(logger, status);
  })();
  return nc;
}

/** Whether `nc` is connected right now, tracked from its status events (nats.js offers no getter). */
export function trackConnected(nc: NatsConnection): () => boolean {
  let connected = !nc.isClosed();
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === "disconnect") connected = false;
      else if (status.type === "reconnect") connected = true;
    }
  })();
  return () => connected && !nc.isClosed();
}
