import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ErrorCodes } from "./errors.ts";

const doc = readFileSync(new URL("../docs/errors.md", import.meta.url), "utf8");
const documented = [...doc.matchAll(/^\| `(SC_[A-Z0-9_]+)` +\|/gm)].map((m) => m[1]);

describe("error registry", () => {
  it("uses each code's own name as its value", () => {
    for (const [key, value] of Object.entries(ErrorCodes)) expect(value).toBe(key);
  });

  it("documents every code in docs/errors.md, and nothing else", () => {
    expect([...documented].sort()).toEqual(Object.keys(ErrorCodes).sort());
  });
});
