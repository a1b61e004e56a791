/**
 * Checkpoints of the aggregator state in KV bucket sc_aggregator.
 *
 * Crash safety rests on one rule: a stream message is acked (or terminated) only after a checkpoint
 * that reflects it is stored. At any instant, then, every message the durable consumer still holds
 * (unacked) is either reflected in the stored checkpoint or will be delivered again; since merging is
 * idempotent, restoring the checkpoint and merging whatever comes again gives exactly the state of an
 * uninterrupted run, whenever the process dies (SIGKILL included).
 *
 * A snapshot can exceed one KV value, so it is written as chunks under `chunk.<instance>.<slot>.<i>`,
 * alternating between slots a and b, and only then made current by writing the small head key
 * `checkpoint` that names instance, slot, chunk count and SHA-256. A crash while writing chunks leaves
 * the head on the previous, complete slot. The head is written with compare-and-set on its revision,
 * so once a replica that took a partition over rewrote its head, the previous owner's next checkpoint
 * fails instead of interleaving states; chunk keys carry the instance id for the same reason. Each
 * partition's keys start with `p<partition>.`.
 */
import { createHash } from "node:crypto";
import { pack, unpack } from "msgpackr";
import { SeccomposeError } from "../../lib/errors.ts";
import { isCasConflict } from "../../lib/nats/errors.ts";
import type { StateSnapshot } from "./state-snapshot.ts";

export const CHECKPOINT_HEAD_KEY = "checkpoint";

/** Keys of one partition's checkpoint start with this (`p<partition>.checkpoint`, `p<partition>.chunk.…`). */
export function partitionKeyPrefix(partition: number): string {
  return `p${partition}.`;
}

export function checkpointHeadKey(partition: number): string {
  return `${partitionKeyPrefix(partition)}${CHECKPOINT_HEAD_KEY}`;
}

export interface CheckpointHead {
  schemaVersion: 1;
  kind: "AggregatorCheckpoint";
  /** Id of the aggregator process that wrote it. */
  instance: string;
  slot: "a" | "b";
  chunks: number;
  bytes: number;
  sha256: string;
  /** Highest stream sequence merged into the snapshot. */
  streamSeq: number;
  /**
   * Every stream message up to this sequence is reflected in the snapshot; a restart resumes
   * consuming after it (or after the durable's ack floor, when that is higher).
   */
  coveredSeq: number;
  writtenAt: string;
}

/** The part of a KV bucket the checkpoint store uses (nats.js `KV` fits it). */
export interface CheckpointKv {
  get(key: string): Promise<{ value: Uint8Array; revision: number; operation: string } | null>;
  put(key: string, value: Uint8Array): Promise<number>;
  create(key: string, value: Uint8Array): Promise<number>;
  update(key: string, value: Uint8Array, revision: number): Promise<number>;
  purge(key: string): Promise<void>;
  keys(filter?: string): Promise<AsyncIterable<string>>;
}

export function encodeSnapshot(snapshot: StateSnapshot): Uint8Array {
  return pack(snapshot);
}

export function decodeSnapshot(bytes: Uint8Array, where: string): StateSnapshot {
  let value: unknown;
  try {
    value = unpack(bytes);
  } catch (err) {
    throw new SeccomposeError("SC_CHECKPOINT_INVALID", `checkpoint ${where} is not msgpack`, { cause: err });
  }
  const snap = value as Partial<StateSnapshot> | null;
  if (snap === null || typeof snap !== "object" || snap.version !== 1 || !Array.isArray(snap.sessions)) {
    throw new SeccomposeError(
      "SC_CHECKPOINT_INVALID",
      `checkpoint ${where} is not a version 1 aggregator state snapshot`,
    );
  }
  return snap as StateSnapshot;
}

export function splitChunks(bytes: Uint8Array, chunkBytes: number): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; at += chunkBytes) chunks.push(bytes.subarray(at, at + chunkBytes));
  if (chunks.length === 0) chunks.push(new Uint8Array(0));
  return chunks;
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

function chunkKey(prefix: string, instance: string, slot: "a" | "b", index: number): string {
  return `${prefix}chunk.${instance}.${slot}.${index}`;
}

export interface LoadedCheckpoint {
  head: CheckpointHead;
  snapshot: StateSnapshot;
}

export class CheckpointStore {
  readonly #kv: CheckpointKv;
  readonly #instance: string;
  readonly #chunkBytes: number;
  readonly #prefix: string;
  /** Revision of the head key as this process last read or wrote it; 0: no head yet. */
  #headRevision = 0;
  #lastSlot: "a" | "b" | undefined;

  /** `prefix`: of every key, so that partitions keep their checkpoints apart in one bucket. */
  constructor(kv: CheckpointKv, opts: { instance: string; chunkBytes: number; prefix?: string }) {
    this.#kv = kv;
    this.#prefix = opts.prefix ?? "";
    this.#instance = opts.instance;
    this.#chunkBytes = opts.chunkBytes;
  }

  get #headKey(): string {
    return `${this.#prefix}${CHECKPOINT_HEAD_KEY}`;
  }

  /** The current checkpoint, or undefined when none was ever written. */
  async load(): Promise<LoadedCheckpoint | undefined> {
    const entry = await this.#kv.get(this.#headKey);
    if (entry === null) return undefined;
    this.#headRevision = entry.revision;
    if (entry.operation !== "PUT") return undefined;
    let head: CheckpointHead;
    try {
      head = JSON.parse(new TextDecoder().decode(entry.value)) as CheckpointHead;
    } catch (err) {
      throw new SeccomposeError(
        "SC_CHECKPOINT_INVALID",
        `checkpoint head (revision ${entry.revision}) is not JSON`,
        {
          cause: err,
        },
      );
    }
    if (head.kind !== "AggregatorCheckpoint" || head.schemaVersion !== 1) {
      throw new SeccomposeError(
        "SC_CHECKPOINT_INVALID",
        `checkpoint head (revision ${entry.revision}) is not a version 1 AggregatorCheckpoint`,
      );
    }
    const parts: Uint8Array[] = [];
    for (let i = 0; i < head.chunks; i++) {
      const key = chunkKey(this.#prefix, head.instance, head.slot, i);
      const chunk = await this.#kv.get(key);
      if (chunk === null || chunk.operation !== "PUT") {
        throw new SeccomposeError("SC_CHECKPOINT_INVALID", `checkpoint chunk ${key} is missing`);
      }
      parts.push(chunk.value);
    }
    const bytes = Buffer.concat(parts);
    if (bytes.length !== head.bytes || sha256Hex(bytes) !== head.sha256) {
      throw new SeccomposeError(
        "SC_CHECKPOINT_INVALID",
        `checkpoint chunks of ${head.instance}/${head.slot} do not match the head's size and SHA-256`,
      );
    }
    if (head.instance === this.#instance) this.#lastSlot = head.slot;
    return { head, snapshot: decodeSnapshot(bytes, `${head.instance}/${head.slot}`) };
  }

  /**
   * Stores `bytes` (an encoded snapshot) and makes it current. Throws SC_CHECKPOINT_CONFLICT when
   * another writer moved the head since this process last read or wrote it.
   */
  async write(
    bytes: Uint8Array,
    info: { streamSeq: number; coveredSeq: number; writtenAt: string },
  ): Promise<CheckpointHead> {
    const slot = this.#lastSlot === "a" ? "b" : "a";
    const chunks = splitChunks(bytes, this.#chunkBytes);
    for (let i = 0; i < chunks.length; i++) {
      await this.#kv.put(chunkKey(this.#prefix, this.#instance, slot, i), chunks[i]!);
    }
    const head: CheckpointHead = {
      schemaVersion: 1,
      kind: "AggregatorCheckpoint",
      instance: this.#instance,
      slot,
      chunks: chunks.length,
      bytes: bytes.length,
      sha256: sha256Hex(bytes),
      streamSeq: info.streamSeq,
      coveredSeq: info.coveredSeq,
      writtenAt: info.writtenAt,
    };
    const value = new TextEncoder().encode(JSON.stringify(head));
    try {
      this.#headRevision =
        this.#headRevision === 0
          ? await this.#kv.create(this.#headKey, value)
          : await this.#kv.update(this.#headKey, value, this.#headRevision);
    } catch (err) {
      if (isCasConflict(err)) {
        throw new SeccomposeError(
          "SC_CHECKPOINT_CONFLICT",
          `another aggregator wrote checkpoint key ${this.#headKey} (expected revision ${this.#headRevision}): it owns this partition now`,
          { cause: err },
        );
      }
      throw err;
    }
    this.#lastSlot = slot;
    return head;
  }

  /** Removes chunks left by earlier aggregator processes; call once this one's checkpoint is current. */
  async pruneForeignChunks(): Promise<number> {
    const foreign: string[] = [];
    for await (const key of await this.#kv.keys(`${this.#prefix}chunk.>`)) {
      if (key.slice(this.#prefix.length).split(".")[1] !== this.#instance) foreign.push(key);
    }
    for (const key of foreign) await this.#kv.purge(key);
    return foreign.length;
  }
}
