import { describe, expect, it } from "vitest";
import { listItems } from "./list-items.ts";

describe("listItems", () => {
  it("splits on commas and trims each item", () => {
    expect(listItems("read, write ,openat")).toEqual(["read", "write", "openat"]);
  });

  it("drops empty items, so a trailing or doubled comma adds nothing", () => {
    expect(listItems("a,,b,")).toEqual(["a", "b"]);
    expect(listItems(" , ")).toEqual([]);
    expect(listItems("")).toEqual([]);
  });

  it("keeps order and repeats: deduplication is the caller's choice", () => {
    expect(listItems("b,a,b")).toEqual(["b", "a", "b"]);
  });
});
