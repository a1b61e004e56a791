/**
 * The sessions' desired state in KV sc_sessions, which agents and the aggregator watch. Every
 * change is a compare-and-set on the revision read, so the CLI never overwrites what the
 * aggregator (freeze, stopped) wrote meanwhile.
 */
import type { JetStreamClient } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import type { SessionRecord } from "../../lib/contracts/types.ts";
import { assertValid } from "../../lib/contracts/validators.ts";
import { ErrorCodes, SeccomposeError } from "../../lib/errors.ts";
import { isCasConflict, isStreamNotFound, toSeccomposeError } from "../../lib/nats/errors.ts";
import { BUCKET_SESSIONS } from "../../lib/subjects.ts";

/** Opens a bucket the aggregator owns (it creates them; the CLI may not). */
export async function openBucket(js: JetStreamClient, bucket: string): Promise<KV> {
  try {
    const kv = await new Kvm(js).open(bucket);
    await kv.status();
    return kv;
  } catch (err) {
    if (isStreamNotFound(err)) {
      throw new SeccomposeError(
        ErrorCodes.SC_AGGREGATOR_UNAVAILABLE,
        `KV bucket ${bucket} does not exist: seccompose-aggregator creates it when it first starts; is it running?`,
        { cause: err },
      );
    }
    throw toSeccomposeError(err, `opening KV bucket ${bucket}`);
  }
}

export interface StoredSession {
  record: SessionRecord;
  revision: number;
}

export class SessionStore {
  readonly #kv: KV;

  private constructor(kv: KV) {
    this.#kv = kv;
  }

  static async open(js: JetStreamClient): Promise<SessionStore> {
    return new SessionStore(await openBucket(js, BUCKET_SESSIONS));
  }

  async get(id: string): Promise<StoredSession | undefined> {
    let entry;
    try {
      entry = await this.#kv.get(id);
    } catch (err) {
      throw toSeccomposeError(err, `reading session ${id} from KV ${BUCKET_SESSIONS}`);
    }
    if (entry === null || entry.operation !== "PUT") return undefined;
    const record = assertValid("sessionRecord", entry.json(), `KV ${BUCKET_SESSIONS} key ${id}`);
    return { record, revision: entry.revision };
  }

  /** The session, or SC_SESSION_NOT_FOUND naming the bucket. */
  async require(id: string): Promise<StoredSession> {
    const found = await this.get(id);
    if (found === undefined) {
      throw new SeccomposeError(
        ErrorCodes.SC_SESSION_NOT_FOUND,
        `no session "${id}" in KV ${BUCKET_SESSIONS} (seccompose status lists the sessions)`,
      );
    }
    return found;
  }

  /** Writes a new session; SC_SESSION_EXISTS when the id is taken. */
  async create(record: SessionRecord): Promise<number> {
    try {
      return await this.#kv.create(record.id, JSON.stringify(record));
    } catch (err) {
      if (isCasConflict(err)) {
        throw new SeccomposeError(
          ErrorCodes.SC_SESSION_EXISTS,
          `a session "${record.id}" already exists, and a session id names one recording for good; choose another --id (\`seccompose status\` lists the ids in use)`,
          { cause: err },
        );
      }
      throw toSeccomposeError(err, `writing session ${record.id} to KV ${BUCKET_SESSIONS}`);
    }
  }

  /** Applies `change` to the current record with compare-and-set, retrying when it changed meanwhile. */
  async update(id: string, change: (record: SessionRecord) => SessionRecord): Promise<SessionRecord> {
    for (;;) {
      const { record, revision } = await this.require(id);
      const next = assertValid(
        "sessionRecord",
        change(record),
        `the new state of session ${id}`,
        "SC_INTERNAL",
      );
      try {
        await this.#kv.update(id, JSON.stringify(next), revision);
        return next;
      } catch (err) {
        if (!isCasConflict(err))
          throw toSeccomposeError(err, `updating session ${id} in KV ${BUCKET_SESSIONS}`);
      }
    }
  }

  /** Every session, by creation time. */
  async list(): Promise<SessionRecord[]> {
    const ids: string[] = [];
    try {
      for await (const key of await this.#kv.keys()) ids.push(key);
    } catch (err) {
      throw toSeccomposeError(err, `listing KV ${BUCKET_SESSIONS}`);
    }
    const records: SessionRecord[] = [];
    for (const id of ids) {
      const found = await this.get(id);
      if (found !== undefined) records.push(found.record);
    }
    return records.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
  }
}
