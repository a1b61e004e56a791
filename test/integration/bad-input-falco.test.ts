import { describe, expect, it } from "vitest";
import { isSeccomposeError } from "../../lib/errors.ts";
import type { AlertProblem } from "../../services/agent/intake/alert.ts";
import {
  COMPACT_LAYOUT,
  createCompactParser,
  FIXTURE_COMPACT_LAYOUT,
} from "../../services/agent/intake/compact-alert.ts";
import { parseJsonAlert } from "../../services/agent/intake/json-alert.ts";
import { readFixtureLines, renderCompactLine } from "../helpers/falco-fixtures.ts";
import { mutations, seededRandom } from "../helpers/mutate.ts";

/**
 * At least 10,000 generated malformed alert lines per parser: each is either still a well-formed
 * alert (a mutation can land in free text) or rejected with SC_ALERT_MALFORMED and a specific
 * problem — never another exception, never a crash.
 */
const COUNT = 10_000;
const jsonLines = readFixtureLines("node-a.alerts.jsonl");
const dropLines = readFixtureLines("node-a.with-simulated-drops.alerts.jsonl").filter((l) =>
  l.includes('"internal"'),
);
const compactFixture = readFixtureLines("node-a.alerts.compact.txt");
const compactOwn = jsonLines.slice(0, 200).map((l) => renderCompactLine(l, COMPACT_LAYOUT));

function feed(parse: (line: string) => unknown, inputs: string[]) {
  const rejected = new Map<AlertProblem, number>();
  let accepted = 0;
  for (const line of inputs) {
    try {
      parse(line);
      accepted++;
    } catch (err) {
      if (!isSeccomposeError(err, "SC_ALERT_MALFORMED"))
        throw new Error(`unexpected ${String(err)} for input ${JSON.stringify(line).slice(0, 200)}`, {
          cause: err,
        });
      const problem = (err.details as { problem: AlertProblem }).problem;
      expect(["not-json", "not-an-alert", "missing-field", "bad-value"]).toContain(problem);
      expect(err.message.length).toBeGreaterThan(10);
      rejected.set(problem, (rejected.get(problem) ?? 0) + 1);
    }
  }
  return { accepted, rejected };
}

describe("Falco alert parsers under malformed input", () => {
  it(`reject ${COUNT} mutated JSON alerts with specific, counted errors`, () => {
    const inputs = mutations([...jsonLines, ...dropLines], COUNT, seededRandom(1));
    const { accepted, rejected } = feed(parseJsonAlert, inputs);
    const total = [...rejected.values()].reduce((a, b) => a + b, 0);
    expect(accepted + total).toBe(COUNT);
    expect(total).toBeGreaterThan(COUNT * 0.5);
    for (const problem of ["not-json", "missing-field", "bad-value"] as const)
      expect(rejected.get(problem) ?? 0).toBeGreaterThan(0);
  });

  it(`reject ${COUNT} mutated compact lines (agent layout) with specific, counted errors`, () => {
    const parse = createCompactParser(COMPACT_LAYOUT);
    const { accepted, rejected } = feed(parse, mutations(compactOwn, COUNT, seededRandom(2)));
    expect(accepted + [...rejected.values()].reduce((a, b) => a + b, 0)).toBe(COUNT);
    expect(rejected.size).toBeGreaterThan(0);
  });

  it(`reject ${COUNT} mutated compact lines (fixture layout) with specific, counted errors`, () => {
    const parse = createCompactParser(FIXTURE_COMPACT_LAYOUT);
    const { accepted, rejected } = feed(parse, mutations(compactFixture, COUNT, seededRandom(3)));
    expect(accepted + [...rejected.values()].reduce((a, b) => a + b, 0)).toBe(COUNT);
    expect(rejected.size).toBeGreaterThan(0);
  });

  it("reject oversized and binary lines", () => {
    const huge = `{"output_fields":{"evt.type":"${"a".repeat(2_000_000)}"}}`;
    expect(() => parseJsonAlert(huge)).toThrow();
    expect(() => parseJsonAlert("\u0000\u0001\u0002")).toThrow(/./);
    expect(() => createCompactParser(COMPACT_LAYOUT)("\u0000".repeat(100))).toThrow();
  });
});
