import { describe, expect, it } from "vitest";
import { ProbeScanner } from "./probe-scanner.ts";

const TAG = "probe-0123abcd-";

/** Feeds `chunks` and returns what reached the splitter and the probes, in stream order. */
function scan(chunks: string[]): string[] {
  const out: string[] = [];
  const scanner = new ProbeScanner(
    Buffer.from(TAG),
    { push: (chunk) => out.push(`lines:${chunk.toString()}`) },
    (seq) => out.push(`probe:${seq}`),
  );
  for (const c of chunks) scanner.push(Buffer.from(c));
  return out;
}

describe("ProbeScanner", () => {
  it("reports a probe after the lines before its line and before the rest", () => {
    expect(scan([`a\nb\nopenat /cfg/${TAG}7 x\nc\n`])).toEqual([
      "lines:a\nb\nopenat /cfg/",
      "probe:7",
      `lines:${TAG}7 x\nc\n`,
    ]);
  });

  it("finds a tag and a number cut by chunk boundaries, once", () => {
    expect(
      scan([`a\nopenat /cfg/probe-0123`, `abcd-4`, `2 x\n`]).filter((e) => e.startsWith("probe")),
    ).toEqual(["probe:42"]);
    const events = scan([`a\nopenat /cfg/${TAG}1`, `5\nb\n`]);
    expect(events.filter((e) => e.startsWith("probe"))).toEqual(["probe:15"]);
    expect(
      events
        .filter((e) => e.startsWith("lines"))
        .join("")
        .replaceAll("lines:", ""),
    ).toBe(`a\nopenat /cfg/${TAG}15\nb\n`);
  });

  it("ignores a tag without a number, and several probes in a chunk come in order", () => {
    expect(scan([`${TAG}x\n${TAG}1 a\n${TAG}2 b\n`]).filter((e) => e.startsWith("probe"))).toEqual([
      "probe:1",
      "probe:2",
    ]);
  });
});
