/**
 * Turns nats.js errors into SeccomposeErrors with codes users can act on, and tells the publisher
 * which failures are worth retrying (the server or the connection is away) and which are final.
 */
import {
  AuthorizationError,
  ClosedConnectionError,
  ConnectionError,
  DrainingConnectionError,
  NoRespondersError,
  PermissionViolationError,
  RequestError,
  TimeoutError,
  UserAuthenticationExpiredError,
} from "@nats-io/transport-node";
import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import { SeccomposeError } from "../errors.ts";

/** nats.js wraps the telling error (permission, no responders) as `cause`; look through the chain. */
function causes(err: unknown): unknown[] {
  const chain: unknown[] = [];
  let current: unknown = err;
  while (current !== undefined && current !== null && chain.length < 8) {
    chain.push(current);
    current = current instanceof Error ? current.cause : undefined;
  }
  return chain;
}

function find<T>(err: unknown, type: abstract new (...args: never[]) => T): T | undefined {
  return causes(err).find((e): e is T => e instanceof type);
}

/** The 503 reply to a JetStream request; its class is only exported from the package's internals. */
function isJetStreamNotEnabled(err: unknown): boolean {
  return causes(err).some((e) => e instanceof Error && e.name === "JetStreamNotEnabled");
}

/** JetStream error codes that JetStreamApiCodes lacks. */
const STREAM_NAME_IN_USE = 10058;
const STREAM_REPUBLISH_UNCHANGEABLE = 10052;

function apiCode(err: unknown): number | undefined {
  return find(err, JetStreamApiError)?.code;
}

/**
 * A compare-and-set lost: the key changed since it was read, or a create found it existing
 * (JetStream's "wrong last sequence"; KV's create reports it as "key exists" in its message).
 */
export function isCasConflict(err: unknown): boolean {
  const code = apiCode(err);
  if (
    code === JetStreamApiCodes.StreamWrongLastSequence ||
    code === JetStreamApiCodes.StreamWrongLastSequenceUnknown
  ) {
    return true;
  }
  return /wrong last sequence|key exists/i.test(messageOf(err));
}

/** The stream (or the KV bucket, stream KV_<bucket>) does not exist. */
export function isStreamNotFound(err: unknown): boolean {
  return apiCode(err) === JetStreamApiCodes.StreamNotFound;
}

export function isConsumerNotFound(err: unknown): boolean {
  return apiCode(err) === JetStreamApiCodes.ConsumerNotFound;
}

/** Adding a stream whose name is taken by one with another configuration. */
export function isStreamNameInUse(err: unknown): boolean {
  return apiCode(err) === STREAM_NAME_IN_USE;
}

/** nats-server 2.9 refuses to add or change a stream's RePublish once the stream exists. */
export function isRepublishUnchangeable(err: unknown): boolean {
  return apiCode(err) === STREAM_REPUBLISH_UNCHANGEABLE;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A failure that says nothing about the message itself: the same publish may succeed later. */
export function isTransientNatsError(err: unknown): boolean {
  if (find(err, PermissionViolationError) || find(err, AuthorizationError)) return false;
  const api = find(err, JetStreamApiError);
  // 503 is "JetStream temporarily unavailable" (leader election, stream recovering).
  if (api) return api.status === 503;
  return (
    find(err, TimeoutError) !== undefined ||
    find(err, NoRespondersError) !== undefined ||
    isJetStreamNotEnabled(err) ||
    find(err, ClosedConnectionError) !== undefined ||
    find(err, DrainingConnectionError) !== undefined ||
    find(err, ConnectionError) !== undefined ||
    find(err, RequestError) !== undefined
  );
}

/**
 * Maps a nats.js error raised while doing `action` (e.g. "publishing to sc.ev.s1.node-a") to a
 * SeccomposeError; SeccomposeErrors pass through unchanged.
 */
export function toSeccomposeError(err: unknown, action: string): SeccomposeError {
  if (err instanceof SeccomposeError) return err;
  const permission = find(err, PermissionViolationError);
  if (permission) {
    return new SeccomposeError(
      "SC_NATS_PERMISSION",
      `NATS denied ${permission.operation} on subject ${permission.subject} while ${action}: check this user's permissions`,
      { cause: err },
    );
  }
  const auth = find(err, AuthorizationError) ?? find(err, UserAuthenticationExpiredError);
  if (auth) {
    return new SeccomposeError(
      "SC_NATS_PERMISSION",
      `NATS rejected the credentials while ${action} (${auth.message}): check user/pass, token, the creds file or the NKey seed file (an agent whose node was not enrolled with this key: run seccompose install)`,
      { cause: err },
    );
  }
  const api = find(err, JetStreamApiError);
  if (api && api.status !== 503) {
    return new SeccomposeError(
      "SC_JETSTREAM_REJECTED",
      `JetStream rejected the request while ${action}: ${api.message} (error code ${api.code})`,
      { cause: err },
    );
  }
  if (isJetStreamNotEnabled(err) || find(err, NoRespondersError)) {
    return new SeccomposeError(
      "SC_NATS_UNREACHABLE",
      `no JetStream stream or service answered while ${action}: JetStream is disabled, or the stream does not exist yet`,
      { cause: err },
    );
  }
  const connection = find(err, ConnectionError) as (ConnectionError & { cause?: unknown }) | undefined;
  if (connection) {
    const reason =
      connection.cause instanceof Error
        ? `${connection.message}: ${connection.cause.message}`
        : connection.message;
    return new SeccomposeError("SC_NATS_UNREACHABLE", `could not reach NATS while ${action} (${reason})`, {
      cause: err,
    });
  }
  if (find(err, TimeoutError)) {
    return new SeccomposeError("SC_NATS_UNREACHABLE", `NATS did not answer in time while ${action}`, {
      cause: err,
    });
  }
  if (find(err, ClosedConnectionError) || find(err, DrainingConnectionError)) {
    return new SeccomposeError("SC_NATS_UNREACHABLE", `the NATS connection is closed; it was ${action}`, {
      cause: err,
    });
  }
  return new SeccomposeError("SC_NATS_UNREACHABLE", `NATS failed while ${action}: ${messageOf(err)}`, {
    cause: err,
  });
}
