import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Spool } from "./spool.ts";
import { SpoolWriter, type Outgoing } from "./spool-writer.ts";

const logger = pino({ level: "silent" });

/** An outgoing batch whose promise settles into `settled`. */
function outgoing(order: number, settled: string[], bytes = 100): Outgoing {
  return {
    order,
    subject: "sc.ev.0.s1.node-a",
    msgId: `s1:node-a:${order}`,
    session: "s1",
    kind: "batch",
    events: 3,
    data: new Uint8Array(bytes).fill(order),
    resolve: () => settled.push(`spooled ${order}`),
    reject: (err) => settled.push(`refused ${order}: ${(err as { code?: string }).code}`),
  };
}

describe("SpoolWriter", () => {
  let dir: string;
  beforeEach(async () => {
    dir = join(await mkdtemp(join(tmpdir(), "seccompose-spool-writer-")), "spool");
  });
  afterEach(async () => {
    await rm(join(dir, ".."), { recursive: true, force: true });
  });

  it("appends in the order written, settles each message, and hands it on once it is no longer being written", async () => {
    const spool = await Spool.open(dir, 1_000_000, logger);
    const settled: string[] = [];
    const written: Array<[number, number]> = [];
    let spooled = 0;
    const writer = new SpoolWriter({
      spool,
      logger,
      connected: () => false,
      onSpooled: () => spooled++,
      onWritten: (o) => written.push([o.order, writer.writing]),
    });
    const writes = [writer.write(outgoing(1, settled)), writer.write(outgoing(2, settled))];
    expect(writer.writing).toBe(2);
    await Promise.all(writes);
    expect(spool.entries().map((e) => e.order)).toEqual([1, 2]);
    expect(settled).toEqual(["spooled 1", "spooled 2"]);
    expect(written).toEqual([
      [1, 1],
      [2, 0],
    ]);
    expect(spooled).toBe(2);
    expect(writer.writing).toBe(0);
    const [first] = spool.entries();
    expect(await spool.read(first!)).toMatchObject({ msgId: "s1:node-a:1", events: 3 });
  });

  it("refuses a message the full spool cannot take, and hands it on all the same", async () => {
    // Room for one message of 100 data bytes with its envelope, not two.
    const spool = await Spool.open(dir, 300, logger);
    const settled: string[] = [];
    const written: number[] = [];
    const writer = new SpoolWriter({
      spool,
      logger,
      connected: () => false,
      onSpooled: () => {},
      onWritten: (o) => written.push(o.order),
    });
    await writer.write(outgoing(1, settled));
    await writer.write(outgoing(2, settled));
    expect(settled).toEqual(["spooled 1", "refused 2: SC_SPOOL_FULL"]);
    expect(written).toEqual([1, 2]);
    expect(spool.size).toBe(1);
  });
});
