/**
 * On-disk FIFO of event messages that could not reach JetStream. One file per message, named by
 * the publisher's order number so a directory listing restores the order after a restart; files
 * are written to a temporary name, fsync'ed, renamed and the directory fsync'ed, so a crash leaves
 * either the whole message or nothing. A file is deleted only once the stream acknowledged it.
 */
import { mkdir, open, readdir, readFile, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { Packr } from "msgpackr";
import type { Logger } from "pino";
import { SeccomposeError } from "../../../lib/errors.ts";

export type SpooledKind = "batch" | "fin";

/** What is needed to publish the message again, exactly as the first attempt would have. */
export interface SpoolRecord {
  subject: string;
  msgId: string;
  session: string;
  kind: SpooledKind;
  /** Syscall events in the batch (0 for a FIN), for the agent's eventsSent counter. */
  events: number;
  /** The encoded EventMessage. */
  data: Uint8Array;
}

/** How logs and errors name a message: its kind, message id and subject. */
export function describeRecord(record: SpoolRecord): string {
  return `${record.kind === "fin" ? "FIN" : "batch"} ${record.msgId} on ${record.subject}`;
}

export interface SpoolEntry {
  order: number;
  kind: SpooledKind;
  file: string;
  bytes: number;
}

const ORDER_DIGITS = 16;
const FILE_RE = /^(\d{16})-(batch|fin)\.msg$/;
const TMP_PREFIX = ".tmp-";
/** Unreadable files are renamed with this suffix: kept for inspection, never replayed. */
const REJECTED_SUFFIX = ".rejected";

const packr = new Packr({ useRecords: false });

function fileName(order: number, kind: SpooledKind): string {
  return `${String(order).padStart(ORDER_DIGITS, "0")}-${kind}.msg`;
}

function isRecord(value: unknown): value is SpoolRecord {
  if (typeof value !== "object" || value === null) return false;
  const r = value as Record<string, unknown>;
  return (
    typeof r.subject === "string" &&
    typeof r.msgId === "string" &&
    typeof r.session === "string" &&
    (r.kind === "batch" || r.kind === "fin") &&
    typeof r.events === "number" &&
    r.data instanceof Uint8Array
  );
}

async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export class Spool {
  readonly dir: string;
  readonly maxBytes: number;
  readonly #logger: Logger;
  /** Sorted by order. */
  readonly #entries: SpoolEntry[] = [];
  #bytes = 0;
  /** Bytes of appends in progress, so concurrent appends cannot overshoot the limit together. */
  #reserved = 0;
  #lastOrder = 0;

  private constructor(dir: string, maxBytes: number, logger: Logger) {
    this.dir = dir;
    this.maxBytes = maxBytes;
    this.#logger = logger;
  }

  /** Opens (creating if needed) the spool in `dir`, indexing the messages a previous run left. */
  static async open(dir: string, maxBytes: number, logger: Logger): Promise<Spool> {
    const spool = new Spool(dir, maxBytes, logger);
    try {
      await mkdir(dir, { recursive: true });
      for (const name of await readdir(dir)) {
        if (name.startsWith(TMP_PREFIX)) {
          // An append interrupted by a crash: its publish() never resolved, so the caller still had it.
          await rm(join(dir, name), { force: true });
          continue;
        }
        const match = FILE_RE.exec(name);
        if (!match) continue;
        const order = Number(match[1]);
        const { size } = await stat(join(dir, name));
        spool.#entries.push({ order, kind: match[2] as SpooledKind, file: name, bytes: size });
        spool.#bytes += size;
        spool.#lastOrder = Math.max(spool.#lastOrder, order);
      }
    } catch (err) {
      throw new SeccomposeError(
        "SC_FILE_READ",
        `cannot open spool directory ${dir}: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
    spool.#entries.sort((a, b) => a.order - b.order);
    if (spool.#entries.length > 0) {
      logger.info(
        { dir, messages: spool.#entries.length, bytes: spool.#bytes },
        "found spooled event messages from a previous run; they will be replayed",
      );
    }
    return spool;
  }

  get bytes(): number {
    return this.#bytes;
  }

  get size(): number {
    return this.#entries.length;
  }

  /** Highest order number on disk when the spool was opened or appended to since. */
  get lastOrder(): number {
    return this.#lastOrder;
  }

  /** A snapshot of the queue, oldest first. */
  entries(): SpoolEntry[] {
    return [...this.#entries];
  }

  /** Writes `record` durably under `order`; rejects with SC_SPOOL_FULL when it does not fit. */
  async append(order: number, record: SpoolRecord): Promise<SpoolEntry> {
    const data = packr.pack(record);
    if (this.#bytes + this.#reserved + data.length > this.maxBytes) {
      throw new SeccomposeError(
        "SC_SPOOL_FULL",
        `spool ${this.dir} is full: it holds ${this.#bytes} bytes in ${this.#entries.length} messages, ` +
          `and ${record.kind === "fin" ? "a FIN" : "a batch"} of ${data.length} bytes for session ${record.session} ` +
          `would exceed the limit of ${this.maxBytes} bytes (batch.spoolMaxBytes) while NATS is unreachable`,
      );
    }
    this.#reserved += data.length;
    const file = fileName(order, record.kind);
    const tmp = join(this.dir, `${TMP_PREFIX}${file}`);
    try {
      const handle = await open(tmp, "w");
      try {
        await handle.writeFile(data);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(tmp, join(this.dir, file));
      await fsyncDir(this.dir);
    } catch (err) {
      await rm(tmp, { force: true });
      throw new SeccomposeError(
        "SC_FILE_WRITE",
        `cannot write spool file ${join(this.dir, file)}: ${(err as Error).message}`,
        { cause: err },
      );
    } finally {
      this.#reserved -= data.length;
    }
    const entry: SpoolEntry = { order, kind: record.kind, file, bytes: data.length };
    this.#insert(entry);
    this.#bytes += entry.bytes;
    this.#lastOrder = Math.max(this.#lastOrder, order);
    return entry;
  }

  /** Reads a spooled message; an unreadable file is set aside (renamed `.rejected`) and reported. */
  async read(entry: SpoolEntry): Promise<SpoolRecord> {
    const path = join(this.dir, entry.file);
    let value: unknown;
    try {
      value = packr.unpack(await readFile(path));
    } catch (err) {
      await this.reject(entry, `unreadable: ${(err as Error).message}`);
      throw new SeccomposeError(
        "SC_FILE_READ",
        `spool file ${path} is unreadable: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
    if (!isRecord(value)) {
      await this.reject(entry, "not a spooled event message");
      throw new SeccomposeError("SC_FILE_READ", `spool file ${path} does not hold a spooled event message`);
    }
    return value;
  }

  /** Deletes an acknowledged message. */
  async remove(entry: SpoolEntry): Promise<void> {
    await rm(join(this.dir, entry.file), { force: true });
    this.#forget(entry);
  }

  /** Takes a message that can never be published out of the queue, keeping the file aside. */
  async reject(entry: SpoolEntry, reason: string): Promise<void> {
    const from = join(this.dir, entry.file);
    const to = `${from}${REJECTED_SUFFIX}`;
    this.#logger.error({ file: from, keptAs: to, reason }, "spooled event message set aside, not replayed");
    await rename(from, to).catch(() => rm(from, { force: true }));
    this.#forget(entry);
  }

  #insert(entry: SpoolEntry): void {
    let i = this.#entries.length;
    while (i > 0 && (this.#entries[i - 1] as SpoolEntry).order > entry.order) i--;
    this.#entries.splice(i, 0, entry);
  }

  #forget(entry: SpoolEntry): void {
    const i = this.#entries.indexOf(entry);
    if (i < 0) return;
    this.#entries.splice(i, 1);
    this.#bytes -= entry.bytes;
  }
}
