import { Packr } from "msgpackr";
import { describe, expect, it } from "vitest";
import type { FinMarker, SyscallEventBatch } from "../contracts/types.ts";
import { isSeccomposeError } from "../errors.ts";
import { decodeEventMessage, encodeEventMessage } from "./codec.ts";

const batch: SyscallEventBatch = {
  schemaVersion: 1,
  kind: "batch",
  session: "s1",
  node: "worker-1.example",
  arch: "aarch64",
  seq: 7,
  sentAt: 1_764_000_000_123,
  droppedEvents: 2,
  workloads: [
    {
      workload: { namespace: "shop", kind: "Deployment", name: "cart", container: "app" },
      pod: "cart-7d9f-abcde",
      podUid: "0f0e8a2c-1111-4c1e-9a55-000000000001",
      containerId: "a".repeat(64),
      syscalls: [
        { name: "read", count: 10, firstSeen: 1_764_000_000_000 },
        { name: "socket", count: 2, firstSeen: 1_764_000_000_001, args: ["2", "18446744073709551615"] },
      ],
    },
  ],
};

const fin: FinMarker = {
  schemaVersion: 1,
  kind: "fin",
  session: "s1",
  node: "worker-1.example",
  batches: 7,
  sentAt: 1_764_000_001_000,
  droppedEvents: 2,
  gaps: [{ from: 1_764_000_000_500, to: 1_764_000_000_900 }],
};

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error("expected a throw");
}

describe("event message codec", () => {
  it("decodes what it encodes, batches and FIN markers alike", () => {
    expect(decodeEventMessage(encodeEventMessage(batch), "test")).toEqual(batch);
    expect(decodeEventMessage(encodeEventMessage(fin), "test")).toEqual(fin);
  });

  it("writes plain MessagePack maps that a decoder without msgpackr records reads back", () => {
    const plain = new Packr({ useRecords: false, mapsAsObjects: true });
    expect(plain.unpack(encodeEventMessage(batch))).toEqual(batch);
  });

  it("rejects bytes that are not MessagePack with SC_MESSAGE_INVALID naming the source", () => {
    const err = thrown(() => decodeEventMessage(new Uint8Array([0x93, 0x01]), "SC_EVENTS seq 9"));
    expect(isSeccomposeError(err, "SC_MESSAGE_INVALID")).toBe(true);
    expect((err as Error).message).toContain("SC_EVENTS seq 9 is not valid MessagePack");
  });

  it("rejects trailing bytes after a message as undecodable", () => {
    const data = new Uint8Array([...encodeEventMessage(fin), 0x00]);
    expect(
      isSeccomposeError(
        thrown(() => decodeEventMessage(data, "test")),
        "SC_MESSAGE_INVALID",
      ),
    ).toBe(true);
  });

  it("rejects a decodable message that breaks the schema, naming the field", () => {
    const packr = new Packr({ useRecords: false });
    const bad = packr.pack({ ...batch, seq: 0 });
    const err = thrown(() => decodeEventMessage(bad, "SC_EVENTS seq 3"));
    expect(isSeccomposeError(err, "SC_MESSAGE_INVALID")).toBe(true);
    expect((err as Error).message).toContain("SC_EVENTS seq 3");
    expect((err as Error).message).toContain("/seq");
  });

  it("rejects a 64-bit integer count, which msgpack decodes as a bigint the schema does not allow", () => {
    const packr = new Packr({ useRecords: false });
    const workload = { ...batch.workloads[0]!, syscalls: [{ name: "read", count: 1n << 60n, firstSeen: 0 }] };
    const err = thrown(() => decodeEventMessage(packr.pack({ ...batch, workloads: [workload] }), "test"));
    expect(isSeccomposeError(err, "SC_MESSAGE_INVALID")).toBe(true);
  });

  it("refuses to encode or decode a message over the size limit with SC_MESSAGE_TOO_LARGE", () => {
    const size = encodeEventMessage(batch).length;
    const encodeErr = thrown(() => encodeEventMessage(batch, size - 1));
    expect(isSeccomposeError(encodeErr, "SC_MESSAGE_TOO_LARGE")).toBe(true);
    expect((encodeErr as Error).message).toContain(`${size} bytes, over the limit of ${size - 1} bytes`);
    expect((encodeErr as Error).message).toContain("batch 7 of session s1");

    const decodeErr = thrown(() => decodeEventMessage(new Uint8Array(size), "test", size - 1));
    expect(isSeccomposeError(decodeErr, "SC_MESSAGE_TOO_LARGE")).toBe(true);
    expect(encodeEventMessage(batch, size)).toHaveLength(size);
  });
});
