import { describe, expect, it } from "vitest";
import { partitionOf, partitionsOfStream, recordPartition, streamSubjects } from "./partitions.ts";

describe("partitions", () => {
  it("puts a session in a stable partition, spread over all of them", () => {
    expect(partitionOf("s-1", 12)).toBe(partitionOf("s-1", 12));
    expect(partitionOf("anything", 1)).toBe(0);
    const used = new Set(Array.from({ length: 200 }, (_, i) => partitionOf(`session-${i}`, 12)));
    expect(used.size).toBe(12);
  });

  it("reads the partition count from the stream's subjects", () => {
    expect(streamSubjects(3)).toEqual(["sc.ev.0.*.*", "sc.ev.1.*.*", "sc.ev.2.*.*"]);
    expect(partitionsOfStream(streamSubjects(3))).toBe(3);
    expect(partitionsOfStream(["sc.ev.>"])).toBe("legacy");
    expect(partitionsOfStream(["sc.ev.1.*.*"])).toBeUndefined();
    expect(partitionsOfStream(["other.>"])).toBeUndefined();
  });

  it("takes records written before partitions as partition 0", () => {
    expect(recordPartition({})).toBe(0);
    expect(recordPartition({ partition: 5 })).toBe(5);
  });
});
