/**
 * Freeze requests on sc.agg.freeze. The session record stays the one source of truth: a request
 * only edits its `continuous.frozen` list (compare-and-set), and the aggregator, like everyone
 * else, learns of the freeze from the record's KV watch.
 */
import type { KV } from "@nats-io/kv";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import type { Logger } from "pino";
import type { ErrorBody, FreezeReply, FreezeRequest, SessionRecord } from "../../lib/contracts/types.ts";
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

/** Applies a freeze request to the record in KV, retrying when the record changed meanwhile. */
export async function applyFreeze(sessions: KV, request: FreezeRequest): Promise<FreezeReply> {
  for (;;) {
    const entry = await sessions.get(request.session);
    if (entry === null || entry.operation !== "PUT") {
      throw new SeccomposeError("SC_USAGE", `no session ${request.session} in KV ${BUCKET_SESSIONS}`);
    }
    const value: unknown = entry.json();
    if (!isValid("sessionRecord", value)) {
      throw new SeccomposeError(
        "SC_MESSAGE_INVALID",
        `KV ${BUCKET_SESSIONS} key ${request.session} is not a valid session record`,
      );
    }
    const next = withFrozen(value as SessionRecord, request);
    try {
      await sessions.update(request.session, JSON.stringify(next), entry.revision);
      return { session: request.session, frozen: next.continuous?.frozen ?? [] };
    } catch (err) {
      if (!isCasConflict(err)) throw err;
    }
  }
}

export function serveFreeze(nc: NatsConnection, sessions: KV, logger: Logger): Subscription {
  const fail = (code: string, message: string): string =>
    JSON.stringify({ code, message } satisfies ErrorBody);
  return nc.subscribe(AGGREGATOR_FREEZE_SUBJECT, {
    callback: (err, msg) => {
      if (err !== null) {
        logger.error({ err: err.message }, "freeze subscription failed");
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
      applyFreeze(sessions, r).then(
        (reply) => {
          logger.info(
            { session: r.session, workloads: r.workloadTokens, unfreeze: r.unfreeze === true },
            "freeze applied",
          );
          msg.respond(JSON.stringify(reply));
        },
        (e: unknown) => {
          const code = (e as { code?: string }).code ?? "SC_NATS_UNREACHABLE";
          logger.warn({ session: r.session, err: (e as Error).message }, "freeze request failed");
          msg.respond(fail(code, (e as Error).message));
        },
      );
    },
  });
}
