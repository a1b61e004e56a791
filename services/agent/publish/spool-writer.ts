/**
 * Writes to the disk spool the messages the direct path does not send: NATS is away, their
 * attempts are spent, the publisher is closing, or the spool is not empty yet (then every new
 * message joins it, so the spool stays one FIFO). Appends run one after another, so files reach
 * the spool index in publish order.
 */
import type { Logger } from "pino";
import { SerialQueue } from "../../../lib/serial-queue.ts";
import type { Spool, SpoolRecord } from "./spool.ts";

/** A message the publisher was handed, with the promise it answers when it leaves the direct path. */
export interface Outgoing extends SpoolRecord {
  /** Position in the publisher's FIFO, also the spool file name, so the spool keeps publish order. */
  order: number;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export interface SpoolWriterDeps {
  spool: Spool;
  logger: Logger;
  connected: () => boolean;
  /** The message is in the spool. */
  onSpooled: () => void;
  /** The message left the direct path, spooled or not (its promise is settled). */
  onWritten: (outgoing: Outgoing) => void;
}

export class SpoolWriter {
  readonly #deps: SpoolWriterDeps;
  readonly #appends = new SerialQueue();
  #writing = 0;

  constructor(deps: SpoolWriterDeps) {
    this.#deps = deps;
  }

  /** Messages on their way into the spool: until they are in, new ones must follow them there. */
  get writing(): number {
    return this.#writing;
  }

  /** Appends the message; its promise resolves once it is in the spool, or rejects (SC_SPOOL_FULL, a write error). */
  async write(outgoing: Outgoing): Promise<void> {
    const { spool, logger } = this.#deps;
    this.#writing++;
    const record: SpoolRecord = {
      subject: outgoing.subject,
      msgId: outgoing.msgId,
      session: outgoing.session,
      kind: outgoing.kind,
      events: outgoing.events,
      data: outgoing.data,
    };
    const append = this.#appends.run(() => spool.append(outgoing.order, record));
    try {
      await append;
      this.#deps.onSpooled();
      if (spool.size === 1) {
        logger.warn(
          { dir: spool.dir, connected: this.#deps.connected() },
          "JetStream unreachable; spooling event messages to disk until it is back",
        );
      }
      outgoing.resolve();
    } catch (err) {
      logger.error({ err, msgId: outgoing.msgId }, "could not spool an event message");
      outgoing.reject(err);
    } finally {
      this.#writing--;
    }
    this.#deps.onWritten(outgoing);
  }
}
