import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isSeccomposeError } from "../../../lib/errors.ts";
import { Spool } from "./spool.ts";
import type { SpoolRecord } from "./spool.ts";

const logger = pino({ level: "silent" });

function record(seq: number, kind: SpoolRecord["kind"] = "batch"): SpoolRecord {
  return {
    subject: "sc.ev.s1.node-a",
    msgId: kind === "fin" ? "s1:node-a:fin" : `s1:node-a:${seq}`,
    session: "s1",
    kind,
    events: kind === "fin" ? 0 : 3,
    data: new Uint8Array(100).fill(seq),
  };
}

describe("Spool", () => {
  let dir: string;

  beforeEach(async () => {
    dir = join(await mkdtemp(join(tmpdir(), "seccompose-spool-")), "spool");
  });

  afterEach(async () => {
    await rm(join(dir, ".."), { recursive: true, force: true });
  });

  it("keeps messages in order number order, also when a lower number is appended later, and after reopening", async () => {
    const spool = await Spool.open(dir, 1_000_000, logger);
    await spool.append(2, record(2));
    await spool.append(3, record(3, "fin"));
    await spool.append(1, record(1));
    expect(spool.entries().map((e) => e.order)).toEqual([1, 2, 3]);

    const reopened = await Spool.open(dir, 1_000_000, logger);
    expect(reopened.entries().map((e) => [e.order, e.kind])).toEqual([
      [1, "batch"],
      [2, "batch"],
      [3, "fin"],
    ]);
    expect(reopened.bytes).toBe(spool.bytes);
    expect(reopened.lastOrder).toBe(3);
    const first = reopened.entries()[0]!;
    expect(await reopened.read(first)).toEqual({ ...record(1), data: Buffer.from(record(1).data) });

    await reopened.remove(first);
    expect(reopened.size).toBe(2);
    expect((await readdir(dir)).sort()).toEqual(["0000000000000002-batch.msg", "0000000000000003-fin.msg"]);
  });

  it("drops temporary files a crash left behind and sets unreadable messages aside", async () => {
    const spool = await Spool.open(dir, 1_000_000, logger);
    await spool.append(1, record(1));
    await writeFile(join(dir, ".tmp-0000000000000002-batch.msg"), "partial");
    await writeFile(join(dir, "0000000000000003-batch.msg"), new Uint8Array([0xc1, 0xc1]));

    const reopened = await Spool.open(dir, 1_000_000, logger);
    expect(reopened.entries().map((e) => e.order)).toEqual([1, 3]);
    const broken = reopened.entries()[1]!;
    const err = await reopened.read(broken).catch((e: unknown) => e);
    expect(isSeccomposeError(err, "SC_FILE_READ")).toBe(true);
    expect(reopened.entries().map((e) => e.order)).toEqual([1]);
    expect((await readdir(dir)).sort()).toEqual([
      "0000000000000001-batch.msg",
      "0000000000000003-batch.msg.rejected",
    ]);
  });

  it("refuses a message that would take it past its limit with SC_SPOOL_FULL", async () => {
    const spool = await Spool.open(dir, 400, logger);
    await spool.append(1, record(1));
    await spool.append(2, record(2));
    const err = await spool.append(3, record(3)).catch((e: unknown) => e);
    expect(isSeccomposeError(err, "SC_SPOOL_FULL")).toBe(true);
    expect((err as Error).message).toContain(`spool ${dir} is full`);
    expect(spool.size).toBe(2);
    expect(spool.bytes).toBeLessThanOrEqual(400);
  });
});
