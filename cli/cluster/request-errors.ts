/** Telling "nobody listens" and "nobody answered in time" apart from real failures of a request. */
import { NoRespondersError, TimeoutError } from "@nats-io/transport-node";

function chain(err: unknown): unknown[] {
  const out: unknown[] = [];
  for (
    let e = err;
    e !== undefined && e !== null && out.length < 8;
    e = e instanceof Error ? e.cause : undefined
  ) {
    out.push(e);
  }
  return out;
}

/** The server answered that no subscriber listens on the subject. */
export function isNoResponders(err: unknown): boolean {
  return chain(err).some((e) => e instanceof NoRespondersError);
}

/** Someone may listen, but no reply came before the request's timeout. */
export function isRequestTimeout(err: unknown): boolean {
  return chain(err).some((e) => e instanceof TimeoutError);
}
