/**
 * Delete requests on sc.agg.delete (`seccompose session delete`): the aggregator deletes a session
 * and everything stored of it, because it owns those stores. The CLI's NATS user only reads
 * profiles and may not purge anything; handing it purge rights on the buckets and the stream would
 * let any CLI user erase every session with one raw API call, and the aggregator must forget the
 * session anyway, or its next checkpoint and publications would bring the data back.
 *
 * Order: the record goes first (agents drop their state for it when they see it gone, and data
 * still arriving is refused as of a session without a record), then the aggregator's state of it,
 * then the documents, objects and events. With several replicas, the one holding the session's
 * partition answers (it holds the session's state); the others stay quiet.
 */
import type { JetStreamManager } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import type { ObjectStore } from "@nats-io/obj";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import type { Logger } from "pino";
import type { DeleteReply, DeleteRequest, ErrorBody, SessionRecord } from "../../lib/contracts/types.ts";
import { isValid } from "../../lib/contracts/validators.ts";
import { ErrorCodes, SeccomposeError } from "../../lib/errors.ts";
import {
  AGGREGATOR_DELETE_SUBJECT,
  BUCKET_PROFILES,
  BUCKET_SESSIONS,
  STREAM_EVENTS,
  eventSubjectsOf,
} from "../../lib/subjects.ts";

export interface DeletionDeps {
  sessions: KV;
  jsm: JetStreamManager;
  objects: ObjectStore;
  /** Drops the aggregator's state of the session and waits until no publication of it is under way. */
  forget(session: string): Promise<boolean>;
  /** Stores a checkpoint without the session. */
  checkpoint(): Promise<void>;
  /** The session's events are purged (called before and after): the holes they leave are no loss. */
  excusePurge(): Promise<void>;
}

/** The session's record and its state, or "absent". */
async function recordState(sessions: KV, id: string): Promise<DeleteReply["state"]> {
  const entry = await sessions.get(id);
  if (entry === null || entry.operation !== "PUT") return "absent";
  const value: unknown = entry.json();
  // An invalid record is deleted like a stopped one: nothing can be running under it.
  return isValid("sessionRecord", value) ? (value as SessionRecord).state : "stopped";
}

/** Deletes a session; SC_SESSION_ACTIVE for one not stopped unless `force`, SC_SESSION_NOT_FOUND when nothing is left of it. */
export async function deleteSession(deps: DeletionDeps, request: DeleteRequest): Promise<DeleteReply> {
  const id = request.session;
  const state = await recordState(deps.sessions, id);
  if ((state === "running" || state === "stopping") && request.force !== true) {
    throw new SeccomposeError(
      ErrorCodes.SC_SESSION_ACTIVE,
      `session ${id} is ${state}: stop it first, or delete it with --force (its data is discarded, no profile is written)`,
    );
  }
  if (state !== "absent") await deps.sessions.purge(id);
  const forgotten = await deps.forget(id);
  // Keys are `<session>.<token>[...]`: one filtered purge takes every document, revision and drift report with its history.
  const keys = (
    await deps.jsm.streams.purge(`KV_${BUCKET_PROFILES}`, { filter: `$KV.${BUCKET_PROFILES}.${id}.>` })
  ).purged;
  let objects = 0;
  for (const info of await deps.objects.list()) {
    if (info.deleted || !info.name.startsWith(`${id}.`)) continue;
    await deps.objects.delete(info.name);
    objects++;
  }
  await deps.excusePurge();
  const events = (await deps.jsm.streams.purge(STREAM_EVENTS, { filter: eventSubjectsOf(id) })).purged;
  await deps.excusePurge();
  await deps.checkpoint();
  if (state === "absent" && !forgotten && keys === 0 && objects === 0 && events === 0) {
    throw new SeccomposeError(
      ErrorCodes.SC_SESSION_NOT_FOUND,
      `no session ${id}: nothing of it in KV ${BUCKET_SESSIONS}, KV ${BUCKET_PROFILES}, the object store or stream ${STREAM_EVENTS}`,
    );
  }
  return { session: id, record: state !== "absent", state, keys, objects, events };
}

/** What deleting `session` takes; undefined: another replica answers for it. */
export type DeletionOwner = (session: string) => DeletionDeps | undefined;

export function serveDelete(nc: NatsConnection, owner: DeletionOwner, logger: Logger): Subscription {
  const fail = (code: string, message: string): string =>
    JSON.stringify({ code, message } satisfies ErrorBody);
  return nc.subscribe(AGGREGATOR_DELETE_SUBJECT, {
    callback: (err, msg) => {
      if (err !== null) {
        logger.error({ err }, "delete subscription failed");
        return;
      }
      let request: unknown;
      try {
        request = msg.json();
      } catch {
        msg.respond(fail(ErrorCodes.SC_MESSAGE_INVALID, "the delete request body is not JSON"));
        return;
      }
      if (!isValid("deleteRequest", request)) {
        msg.respond(
          fail(ErrorCodes.SC_MESSAGE_INVALID, 'a delete request is {"session": "<id>", "force"?: true}'),
        );
        return;
      }
      const r = request as DeleteRequest;
      const deps = owner(r.session);
      if (deps === undefined) return;
      deleteSession(deps, r).then(
        (reply) => {
          logger.info(reply, "session deleted");
          msg.respond(JSON.stringify(reply));
        },
        (e: unknown) => {
          const code = (e as { code?: string }).code ?? ErrorCodes.SC_NATS_UNREACHABLE;
          logger.warn({ session: r.session, err: e }, "delete request failed");
          msg.respond(fail(code, (e as Error).message));
        },
      );
    },
  });
}
