import { describe, expect, it } from "vitest";
import { isSeccomposeError } from "./errors.ts";
import { parseLabelSelector, selectorMatches, type LabelRequirement } from "./label-selector.ts";

describe("parseLabelSelector", () => {
  const cases: Array<[string, LabelRequirement[]]> = [
    ["", []],
    ["   ", []],
    ["app=web", [{ key: "app", operator: "=", values: ["web"] }]],
    ["app==web", [{ key: "app", operator: "=", values: ["web"] }]],
    ["app != web", [{ key: "app", operator: "!=", values: ["web"] }]],
    ["app=", [{ key: "app", operator: "=", values: [""] }]],
    ["tier in (front, back)", [{ key: "tier", operator: "in", values: ["front", "back"] }]],
    ["tier notin (db)", [{ key: "tier", operator: "notin", values: ["db"] }]],
    ["canary", [{ key: "canary", operator: "exists", values: [] }]],
    ["!canary", [{ key: "canary", operator: "!exists", values: [] }]],
    ["app.kubernetes.io/name=web", [{ key: "app.kubernetes.io/name", operator: "=", values: ["web"] }]],
    ["mode=in", [{ key: "mode", operator: "=", values: ["in"] }]],
    [
      "app=web,tier in (a,b),!canary,env",
      [
        { key: "app", operator: "=", values: ["web"] },
        { key: "tier", operator: "in", values: ["a", "b"] },
        { key: "canary", operator: "!exists", values: [] },
        { key: "env", operator: "exists", values: [] },
      ],
    ],
  ];
  it.each(cases)("parses %j", (text, expected) => {
    expect(parseLabelSelector(text)).toEqual(expected);
  });

  const invalid: Array<[string, RegExp]> = [
    ["app=web,", /expected a requirement at position 9/],
    [",app", /unexpected ',' at position 1/],
    ["app web", /expected '=', '==', '!=', 'in', 'notin', ',' or the end after key "app" at position 5/],
    ["tier in ()", /'in' needs at least one value at position 10/],
    ["tier in (a", /expected ',' or '\)' in the value list at position 11/],
    ["tier in a", /expected '\(' after 'in' at position 9/],
    ["!", /expected a label key after '!' at position 2/],
    ["app=-web", /label value "-web" is not valid/],
    ["-app=web", /label key "-app" is not valid/],
    ["Bad_Prefix/app=web", /label key prefix "Bad_Prefix" is not a DNS subdomain/],
    ["replicas>2", /numeric comparison '>' is not supported at position 9/],
    ["app=(web)", /expected a value after '=' at position 5/],
  ];
  it.each(invalid)("rejects %j with a message naming the problem and position", (text, message) => {
    let error: unknown;
    try {
      parseLabelSelector(text);
    } catch (err) {
      error = err;
    }
    expect(isSeccomposeError(error, "SC_USAGE")).toBe(true);
    expect((error as Error).message).toContain(JSON.stringify(text));
    expect((error as Error).message).toMatch(message);
  });
});

describe("selectorMatches", () => {
  const labels = { app: "web", tier: "front", empty: "" };
  const table: Array<[string, boolean]> = [
    ["", true],
    ["app=web", true],
    ["app=db", false],
    ["app!=db", true],
    ["app!=web", false],
    ["missing!=x", true],
    ["tier in (front,back)", true],
    ["tier in (back)", false],
    ["missing in (x)", false],
    ["tier notin (back)", true],
    ["tier notin (front)", false],
    ["missing notin (x)", true],
    ["app", true],
    ["missing", false],
    ["!missing", true],
    ["!app", false],
    ["empty=", true],
    ["empty", true],
    ["app=web,tier=back", false],
    ["app=web,tier=front,!canary", true],
  ];
  it.each(table)("evaluates %j against app=web,tier=front,empty= as %s", (text, expected) => {
    expect(selectorMatches(parseLabelSelector(text), labels)).toBe(expected);
  });

  it("does not treat inherited object properties as labels", () => {
    expect(selectorMatches(parseLabelSelector("constructor"), {})).toBe(false);
  });
});
