/**
 * The wire encoding of stream SC_EVENTS: one EventMessage per NATS message, as plain MessagePack
 * (no msgpackr record extension, so any MessagePack decoder can read it).
 */
import { Packr } from "msgpackr";
import { assertValid } from "../contracts/index.ts";
import type { EventMessage } from "../contracts/index.ts";
import { SeccomposeError } from "../errors.ts";

/**
 * Leaves room for the JetStream headers (message id, expected stream) under the server's default
 * 1 MiB max_payload, which counts headers too.
 */
export const DEFAULT_MAX_EVENT_MESSAGE_BYTES = 1024 * 1024 - 4096;

const packr = new Packr({ useRecords: false });

function tooLarge(size: number, maxBytes: number, what: string): SeccomposeError {
  return new SeccomposeError(
    "SC_MESSAGE_TOO_LARGE",
    `${what} is ${size} bytes, over the limit of ${maxBytes} bytes: send fewer events per batch (batch.maxEvents)`,
  );
}

function describe(msg: EventMessage): string {
  return msg.kind === "batch"
    ? `batch ${msg.seq} of session ${msg.session} from node ${msg.node}`
    : `FIN of session ${msg.session} from node ${msg.node}`;
}

export function encodeEventMessage(
  msg: EventMessage,
  maxBytes: number = DEFAULT_MAX_EVENT_MESSAGE_BYTES,
): Uint8Array {
  const data = packr.pack(msg);
  if (data.length > maxBytes) throw tooLarge(data.length, maxBytes, describe(msg));
  return data;
}

/** Decodes and validates a message read from `source` (e.g. `SC_EVENTS seq 42 on sc.ev.s1.node-a`). */
export function decodeEventMessage(
  data: Uint8Array,
  source: string,
  maxBytes: number = DEFAULT_MAX_EVENT_MESSAGE_BYTES,
): EventMessage {
  if (data.length > maxBytes) throw tooLarge(data.length, maxBytes, `message from ${source}`);
  let value: unknown;
  try {
    value = packr.unpack(data);
  } catch (err) {
    throw new SeccomposeError(
      "SC_MESSAGE_INVALID",
      `message from ${source} is not valid MessagePack (${data.length} bytes): ${(err as Error).message}`,
      { cause: err },
    );
  }
  return assertValid("eventMessage", value, source);
}
