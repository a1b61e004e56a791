import { describe, expect, it } from "vitest";
import { PublishCounter } from "./publisher-stats.ts";
import type { SpoolRecord } from "./spool.ts";

function record(kind: SpoolRecord["kind"], events: number): SpoolRecord {
  return {
    subject: "sc.ev.0.s1.node-a",
    msgId: `s1:node-a:${kind}`,
    session: "s1",
    kind,
    events,
    data: new Uint8Array(),
  };
}

describe("PublishCounter", () => {
  it("counts acknowledged batches with their events, FINs and duplicates, with the state asked for alongside", () => {
    const counter = new PublishCounter();
    counter.acked(record("batch", 3), false);
    counter.acked(record("batch", 5), true);
    counter.acked(record("fin", 0), true);
    counter.counts.spooled += 2;
    expect(counter.stats(4, { size: 2, bytes: 512 })).toEqual({
      batchesSent: 2,
      finsSent: 1,
      eventsSent: 8,
      duplicates: 2,
      spooled: 2,
      replayed: 0,
      rejected: 0,
      inFlight: 4,
      spoolMessages: 2,
      spoolBytes: 512,
    });
  });
});
