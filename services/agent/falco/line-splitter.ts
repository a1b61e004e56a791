/**
 * Splits a byte stream (Falco's stdout) into lines. Each chunk is decoded once up to its last
 * newline and cut with `indexOf`, rather than going through readline's per-line machinery: the
 * stream carries one line per syscall of every traced container.
 *
 * A newline byte never occurs inside a multi-byte UTF-8 sequence, so the text up to the last
 * newline of a chunk always decodes completely; the rest waits for the next chunk.
 */
export class LineSplitter {
  readonly #onLine: (line: string) => void;
  readonly #maxLineBytes: number;
  readonly #onOverlong: (bytes: number) => void;
  #partial: Buffer[] = [];
  #partialBytes = 0;
  #discarding = false;

  /**
   * `onLine` gets every non-empty line without its newline. A line longer than `maxLineBytes`
   * is dropped (reported once to `onOverlong` with the bytes seen so far) so that a stream
   * without newlines cannot grow memory without bound.
   */
  constructor(onLine: (line: string) => void, maxLineBytes: number, onOverlong: (bytes: number) => void) {
    this.#onLine = onLine;
    this.#maxLineBytes = maxLineBytes;
    this.#onOverlong = onOverlong;
  }

  push(chunk: Buffer): void {
    const last = chunk.lastIndexOf(10);
    if (last < 0) {
      this.#keep(chunk);
      return;
    }
    let text: string;
    if (this.#discarding) {
      // The head of this chunk ends the overlong line.
      const first = chunk.indexOf(10);
      this.#discarding = false;
      text = first === last ? "" : chunk.toString("utf8", first + 1, last);
    } else if (this.#partialBytes > 0) {
      this.#partial.push(chunk.subarray(0, last));
      text = Buffer.concat(this.#partial).toString("utf8");
      this.#partial = [];
      this.#partialBytes = 0;
    } else {
      text = chunk.toString("utf8", 0, last);
    }
    this.#emitLines(text);
    if (last + 1 < chunk.length) this.#keep(chunk.subarray(last + 1));
  }

  /** The stream ended: a last line without a newline is still a line. */
  end(): void {
    if (this.#partialBytes > 0) this.#emitLines(Buffer.concat(this.#partial).toString("utf8"));
    this.#partial = [];
    this.#partialBytes = 0;
    this.#discarding = false;
  }

  #emitLines(text: string): void {
    let start = 0;
    let newline = text.indexOf("\n");
    while (newline >= 0) {
      if (newline > start) this.#onLine(text.slice(start, newline));
      start = newline + 1;
      newline = text.indexOf("\n", start);
    }
    if (start < text.length) this.#onLine(text.slice(start));
  }

  #keep(bytes: Buffer): void {
    if (this.#discarding) return;
    if (this.#partialBytes + bytes.length > this.#maxLineBytes) {
      this.#onOverlong(this.#partialBytes + bytes.length);
      this.#partial = [];
      this.#partialBytes = 0;
      this.#discarding = true;
      return;
    }
    this.#partial.push(bytes);
    this.#partialBytes += bytes.length;
  }
}
