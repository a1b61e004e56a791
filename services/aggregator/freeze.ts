/**
 * Freeze requests on sc.agg.freeze. The session record stays the one source of truth of what is
 * frozen: a request only edits its `continuous.frozen` list (compare-and-set), and the aggregator,
 * like everyone else, learns of the freeze (or unfreeze) from the record's KV watch. Accepting
 * drift (`accept`) is an operation on the aggregator's state instead, not a desired state: the
 * aggregator applies it and stores a checkpoint before it replies. With several replicas, the one
 * holding the session's partition answers; the others stay quiet.
 */
import type { KV } from "@nats-io/kv";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import type { Logger } from "pino";
import type { ErrorBody, FreezeReply, FreezeRequest, SessionRecord } from "../../lib/contracts/types.ts";
import type { AcceptOutcome } from "./session-state.ts";
import { isValid } from "../../lib/contracts/validators.ts";
import { SeccomposeError } from "../../lib/errors.ts";
import { isCasConflict } from "../../lib/nats/errors.ts";
import { BUCKET_SESSIONS } from "../../lib/subjects.ts";
import { AGGREGATOR_FREEZE_SUBJECT } from "../../lib/subjects.ts";

export { AGGREGATOR_FREEZE_SUBJECT };

/** The record with the request's tokens added to (or removed from) its frozen list, sorted. */
export function withFrozen(record: SessionRecord, request: FreezeRequest): SessionRecord {
  if (record.mode !== "continuous") {
    throw new SeccomposeError(
      "SC_USAGE",
      `session ${record.id} is a one-shot session; only continuous sessions can be frozen`,
    );
  }
  const frozen = new Set(record.continuous?.frozen ?? []);
  for (const token of request.workloadTokens) {
    if (request.unfreeze === true) frozen.delete(token);
    else frozen.add(token);
  }
  return { ...record, continuous: { ...record.continuous, frozen: [...frozen].sort() } };
}

async function readRecord(sessions: KV, id: string) {
  const entry = await sessions.get(id);
  if (entry === null || entry.operation !== "PUT") {
    throw new SeccomposeError("SC_SESSION_NOT_FOUND", `no session ${id} in KV ${BUCKET_SESSIONS}`);
  }
  const value: unknown = entry.json();
  if (!isValid("sessionRecord", value)) {
    throw new SeccomposeError(
      "SC_MESSAGE_INVALID",
      `KV ${BUCKET_SESSIONS} key ${id} is not a valid session record`,
    );
  }
  return { record: value as SessionRecord, revision: entry.revision };
}

/** Applies a freeze request to the record in KV, retrying when the record changed meanwhile. */
export async function applyFreeze(sessions: KV, request: FreezeRequest): Promise<FreezeReply> {
  for (;;) {
    const entry = await readRecord(sessions, request.session);
    const next = withFrozen(entry.record, request);
    try {
      await sessions.update(request.session, JSON.stringify(next), entry.revision);
      return { session: request.session, frozen: next.continuous?.frozen ?? [] };
    } catch (err) {
      if (!isCasConflict(err)) throw err;
    }
  }
}

/** Takes drift of the named syscalls into frozen workloads' profiles, durably (the aggregator). */
export type AcceptDrift = (
  session: string,
  workloadTokens: readonly string[],
  syscalls: readonly string[],
) => Promise<AcceptOutcome[]>;

/** A freeze, an unfreeze, or accepted drift; the reply names the record's frozen workloads after it. */
export async function handleFreeze(
  sessions: KV,
  accept: AcceptDrift,
  request: FreezeRequest,
): Promise<FreezeReply> {
  if (request.accept === undefined) return applyFreeze(sessions, request);
  if (request.unfreeze === true) {
    throw new SeccomposeError(
      "SC_USAGE",
      "accept takes drift into frozen profiles; unfreeze takes all of it: ask for one of them",
    );
  }
  const { record } = await readRecord(sessions, request.session);
  const accepted = await accept(request.session, request.workloadTokens, request.accept);
  return { session: request.session, frozen: record.continuous?.frozen ?? [], accepted };
}

/** How the aggregator answering for `session` accepts drift; undefined: another replica answers for it. */
export type FreezeOwner = (session: string) => AcceptDrift | undefined;

export function serveFreeze(
  nc: NatsConnection,
  sessions: KV,
  owner: FreezeOwner,
  logger: Logger,
): Subscription {
  const fail = (code: string, message: string): string =>
    JSON.stringify({ code, message } satisfies ErrorBody);
  return nc.subscribe(AGGREGATOR_FREEZE_SUBJECT, {
    callback: (err, msg) => {
      if (err !== null) {
        logger.error({ err }, "freeze subscription failed");
        return;
      }
      let request: unknown;
      try {
        request = msg.json();
      } catch {
        msg.respond(fail("SC_MESSAGE_INVALID", "the freeze request body is not JSON"));
        return;
      }
      if (!isValid("freezeRequest", request)) {
        msg.respond(
          fail(
            "SC_MESSAGE_INVALID",
            'a freeze request is {"session": "<id>", "workloadTokens": ["<token>", ...]}',
          ),
        );
        return;
      }
      const r = request as FreezeRequest;
      const accept = owner(r.session);
      if (accept === undefined) return;
      handleFreeze(sessions, accept, r).then(
        (reply) => {
          logger.info(
            {
              session: r.session,
              workloads: r.workloadTokens,
              unfreeze: r.unfreeze === true,
              ...(r.accept !== undefined ? { accepted: r.accept } : {}),
            },
            "freeze applied",
          );
          msg.respond(JSON.stringify(reply));
        },
        (e: unknown) => {
          const code = (e as { code?: string }).code ?? "SC_NATS_UNREACHABLE";
          logger.warn({ session: r.session, err: e }, "freeze request failed");
          msg.respond(fail(code, (e as Error).message));
        },
      );
    },
  });
}
