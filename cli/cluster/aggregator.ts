/**
 * The CLI's side of the aggregator's contract (schemas/aggregator-status.schema.json): its status
 * reply on sc.agg.status, its per-session status events on sc.agg.status.<session> (the session
 * was finalised), freeze requests on sc.agg.freeze and delete requests on sc.agg.delete.
 */
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import type {
  AggregatorStatus,
  DeleteReply,
  DeleteRequest,
  FreezeReply,
  FreezeRequest,
  SessionFinalisedEvent,
} from "../../lib/contracts/types.ts";
import { assertValid, isValid } from "../../lib/contracts/validators.ts";
import { ErrorCodes, SeccomposeError, isSeccomposeError, type ErrorCode } from "../../lib/errors.ts";
import { toSeccomposeError } from "../../lib/nats/errors.ts";
import { isNoResponders, isRequestTimeout } from "./request-errors.ts";
import { subscribeValid } from "./valid-events.ts";
import {
  AGGREGATOR_DELETE_SUBJECT,
  AGGREGATOR_FREEZE_SUBJECT,
  AGGREGATOR_STATUS_SUBJECT,
} from "../../lib/subjects.ts";
import { statusEventSubject } from "../../lib/subjects.ts";

const REQUEST_TIMEOUT_MS = 5000;

function unavailable(subject: string, cause: unknown): SeccomposeError {
  return new SeccomposeError(
    ErrorCodes.SC_AGGREGATOR_UNAVAILABLE,
    `the aggregator does not answer on ${subject}: is seccompose-aggregator running and connected to NATS?`,
    { cause },
  );
}

/** An ErrorBody the aggregator answered instead of a reply. */
function errorBodyOf(value: unknown): { code: string; message: string } | undefined {
  const v = value as { code?: unknown; message?: unknown } | null;
  return typeof v === "object" && v !== null && typeof v.code === "string" && typeof v.message === "string"
    ? { code: v.code, message: v.message }
    : undefined;
}

function knownCode(code: string): ErrorCode {
  return (Object.hasOwn(ErrorCodes, code) ? code : ErrorCodes.SC_INTERNAL) as ErrorCode;
}

function rethrown(body: { code: string; message: string }, what: string): SeccomposeError {
  return new SeccomposeError(knownCode(body.code), `the aggregator refused ${what}: ${body.message}`);
}

/** The aggregator's status (of one session, or all); SC_AGGREGATOR_UNAVAILABLE when it does not answer. */
export async function aggregatorStatus(nc: NatsConnection, session?: string): Promise<AggregatorStatus> {
  let value: unknown;
  try {
    const msg = await nc.request(
      AGGREGATOR_STATUS_SUBJECT,
      JSON.stringify(session !== undefined ? { session } : {}),
      { timeout: REQUEST_TIMEOUT_MS },
    );
    value = msg.json();
  } catch (err) {
    if (isNoResponders(err) || isRequestTimeout(err)) throw unavailable(AGGREGATOR_STATUS_SUBJECT, err);
    throw toSeccomposeError(err, `asking the aggregator (${AGGREGATOR_STATUS_SUBJECT})`);
  }
  const error = isValid("aggregatorStatus", value) ? undefined : errorBodyOf(value);
  if (error !== undefined) throw rethrown(error, "the status request");
  return assertValid("aggregatorStatus", value, `the aggregator's reply on ${AGGREGATOR_STATUS_SUBJECT}`);
}

/**
 * The aggregator answers and reads its consumer on SC_EVENTS: a session started without it could
 * never be finalised (data that arrives after the stop deadline cannot complete it).
 */
export async function requireConsumingAggregator(nc: NatsConnection): Promise<AggregatorStatus> {
  let status: AggregatorStatus;
  try {
    status = await aggregatorStatus(nc);
  } catch (err) {
    if (!isSeccomposeError(err, ErrorCodes.SC_AGGREGATOR_UNAVAILABLE)) throw err;
    throw new SeccomposeError(
      ErrorCodes.SC_AGGREGATOR_UNAVAILABLE,
      `the aggregator does not answer on ${AGGREGATOR_STATUS_SUBJECT}, so nothing was started: without it no session can finish. Is seccompose-aggregator running and connected to NATS?`,
      { cause: err },
    );
  }
  if (status.consumer === undefined) {
    throw new SeccomposeError(
      ErrorCodes.SC_AGGREGATOR_UNAVAILABLE,
      `the aggregator (instance ${status.instance}) answers but cannot read its consumer on the event stream, so nothing was started; see its log`,
    );
  }
  return status;
}

/** Freezes (or unfreezes) workloads of a continuous session. */
export async function requestFreeze(nc: NatsConnection, request: FreezeRequest): Promise<FreezeReply> {
  assertValid("freezeRequest", request, "the freeze request", "SC_USAGE");
  let value: unknown;
  try {
    const msg = await nc.request(AGGREGATOR_FREEZE_SUBJECT, JSON.stringify(request), {
      timeout: REQUEST_TIMEOUT_MS,
    });
    value = msg.json();
  } catch (err) {
    if (isNoResponders(err) || isRequestTimeout(err)) throw unavailable(AGGREGATOR_FREEZE_SUBJECT, err);
    throw toSeccomposeError(err, `asking the aggregator to freeze (${AGGREGATOR_FREEZE_SUBJECT})`);
  }
  if (isValid("freezeReply", value) && (value as FreezeReply).session === request.session) {
    return value as FreezeReply;
  }
  const error = errorBodyOf(value);
  if (error !== undefined) throw rethrown(error, "the freeze request");
  throw new SeccomposeError(
    ErrorCodes.SC_MESSAGE_INVALID,
    `the aggregator answered ${AGGREGATOR_FREEZE_SUBJECT} with neither a freeze reply nor an error`,
  );
}

/** Deletion takes as long as the purges; a session with many revisions and events takes a while. */
const DELETE_TIMEOUT_MS = 30_000;

/** Has the aggregator delete a session and everything stored of it. */
export async function requestDelete(nc: NatsConnection, request: DeleteRequest): Promise<DeleteReply> {
  assertValid("deleteRequest", request, "the delete request", "SC_USAGE");
  let value: unknown;
  try {
    const msg = await nc.request(AGGREGATOR_DELETE_SUBJECT, JSON.stringify(request), {
      timeout: DELETE_TIMEOUT_MS,
    });
    value = msg.json();
  } catch (err) {
    if (isNoResponders(err) || isRequestTimeout(err)) throw unavailable(AGGREGATOR_DELETE_SUBJECT, err);
    throw toSeccomposeError(err, `asking the aggregator to delete (${AGGREGATOR_DELETE_SUBJECT})`);
  }
  if (isValid("deleteReply", value)) return value as DeleteReply;
  const error = errorBodyOf(value);
  if (error !== undefined) throw new SeccomposeError(knownCode(error.code), error.message);
  throw new SeccomposeError(
    ErrorCodes.SC_MESSAGE_INVALID,
    `the aggregator answered ${AGGREGATOR_DELETE_SUBJECT} with neither a delete reply nor an error`,
  );
}

/** The next SessionFinalised event of a session; subscribe before asking for the stop, or it may be missed. */
export interface FinalisedWatch {
  readonly finalised: Promise<SessionFinalisedEvent>;
  stop(): void;
}

export async function watchFinalised(nc: NatsConnection, session: string): Promise<FinalisedWatch> {
  let resolve!: (event: SessionFinalisedEvent) => void;
  const finalised = new Promise<SessionFinalisedEvent>((r) => (resolve = r));
  const sub: Subscription = subscribeValid<SessionFinalisedEvent>(
    nc,
    statusEventSubject(session),
    "sessionFinalisedEvent",
    resolve,
  );
  await nc.flush();
  return { finalised, stop: () => sub.unsubscribe() };
}
