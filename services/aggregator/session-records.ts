/**
 * Follows KV bucket sc_sessions: every record present at start (so expected nodes, deadlines and
 * frozen workloads are known before the first message is merged), then every change.
 */
import type { KV, KvEntry, KvWatchEntry } from "@nats-io/kv";
import type { QueuedIterator } from "@nats-io/transport-node";
import type { Logger } from "pino";
import type { SessionRecord } from "../../lib/contracts/types.ts";
import { isValid } from "../../lib/contracts/validators.ts";
import { BUCKET_SESSIONS } from "../../lib/subjects.ts";

export type RecordChange = { id: string; record: SessionRecord } | { id: string; record: undefined };

/** A KV entry as a record change, or a reason why it is not a valid record for its key. */
export function recordChange(entry: KvEntry): RecordChange | { error: string } {
  const where = `KV ${BUCKET_SESSIONS} key ${entry.key} revision ${entry.revision}`;
  if (entry.operation !== "PUT") return { id: entry.key, record: undefined };
  let value: unknown;
  try {
    value = entry.json();
  } catch {
    return { error: `${where} is not JSON` };
  }
  if (!isValid("sessionRecord", value)) return { error: `${where} is not a valid session record` };
  const record = value as SessionRecord;
  if (record.id !== entry.key) return { error: `${where} holds session "${record.id}"` };
  return { id: entry.key, record };
}

export class SessionRecordWatch {
  #watcher: QueuedIterator<KvWatchEntry> | undefined;
  #loop: Promise<void> | undefined;

  /** Starts watching; resolves once every record that existed at the call was passed to `apply`. */
  async start(kv: KV, apply: (change: RecordChange) => void, logger: Logger): Promise<void> {
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
          if ("error" in change) logger.warn({ session: entry.key }, `skipped: ${change.error}`);
          else apply(change);
          if (entry.revision >= initialRevision) initialised();
        }
      } catch (err) {
        logger.error({ err: (err as Error).message }, `watch of KV ${BUCKET_SESSIONS} failed`);
      } finally {
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
