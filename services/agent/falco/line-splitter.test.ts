import { describe, expect, it } from "vitest";
import { LineSplitter } from "./line-splitter.ts";

function splitter(maxLineBytes = 1024) {
  const lines: string[] = [];
  const overlong: number[] = [];
  const instance = new LineSplitter(
    (line) => lines.push(line),
    maxLineBytes,
    (bytes) => overlong.push(bytes),
  );
  return { instance, lines, overlong };
}

describe("LineSplitter", () => {
  it("gives each line once, across chunk boundaries, without newlines and without empty lines", () => {
    const { instance, lines } = splitter();
    for (const chunk of ["first li", "ne\nsecond\n\nthi", "rd", "\nfourth\n"])
      instance.push(Buffer.from(chunk));
    expect(lines).toEqual(["first line", "second", "third", "fourth"]);
  });

  it("decodes multi-byte UTF-8 characters split between chunks", () => {
    const { instance, lines } = splitter();
    const bytes = Buffer.from("cgroup=/kubepods/pod-é\u{1F600}\nnext\n", "utf8");
    const cut = bytes.indexOf(0xc3) + 1;
    instance.push(bytes.subarray(0, cut));
    instance.push(bytes.subarray(cut, cut + 2));
    instance.push(bytes.subarray(cut + 2));
    expect(lines).toEqual(["cgroup=/kubepods/pod-é\u{1F600}", "next"]);
  });

  it("gives a last line without newline when the stream ends", () => {
    const { instance, lines } = splitter();
    instance.push(Buffer.from("one\ntwo"));
    expect(lines).toEqual(["one"]);
    instance.end();
    expect(lines).toEqual(["one", "two"]);
  });

  it("drops a line longer than the limit, reports it once, and resumes at the next line", () => {
    const { instance, lines, overlong } = splitter(8);
    instance.push(Buffer.from("ok\n12345"));
    instance.push(Buffer.from("67890"));
    instance.push(Buffer.from("abcdef"));
    instance.push(Buffer.from("gh\nafter\n"));
    expect(lines).toEqual(["ok", "after"]);
    expect(overlong).toEqual([10]);
  });
});
