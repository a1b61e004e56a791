/**
 * Publishes a node's batches and FIN markers to stream SC_EVENTS.
 *
 * Direct path: up to `maxInFlight` publishes await their PubAck at once (stream-sender.ts, which
 * retries a transient failure under the same message id). When NATS is unreachable, or retries
 * are exhausted, messages go to the on-disk spool instead (spool-writer.ts), and while the spool
 * holds anything every new message joins it too, so the spool stays one FIFO; the spool replayer
 * (spool-replayer.ts) replays it once connected.
 * A session's FIN is sent only after every earlier batch of that session was acknowledged (or
 * spooled ahead of it, and then the spool replays the FIN only after those batches' acks).
 */
import { join } from "node:path";
import { jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import type { FinMarker, SyscallEventBatch } from "../../../lib/contracts/types.ts";
import { SeccomposeError } from "../../../lib/errors.ts";
import { DEFAULT_MAX_EVENT_MESSAGE_BYTES, encodeEventMessage } from "../../../lib/nats/codec.ts";
import { STREAM_EVENTS, batchMessageId, eventSubject, finMessageId } from "../../../lib/subjects.ts";
import type { EventPublisher } from "../ports.ts";
import { PublishCounter, type PublisherStats } from "./publisher-stats.ts";
import { Signal } from "./signal.ts";
import { Spool } from "./spool.ts";
import { SpoolReplayer } from "./spool-replayer.ts";
import { SpoolWriter, type Outgoing } from "./spool-writer.ts";
import { StreamSender, type SendOutcome } from "./stream-sender.ts";

export type { PublisherStats } from "./publisher-stats.ts";

export interface JetStreamEventPublisherOptions {
  nc: NatsConnection;
  /** The agent's state directory; the spool lives in `<stateDir>/spool/`. */
  stateDir: string;
  logger: Logger;
  /** Publishes awaiting their PubAck at once (default 64). */
  maxInFlight?: number;
  /** Upper bound of the spool on disk (default 256 MiB). */
  spoolMaxBytes?: number;
  /** Time to wait for one PubAck (default 5000 ms). */
  publishTimeoutMs?: number;
  /** Attempts per message while connected before it is spooled (default 3). */
  publishAttempts?: number;
  /** Delays between attempts and between failed replay rounds; the last one repeats. */
  retryBackoffMs?: readonly number[];
  /** Largest encoded message (default: the codec's limit). */
  maxMessageBytes?: number;
}

const DEFAULTS = {
  maxInFlight: 64,
  spoolMaxBytes: 256 * 1024 * 1024,
  publishTimeoutMs: 5_000,
  publishAttempts: 3,
  retryBackoffMs: [100, 250, 500, 1_000, 2_000, 5_000],
};

function countEvents(batch: SyscallEventBatch): number {
  let events = 0;
  for (const workload of batch.workloads) events += workload.syscalls.length;
  return events;
}

export class JetStreamEventPublisher implements EventPublisher {
  readonly #nc: NatsConnection;
  readonly #spool: Spool;
  readonly #maxInFlight: number;
  readonly #maxMessageBytes: number;
  readonly #sender: StreamSender;
  readonly #writer: SpoolWriter;
  readonly #replayer: SpoolReplayer;
  readonly #counter = new PublishCounter();

  readonly #waiting: Outgoing[] = [];
  /** Batches per session that are waiting, in flight or being spooled on the direct path. */
  readonly #openBatches = new Map<string, number>();
  #inFlight = 0;
  #lastOrder: number;
  #connected: boolean;
  #closing = false;
  #closed: Promise<void> | undefined;
  #replayLoop: Promise<void> | undefined;
  #statusIterator: AsyncIterable<unknown> | undefined;

  /** Any progress, for drain() and close(). */
  readonly #progress = new Signal();

  private constructor(opts: JetStreamEventPublisherOptions, spool: Spool) {
    this.#nc = opts.nc;
    this.#spool = spool;
    this.#maxInFlight = opts.maxInFlight ?? DEFAULTS.maxInFlight;
    this.#maxMessageBytes = opts.maxMessageBytes ?? DEFAULT_MAX_EVENT_MESSAGE_BYTES;
    this.#lastOrder = spool.lastOrder;
    this.#connected = !opts.nc.isClosed();
    const connected = (): boolean => this.#connected;
    const closing = (): boolean => this.#closing;
    const publishTimeoutMs = opts.publishTimeoutMs ?? DEFAULTS.publishTimeoutMs;
    const sender = new StreamSender({
      js: jetstream(opts.nc, { timeout: publishTimeoutMs }),
      logger: opts.logger,
      publishTimeoutMs,
      publishAttempts: opts.publishAttempts ?? DEFAULTS.publishAttempts,
      retryBackoffMs: opts.retryBackoffMs ?? DEFAULTS.retryBackoffMs,
      connected,
      closing,
    });
    this.#sender = sender;
    const counts = this.#counter.counts;
    this.#writer = new SpoolWriter({
      spool,
      logger: opts.logger,
      connected,
      onSpooled: () => counts.spooled++,
      onWritten: (outgoing) => {
        this.#replayer.wake(false);
        this.#finish(outgoing);
      },
    });
    this.#replayer = new SpoolReplayer({
      spool,
      logger: opts.logger,
      maxInFlight: this.#maxInFlight,
      publishOnce: (record) => sender.publishOnce(record),
      backoff: (failedRounds) => sender.backoff(failedRounds),
      connected,
      closing,
      onAcked: (record, duplicate) => {
        this.#counter.acked(record, duplicate);
        counts.replayed++;
      },
      onRejected: () => counts.rejected++,
      onProgress: () => this.#progress.notify(),
      onEmptied: () => this.#pump(),
    });
  }

  /** Opens the spool (a previous run's messages are replayed first) and starts the replay loop. */
  static async open(opts: JetStreamEventPublisherOptions): Promise<JetStreamEventPublisher> {
    const spool = await Spool.open(
      join(opts.stateDir, "spool"),
      opts.spoolMaxBytes ?? DEFAULTS.spoolMaxBytes,
      opts.logger,
    );
    const publisher = new JetStreamEventPublisher(opts, spool);
    publisher.#start();
    return publisher;
  }

  publish(message: SyscallEventBatch | FinMarker, partition: number): Promise<void> {
    let data: Uint8Array;
    try {
      data = encodeEventMessage(message, this.#maxMessageBytes);
    } catch (err) {
      return Promise.reject(err);
    }
    let resolve!: () => void;
    let reject!: (err: unknown) => void;
    const promise = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const outgoing: Outgoing = {
      order: ++this.#lastOrder,
      subject: eventSubject(partition, message.session, message.node),
      msgId:
        message.kind === "batch"
          ? batchMessageId(message.session, message.node, message.seq)
          : finMessageId(message.session, message.node),
      session: message.session,
      kind: message.kind,
      events: message.kind === "batch" ? countEvents(message) : 0,
      data,
      resolve,
      reject,
    };
    if (outgoing.kind === "batch") {
      this.#openBatches.set(outgoing.session, (this.#openBatches.get(outgoing.session) ?? 0) + 1);
    }
    this.#waiting.push(outgoing);
    this.#pump();
    return promise;
  }

  async drain(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.#idle()) {
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new SeccomposeError(
          "SC_NATS_UNREACHABLE",
          `event messages were not all acknowledged by stream ${STREAM_EVENTS} within ${timeoutMs} ms: ` +
            `${this.#waiting.length} waiting, ${this.#inFlight} in flight, ${this.#spool.size} spooled ` +
            `(${this.#spool.bytes} bytes in ${this.#spool.dir})`,
        );
      }
      await this.#progress.wait(left);
    }
  }

  spoolBytes(): number {
    return this.#spool.bytes;
  }

  stats(): PublisherStats {
    return this.#counter.stats(this.#inFlight, this.#spool);
  }

  /**
   * Stops publishing: messages not yet acknowledged end up in the spool, for the next run to replay.
   * The connection itself belongs to the caller and stays open.
   */
  close(): Promise<void> {
    this.#closed ??= this.#shutdown();
    return this.#closed;
  }

  async #shutdown(): Promise<void> {
    this.#closing = true;
    (this.#statusIterator as { stop?: () => void } | undefined)?.stop?.();
    this.#replayer.wake(true);
    this.#pump();
    await this.#replayLoop;
    while (this.#waiting.length > 0 || this.#inFlight > 0 || this.#writer.writing > 0) {
      await this.#progress.wait();
    }
  }

  #start(): void {
    const statuses = this.#nc.status();
    this.#statusIterator = statuses;
    void (async () => {
      for await (const status of statuses) {
        if (status.type === "disconnect") {
          this.#connected = false;
          // Messages waiting for a window slot go to the spool rather than into a dead socket.
          this.#pump();
        } else if (status.type === "reconnect") {
          this.#connected = true;
          this.#replayer.wake(true);
          this.#pump();
        }
      }
    })();
    void this.#nc.closed().then(() => {
      this.#connected = false;
      this.#pump();
    });
    this.#replayLoop = this.#replayer.run();
  }

  #idle(): boolean {
    return (
      this.#waiting.length === 0 &&
      this.#inFlight === 0 &&
      this.#writer.writing === 0 &&
      this.#spool.size === 0
    );
  }

  #mustSpool(): boolean {
    return this.#closing || !this.#connected || this.#spool.size > 0 || this.#writer.writing > 0;
  }

  /** Moves waiting messages on: to the network while there is room, to the spool when NATS is away. */
  #pump(): void {
    let i = 0;
    while (i < this.#waiting.length) {
      const outgoing = this.#waiting[i] as Outgoing;
      if (outgoing.kind === "fin" && (this.#openBatches.get(outgoing.session) ?? 0) > 0) {
        i++;
        continue;
      }
      const spool = this.#mustSpool();
      if (!spool && this.#inFlight >= this.#maxInFlight) break;
      this.#waiting.splice(i, 1);
      if (spool) void this.#writer.write(outgoing);
      else void this.#send(outgoing);
    }
  }

  async #send(outgoing: Outgoing): Promise<void> {
    this.#inFlight++;
    let outcome: SendOutcome;
    try {
      outcome = await this.#sender.send(outgoing);
    } finally {
      this.#inFlight--;
    }
    if (outcome.kind === "spool") {
      await this.#writer.write(outgoing);
      return;
    }
    if (outcome.kind === "acked") {
      this.#counter.acked(outgoing, outcome.duplicate);
      outgoing.resolve();
    } else {
      this.#counter.counts.rejected++;
      outgoing.reject(outcome.error);
    }
    this.#finish(outgoing);
  }

  /** Bookkeeping once a message left the direct path (acked, spooled or refused). */
  #finish(outgoing: Outgoing): void {
    if (outgoing.kind === "batch") {
      const open = (this.#openBatches.get(outgoing.session) ?? 1) - 1;
      if (open > 0) this.#openBatches.set(outgoing.session, open);
      else this.#openBatches.delete(outgoing.session);
    }
    this.#progress.notify();
    this.#pump();
  }
}
