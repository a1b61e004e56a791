import { describe, expect, it } from "vitest";
import { isSeccomposeError } from "../../lib/errors.ts";
import { CHECKPOINT_HEAD_KEY, CheckpointStore, encodeSnapshot, splitChunks } from "./checkpoint.ts";
import type { CheckpointKv } from "./checkpoint.ts";
import { AggregatorState } from "./session-state.ts";
import type { StateSnapshot } from "./state-snapshot.ts";

/** A KV bucket in memory with the compare-and-set semantics of NATS KV (one revision counter per bucket). */
class MemoryKv implements CheckpointKv {
  readonly entries = new Map<string, { value: Uint8Array; revision: number; operation: string }>();
  #revision = 0;
  /** Fails the n-th put from now on (1 = the next one). */
  failPutAt = 0;

  async get(key: string) {
    return this.entries.get(key) ?? null;
  }
  async put(key: string, value: Uint8Array) {
    if (this.failPutAt > 0 && --this.failPutAt === 0) throw new Error("connection lost");
    this.entries.set(key, { value: Uint8Array.from(value), revision: ++this.#revision, operation: "PUT" });
    return this.#revision;
  }
  async create(key: string, value: Uint8Array) {
    if (this.entries.get(key)?.operation === "PUT")
      throw Object.assign(new Error("wrong last sequence: 3"), { code: 10071 });
    return this.put(key, value);
  }
  async update(key: string, value: Uint8Array, revision: number) {
    if (this.entries.get(key)?.revision !== revision) {
      throw Object.assign(new Error(`wrong last sequence: ${revision}`), { code: 10071 });
    }
    return this.put(key, value);
  }
  async purge(key: string) {
    this.entries.delete(key);
  }
  async keys(filter = ">") {
    const prefix = filter.replace(/>$/, "");
    const keys = [...this.entries.keys()].filter((k) => k.startsWith(prefix));
    return (async function* () {
      yield* keys;
    })();
  }
}

function snapshotWith(sessions: number): StateSnapshot {
  const state = new AggregatorState(() => 0);
  for (let i = 0; i < sessions; i++) {
    state.setRecord({
      schemaVersion: 1,
      id: `s${i}`,
      mode: "oneshot",
      state: "running",
      createdAt: "2026-11-27T10:00:00Z",
      expectedNodes: ["node-a"],
      targets: {},
      profile: {},
    });
    state.apply({
      schemaVersion: 1,
      kind: "batch",
      session: `s${i}`,
      node: "node-a",
      arch: "x86_64",
      seq: 1,
      sentAt: 1,
      droppedEvents: 0,
      workloads: [
        {
          workload: { namespace: "ns", kind: "Pod", name: `p${i}`, container: "c" },
          syscalls: [{ name: "read", count: i + 1, firstSeen: 1 }],
        },
      ],
    });
  }
  return state.snapshot();
}

const info = { streamSeq: 42, coveredSeq: 40, writtenAt: "2026-11-27T10:00:00.000Z" };

describe("CheckpointStore", () => {
  it("finds no checkpoint in an empty bucket", async () => {
    expect(
      await new CheckpointStore(new MemoryKv(), { instance: "i1", chunkBytes: 1024 }).load(),
    ).toBeUndefined();
  });

  it("stores a snapshot larger than one KV value in chunks and loads it back unchanged", async () => {
    const kv = new MemoryKv();
    const snapshot = snapshotWith(200);
    const bytes = encodeSnapshot(snapshot);
    expect(bytes.length).toBeGreaterThan(4 * 1024);
    const head = await new CheckpointStore(kv, { instance: "i1", chunkBytes: 1024 }).write(bytes, info);
    expect(head.chunks).toBe(Math.ceil(bytes.length / 1024));
    expect(
      [...kv.entries.values()].every(
        (e) => e.value.length <= 1024 || e === kv.entries.get(CHECKPOINT_HEAD_KEY),
      ),
    ).toBe(true);
    const loaded = await new CheckpointStore(kv, { instance: "i2", chunkBytes: 1024 }).load();
    expect(loaded?.head).toMatchObject({ streamSeq: 42, coveredSeq: 40, instance: "i1" });
    expect(loaded?.snapshot).toEqual(snapshot);
  });

  it("keeps the previous checkpoint current when a write fails between its chunks", async () => {
    const kv = new MemoryKv();
    const store = new CheckpointStore(kv, { instance: "i1", chunkBytes: 512 });
    const first = snapshotWith(3);
    await store.write(encodeSnapshot(first), info);
    kv.failPutAt = 2;
    await expect(store.write(encodeSnapshot(snapshotWith(50)), { ...info, streamSeq: 99 })).rejects.toThrow(
      "connection lost",
    );
    const loaded = await new CheckpointStore(kv, { instance: "i2", chunkBytes: 512 }).load();
    expect(loaded?.snapshot).toEqual(first);
    expect(loaded?.head.streamSeq).toBe(42);
  });

  it("alternates slots so the chunks of the current checkpoint are never overwritten", async () => {
    const kv = new MemoryKv();
    const store = new CheckpointStore(kv, { instance: "i1", chunkBytes: 4096 });
    const slots = [];
    for (let i = 1; i <= 3; i++) slots.push((await store.write(encodeSnapshot(snapshotWith(i)), info)).slot);
    expect(slots).toEqual(["a", "b", "a"]);
    const loaded = await new CheckpointStore(kv, { instance: "i2", chunkBytes: 4096 }).load();
    expect(loaded?.snapshot).toEqual(snapshotWith(3));
  });

  it("refuses to overwrite a checkpoint another aggregator wrote since it loaded", async () => {
    const kv = new MemoryKv();
    await new CheckpointStore(kv, { instance: "old", chunkBytes: 4096 }).write(
      encodeSnapshot(snapshotWith(1)),
      info,
    );
    const a = new CheckpointStore(kv, { instance: "a", chunkBytes: 4096 });
    const b = new CheckpointStore(kv, { instance: "b", chunkBytes: 4096 });
    await a.load();
    await b.load();
    await b.write(encodeSnapshot(snapshotWith(2)), info);
    const err = await a.write(encodeSnapshot(snapshotWith(3)), info).catch((e: unknown) => e);
    expect(isSeccomposeError(err, "SC_CHECKPOINT_CONFLICT")).toBe(true);
    expect((await new CheckpointStore(kv, { instance: "c", chunkBytes: 4096 }).load())?.snapshot).toEqual(
      snapshotWith(2),
    );
  });

  it("rejects chunks that do not match the head's checksum", async () => {
    const kv = new MemoryKv();
    await new CheckpointStore(kv, { instance: "i1", chunkBytes: 4096 }).write(
      encodeSnapshot(snapshotWith(2)),
      info,
    );
    const chunk = kv.entries.get("chunk.i1.a.0")!;
    const last = chunk.value.length - 1;
    chunk.value[last] = chunk.value[last]! ^ 0xff;
    const err = await new CheckpointStore(kv, { instance: "i2", chunkBytes: 4096 })
      .load()
      .catch((e: unknown) => e);
    expect(isSeccomposeError(err, "SC_CHECKPOINT_INVALID")).toBe(true);
    expect((err as Error).message).toMatch(/chunk.*i1\/a.*SHA-256/);
  });

  it("replaces an unreadable checkpoint with the next one it writes", async () => {
    const kv = new MemoryKv();
    await new CheckpointStore(kv, { instance: "i1", chunkBytes: 4096 }).write(
      encodeSnapshot(snapshotWith(2)),
      info,
    );
    await kv.put("chunk.i1.a.0", new TextEncoder().encode("garbage"));
    const store = new CheckpointStore(kv, { instance: "i2", chunkBytes: 4096 });
    await expect(store.load()).rejects.toThrow(/do not match/);
    await store.write(encodeSnapshot(snapshotWith(4)), info);
    expect((await new CheckpointStore(kv, { instance: "i3", chunkBytes: 4096 }).load())?.snapshot).toEqual(
      snapshotWith(4),
    );
  });

  it("removes the chunks of earlier processes but not its own", async () => {
    const kv = new MemoryKv();
    await new CheckpointStore(kv, { instance: "old", chunkBytes: 256 }).write(
      encodeSnapshot(snapshotWith(5)),
      info,
    );
    const store = new CheckpointStore(kv, { instance: "new", chunkBytes: 256 });
    await store.load();
    await store.write(encodeSnapshot(snapshotWith(5)), info);
    const removed = await store.pruneForeignChunks();
    expect(removed).toBeGreaterThan(0);
    expect(
      [...kv.entries.keys()].filter((k) => k.startsWith("chunk.")).every((k) => k.startsWith("chunk.new.")),
    ).toBe(true);
    expect((await new CheckpointStore(kv, { instance: "x", chunkBytes: 256 }).load())?.snapshot).toEqual(
      snapshotWith(5),
    );
  });

  it("splits bytes into chunks of at most the given size, and an empty input into one empty chunk", () => {
    const bytes = Uint8Array.from({ length: 2500 }, (_, i) => i % 256);
    expect(splitChunks(bytes, 1000).map((c) => c.length)).toEqual([1000, 1000, 500]);
    expect(splitChunks(new Uint8Array(0), 1000).map((c) => c.length)).toEqual([0]);
  });
});
