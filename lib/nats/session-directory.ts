/**
 * The agents' read-only view of KV bucket sc_sessions, without any consumer: keys are listed with
 * STREAM.INFO (`subjects_filter`), records read with DIRECT.GET, and changes learnt from the
 * bucket's republish on `sc.sessions.<id>` (lib/nats/streams.ts). Agents may not create consumers,
 * because a push consumer's deliver subject escapes publish permissions: the server would publish
 * the deliveries anywhere the agent names, e.g. on another node's install subject.
 *
 * Republished messages are core NATS (lost while disconnected), so the follower re-reads every key
 * when it sees a gap in their stream sequences, or when a check after each reconnect and every
 * `resyncMs` (one STREAM.INFO) finds changes it was not told of or a purged stream. A change is
 * applied only when its revision is newer than the last one applied for its key, so repeats are
 * harmless.
 */
import { RepublishHeaders, jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import type { Logger } from "pino";
import type { SessionRecord } from "../contracts/types.ts";
import { ErrorCodes, SeccomposeError } from "../errors.ts";
import { SerialQueue } from "../serial-queue.ts";
import { BUCKET_SESSIONS, SESSION_CHANGES_PREFIX } from "../subjects.ts";
import { recordChange, type RecordChange } from "./session-records.ts";

const KEY_PREFIX = `$KV.${BUCKET_SESSIONS}.`;
export const DEFAULT_RESYNC_MS = 30_000;

/** A record change with the bucket revision it was read at. */
type Read = (RecordChange & { revision: number }) | { id: string; error: string; revision: number };

export class SessionDirectory {
  readonly #kv: KV;
  readonly #jsm: JetStreamManager;

  private constructor(kv: KV, jsm: JetStreamManager) {
    this.#kv = kv;
    this.#jsm = jsm;
  }

  /** Opens the bucket (STREAM.INFO); fails while the aggregator has not created it yet. */
  static async open(nc: NatsConnection): Promise<SessionDirectory> {
    const kv = await new Kvm(jetstream(nc)).open(BUCKET_SESSIONS);
    return new SessionDirectory(kv, await jetstreamManager(nc));
  }

  /** The running or finished record of session `id`, or undefined when it has none (or it was deleted). */
  async record(id: string): Promise<SessionRecord | undefined> {
    const read = await this.read(id);
    if ("error" in read) throw new SeccomposeError(ErrorCodes.SC_MESSAGE_INVALID, read.error);
    return read.record;
  }

  async read(id: string): Promise<Read> {
    const entry = await this.#kv.get(id);
    if (entry === null) return { id, record: undefined, revision: 0 };
    const change = recordChange(entry);
    return "error" in change
      ? { id, error: change.error, revision: entry.revision }
      : { ...change, revision: entry.revision };
  }

  /** The bucket stream's first and last sequence. */
  async sequences(): Promise<{ first: number; last: number }> {
    const { state } = await this.#jsm.streams.info(`KV_${BUCKET_SESSIONS}`);
    return { first: state.first_seq, last: state.last_seq };
  }

  /** Every key that has a message in the bucket (deleted ones too: their tombstone is a message). */
  async keys(): Promise<string[]> {
    const info = await this.#jsm.streams.info(`KV_${BUCKET_SESSIONS}`, {
      subjects_filter: `${KEY_PREFIX}>`,
    });
    return Object.keys(info.state.subjects ?? {}).map((subject) => subject.slice(KEY_PREFIX.length));
  }
}

export interface FollowOptions {
  nc: NatsConnection;
  directory: SessionDirectory;
  apply: (change: RecordChange) => void | Promise<void>;
  invalid: (key: string, error: string) => void;
  logger: Logger;
  resyncMs?: number;
}

/** Follows the bucket; `start` resolves once every record present at the call was applied. */
export class SessionFollower {
  readonly #opts: FollowOptions;
  readonly #applied = new Map<string, number>();
  readonly #queued = new Set<string>();
  #subscription: Subscription | undefined;
  #timer: NodeJS.Timeout | undefined;
  readonly #queue = new SerialQueue();
  #stopped = false;
  /** The stream's first sequence at the last full read, and the last sequence known to be covered. */
  #firstSeq = 0;
  #lastSeq = 0;

  private constructor(opts: FollowOptions) {
    this.#opts = opts;
  }

  static async start(opts: FollowOptions): Promise<SessionFollower> {
    const follower = new SessionFollower(opts);
    // Subscribe before listing, so that no change between the two is missed.
    follower.#subscription = opts.nc.subscribe(`${SESSION_CHANGES_PREFIX}.>`, {
      callback: (err, msg) => {
        if (err) {
          opts.logger.error({ err: err.message }, `subscription to ${SESSION_CHANGES_PREFIX}.> failed`);
          return;
        }
        const seq = Number(msg.headers?.get(RepublishHeaders.Sequence));
        // A notification missed in between: read everything again.
        if (seq > follower.#lastSeq + 1) void follower.resync();
        follower.#lastSeq = Math.max(follower.#lastSeq, seq || 0);
        follower.#enqueue([msg.subject.slice(SESSION_CHANGES_PREFIX.length + 1)]);
      },
    });
    await opts.nc.flush();
    await follower.resync();
    follower.#timer = setInterval(() => void follower.check(), opts.resyncMs ?? DEFAULT_RESYNC_MS);
    follower.#timer.unref();
    void follower.#resyncOnReconnect();
    return follower;
  }

  /** Reads everything again when the stream holds changes it was not told of, or was purged. */
  async check(): Promise<void> {
    try {
      const { first, last } = await this.#opts.directory.sequences();
      if (last > this.#lastSeq || first !== this.#firstSeq) await this.resync();
    } catch (err) {
      this.#opts.logger.warn({ err }, `checking KV ${BUCKET_SESSIONS} failed`);
    }
  }

  /** Re-reads every key; a key applied before that no longer exists counts as deleted. */
  resync(): Promise<void> {
    return this.#serial(async () => {
      const { first, last } = await this.#opts.directory.sequences();
      const keys = await this.#opts.directory.keys();
      const present = new Set(keys);
      const reads: Read[] = [];
      for (const key of keys) reads.push(await this.#opts.directory.read(key));
      for (const key of this.#applied.keys())
        if (!present.has(key)) reads.push({ id: key, record: undefined, revision: Number.MAX_SAFE_INTEGER });
      reads.sort((a, b) => a.revision - b.revision);
      for (const read of reads) await this.#applyRead(read);
      this.#firstSeq = first;
      this.#lastSeq = Math.max(this.#lastSeq, last);
    });
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#subscription?.unsubscribe();
    await this.#queue.idle();
  }

  #enqueue(keys: string[]): void {
    const fresh = keys.filter((key) => !this.#queued.has(key));
    for (const key of fresh) this.#queued.add(key);
    if (fresh.length === 0) return;
    void this.#serial(async () => {
      for (const key of fresh) {
        this.#queued.delete(key);
        await this.#applyRead(await this.#opts.directory.read(key));
      }
    });
  }

  async #applyRead(read: Read): Promise<void> {
    if (this.#stopped) return;
    const last = this.#applied.get(read.id);
    if (last !== undefined && read.revision <= last) return;
    if (last === undefined && read.revision === 0) return;
    if (read.revision === Number.MAX_SAFE_INTEGER) this.#applied.delete(read.id);
    else this.#applied.set(read.id, read.revision);
    if ("error" in read) this.#opts.invalid(read.id, read.error);
    else await this.#opts.apply(read);
  }

  /** Runs `step` after the previous one; a failure is logged and retried by the next resync. */
  #serial(step: () => Promise<void>): Promise<void> {
    return this.#queue.run(step).catch((err: unknown) => {
      this.#opts.logger.warn({ err }, `reading KV ${BUCKET_SESSIONS} failed`);
    });
  }

  async #resyncOnReconnect(): Promise<void> {
    for await (const status of this.#opts.nc.status()) {
      if (this.#stopped) return;
      if (status.type === "reconnect") void this.check();
    }
  }
}
