/**
 * Sends one event message to stream SC_EVENTS and awaits its PubAck, always under the message's
 * own id: a transient failure is retried with the same id (the stream drops the copy if the first
 * attempt was stored), a refusal is final, and once NATS is away, the publisher closing or the
 * attempts spent, the message is to be spooled.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { JetStreamClient } from "@nats-io/jetstream";
import type { Logger } from "pino";
import type { SeccomposeError } from "../../../lib/errors.ts";
import { isTransientNatsError, toSeccomposeError } from "../../../lib/nats/errors.ts";
import { STREAM_EVENTS } from "../../../lib/subjects.ts";
import { describeRecord, type SpoolRecord } from "./spool.ts";

export interface StreamSenderDeps {
  js: JetStreamClient;
  logger: Logger;
  /** Time to wait for one PubAck. */
  publishTimeoutMs: number;
  /** Attempts per message while connected before it is spooled. */
  publishAttempts: number;
  /** Delays between attempts and between failed replay rounds; the last one repeats. */
  retryBackoffMs: readonly number[];
  connected: () => boolean;
  closing: () => boolean;
}

export type SendOutcome =
  { kind: "acked"; duplicate: boolean } | { kind: "spool" } | { kind: "rejected"; error: SeccomposeError };

export class StreamSender {
  readonly #deps: StreamSenderDeps;
  readonly #js: JetStreamClient;
  readonly #publishTimeoutMs: number;

  constructor(deps: StreamSenderDeps) {
    this.#deps = deps;
    this.#js = deps.js;
    this.#publishTimeoutMs = deps.publishTimeoutMs;
  }

  /** Publishes until acknowledged, refused for good, or it should be spooled instead. */
  async send(record: SpoolRecord): Promise<SendOutcome> {
    for (let attempt = 1; ; attempt++) {
      try {
        const ack = await this.publishOnce(record);
        return { kind: "acked", duplicate: ack.duplicate };
      } catch (err) {
        if (!isTransientNatsError(err)) {
          const error = toSeccomposeError(err, `publishing ${describeRecord(record)}`);
          this.#deps.logger.error({ err: error }, "JetStream refused an event message");
          return { kind: "rejected", error };
        }
        if (!this.#deps.connected() || this.#deps.closing() || attempt >= this.#deps.publishAttempts) {
          this.#deps.logger.debug({ msgId: record.msgId, attempt, err }, "publish failed; spooling");
          return { kind: "spool" };
        }
        await sleep(this.backoff(attempt));
      }
    }
  }

  /** One publish with the record's message id; rejects as the JetStream client does. */
  publishOnce(record: SpoolRecord): Promise<{ duplicate: boolean }> {
    return this.#js.publish(record.subject, record.data, {
      msgID: record.msgId,
      expect: { streamName: STREAM_EVENTS },
      timeout: this.#publishTimeoutMs,
    });
  }

  /** The delay after `attempt` failed attempts (or replay rounds). */
  backoff(attempt: number): number {
    const steps = this.#deps.retryBackoffMs;
    return steps[Math.min(attempt, steps.length) - 1] ?? 0;
  }
}
