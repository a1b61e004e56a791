/**
 * Finds the agent's capture probes in Falco's stdout as it arrives. A probe is a file the agent
 * creates under a name with a random tag and a sequence number (`…/probe-<hex>-<seq>`); Falco's
 * alert for its `openat` carries that name. Each chunk goes on to the line splitter, and each
 * probe is reported at its place in the stream: the lines before the probe's line first, then the
 * probe, then the rest, so that a cutover probe splits the alerts exactly. A probe is recognised
 * before its line is complete: with buffered output Falco writes the probe's padding in whole
 * buffer blocks and keeps the end of the line (and its newline) until more output comes; every
 * alert before the probe is complete by then. A tag or its number cut by a chunk boundary is
 * found in the next chunk.
 */
const CODE_0 = 48;
const CODE_9 = 57;

export class ProbeScanner {
  readonly #tag: Buffer;
  readonly #lines: { push(chunk: Buffer): void };
  readonly #onProbe: (seq: number) => void;
  /** The end of the last chunk, where a tag and its number may continue (handed on already). */
  #carry: Buffer = Buffer.alloc(0);

  constructor(tag: Buffer, lines: { push(chunk: Buffer): void }, onProbe: (seq: number) => void) {
    this.#tag = tag;
    this.#lines = lines;
    this.#onProbe = onProbe;
  }

  push(chunk: Buffer): void {
    const carry = this.#carry;
    const data = carry.length === 0 ? chunk : Buffer.concat([carry, chunk]);
    const tag = this.#tag;
    let pushed = 0;
    let from = 0;
    let next: Buffer | undefined;
    for (;;) {
      const at = data.indexOf(tag, from);
      if (at === -1) break;
      const digits = at + tag.length;
      let end = digits;
      while (end < data.length && data[end]! >= CODE_0 && data[end]! <= CODE_9) end++;
      // The number may go on in the next chunk.
      if (end === data.length) {
        next = data.subarray(at);
        break;
      }
      if (end > digits) {
        // No newline lies between a probe line's start and its tag: what is before the tag
        // ends with the lines before the probe's.
        const upTo = Math.max(0, at - carry.length);
        if (upTo > pushed) {
          this.#lines.push(chunk.subarray(pushed, upTo));
          pushed = upTo;
        }
        this.#onProbe(Number(data.toString("latin1", digits, end)));
      }
      from = end;
    }
    if (pushed < chunk.length) this.#lines.push(chunk.subarray(pushed));
    this.#carry = next ?? data.subarray(Math.max(from, data.length - tag.length));
  }
}
