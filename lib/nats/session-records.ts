/**
 * Follows KV bucket sc_sessions, the desired state of every session: the records present at the
 * start first (so an agent or aggregator restarted mid-session converges before it does anything
 * else), then every change, one at a time, in revision order.
 */
import type { KV, KvEntry, KvWatchEntry } from "@nats-io/kv";
import type { QueuedIterator } from "@nats-io/transport-node";
import type { Logger } from "pino";
import type { SessionRecord } from "../contracts/types.ts";
import { assertValid } from "../contracts/validators.ts";
import { BUCKET_SESSIONS } from "../subjects.ts";

/** A record put (or deleted/purged: `record` undefined) under the session id `id`. */
export type RecordChange = { id: string; record: SessionRecord } | { id: string; record: undefined };

/** A KV entry as a record change, or why it is not a valid record for its key (the field and rule). */
export function recordChange(entry: KvEntry): RecordChange | { error: string } {
  const where = `KV ${BUCKET_SESSIONS} key ${entry.key} revision ${entry.revision}`;
  if (entry.operation !== "PUT") return { id: entry.key, record: undefined };
  let value: unknown;
  try {
    value = entry.json();
  } catch (err) {
    return { error: `${where} is not JSON: ${(err as Error).message}` };
  }
  let record: SessionRecord;
  try {
    record = assertValid("sessionRecord", value, where);
  } catch (err) {
    return { error: (err as Error).message };
  }
  if (record.id !== entry.key) return { error: `${where} holds session "${record.id}", not "${entry.key}"` };
  return { id: entry.key, record };
}

export class SessionRecordWatch {
  #watcher: QueuedIterator<KvWatchEntry> | undefined;
  #loop: Promise<void> | undefined;

  /**
   * Starts watching; resolves once every record that existed at the call was passed to `apply`
   * (awaited, one change at a time). Invalid entries go to `invalid` and are skipped.
   */
  async start(
    kv: KV,
    apply: (change: RecordChange) => void | Promise<void>,
    invalid: (key: string, error: string) => void,
    logger: Logger,
  ): Promise<void> {
    const { streamInfo } = await kv.status();
    const initialRevision = streamInfo.state.last_seq;
    const watcher = await kv.watch();
    this.#watcher = watcher;
    let initialised!: () => void;
    const ready = new Promise<void>((resolve) => (initialised = resolve));
    if (initialRevision === 0) initialised();
    this.#loop = (async () => {
      try {
        for await (const entry of watcher) {
          const change = recordChange(entry);
          if ("error" in change) invalid(entry.key, change.error);
          else await apply(change);
          if (entry.revision >= initialRevision) initialised();
        }
      } catch (err) {
        logger.error({ err }, `watch of KV ${BUCKET_SESSIONS} failed`);
      } finally {
        // The watch may end (stop(), closed connection) before the initial state was complete.
        initialised();
      }
    })();
    await ready;
  }

  async stop(): Promise<void> {
    this.#watcher?.stop();
    await this.#loop;
  }
}
