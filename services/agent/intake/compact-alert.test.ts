import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { isSeccomposeError } from "../../../lib/errors.ts";
import type { FalcoAlert, FalcoSyscallAlert } from "./alert.ts";
import {
  COMPACT_FIELDS,
  COMPACT_LAYOUT,
  FIXTURE_COMPACT_FIELDS,
  FIXTURE_COMPACT_LAYOUT,
  compactRuleOutput,
  createCompactParser,
  type CompactLayout,
} from "./compact-alert.ts";
import {
  FALCO_FIXTURES_DIR,
  readFixtureLines,
  renderCompactLine,
} from "../../../test/helpers/falco-fixtures.ts";
import { parseJsonAlert } from "./json-alert.ts";

const PYTHON_POD = "5d0c8a3e-1f2b-4a6c-9d7e-0b1a2c3d4e5f";
const PYTHON_CONTAINER = "4f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff01";
const PIPELINE_CONTAINER = "9a8b7c6d5e4f30211203f4e5d6c7b8a99a8b7c6d5e4f30211203f4e5d6c7b8a9";
// The recordings are from 2026-11-27 on a host whose local time is UTC.
const MIDNIGHT_NS = BigInt(Date.UTC(2026, 10, 27)) * 1_000_000n;

const compactLines = readFixtureLines("node-a.alerts.compact.txt");
const jsonLines = readFixtureLines("node-a.alerts.jsonl");
const parseFixtureLine = createCompactParser(FIXTURE_COMPACT_LAYOUT, { midnightNs: MIDNIGHT_NS });
const parseAgentLine = createCompactParser(COMPACT_LAYOUT, { hostname: "node-a" });

function syscallsByContainer(alerts: readonly FalcoAlert[]): Map<string | null, Set<string>> {
  const result = new Map<string | null, Set<string>>();
  for (const alert of alerts) {
    if (alert.kind !== "syscall") continue;
    let names = result.get(alert.containerId);
    if (names === undefined) result.set(alert.containerId, (names = new Set()));
    names.add(alert.syscall);
  }
  return result;
}

function rejection(parse: (line: string) => FalcoAlert, line: string): { problem: unknown; field?: unknown } {
  try {
    parse(line);
  } catch (err) {
    if (!isSeccomposeError(err, "SC_ALERT_MALFORMED")) throw err;
    return err.details as { problem: unknown; field?: unknown };
  }
  throw new Error("the line was accepted");
}

/** A recorded JSON internal alert as Falco writes it with `json_output: false`. */
function internalAlertAsText(jsonLine: string): string {
  const alert = JSON.parse(jsonLine) as {
    time: string;
    priority: string;
    output: string;
    output_fields: object;
  };
  const fields = Object.entries(alert.output_fields).map(([key, value]) => `${key}=${JSON.stringify(value)}`);
  return `${alert.time.slice(11, 29)}: ${alert.priority} ${alert.output} (${fields.join(" ")})`;
}

describe("compact rule output", () => {
  it("reproduces the fixture rule's output from the fixture layout", () => {
    const rules = parseYaml(
      readFileSync(`${FALCO_FIXTURES_DIR}/rules.compact-output.yaml`, "utf8"),
    ) as Array<{
      output: string;
    }>;
    expect(compactRuleOutput(FIXTURE_COMPACT_LAYOUT)).toBe(rules[0]!.output);
    expect(FIXTURE_COMPACT_LAYOUT.fields).toBe(FIXTURE_COMPACT_FIELDS);
  });

  it("puts the agent's fixed-shape fields first and its only free-text field, the cgroup path, last", () => {
    expect(compactRuleOutput()).toBe(
      "sc1|%evt.rawtime|%evt.type|%evt.rawres|%proc.pid|%thread.tid|%evt.rawarg.domain|%evt.rawarg.request" +
        "|%evt.rawarg.option|%evt.rawarg.flags|%thread.cgroup.cpu",
    );
    expect(COMPACT_FIELDS.at(-1)).toBe("thread.cgroup.cpu");
    expect(COMPACT_FIELDS).not.toContain("proc.name");
  });

  it.each<[string, CompactLayout]>([
    ["a marker containing the delimiter", { marker: "s|c", fields: ["evt.type"] }],
    ["an empty marker", { marker: "", fields: ["evt.type"] }],
    ["no evt.type", { marker: "sc", fields: ["proc.pid", "thread.cgroup.cpu"] }],
    ["a field that is not a field name", { marker: "sc", fields: ["evt.type", "proc.name|x"] }],
  ])("rejects a layout with %s", (_what, layout) => {
    expect(() => compactRuleOutput(layout)).toThrow(expect.objectContaining({ code: "SC_CONFIG_INVALID" }));
    expect(() => createCompactParser(layout)).toThrow(expect.objectContaining({ code: "SC_CONFIG_INVALID" }));
  });
});

describe("compact parser on the recorded compact alerts", () => {
  const alerts = compactLines.map(parseFixtureLine);

  it("parses every recorded line", () => {
    expect(alerts).toHaveLength(1134);
    expect(alerts.filter((alert) => alert.kind === "syscall")).toHaveLength(1121);
    expect(alerts.filter((alert) => alert.kind === "non-syscall")).toHaveLength(13);
  });

  it("keeps the delimiters inside the last field", () => {
    const mmap = alerts[2] as FalcoSyscallAlert;
    expect(mmap).toMatchObject({
      syscall: "mmap",
      processName: "python3",
      pid: 31014,
      tid: 31014,
      res: 139884574638080,
      podUid: PYTHON_POD,
      containerId: PYTHON_CONTAINER,
      hostname: null,
      container: null,
    });
    expect(mmap.args).toEqual({
      domain: null,
      domainText: null,
      request: null,
      requestText: null,
      option: null,
      optionText: null,
      flags: 0xan,
      flagsText: "MAP_PRIVATE|MAP_ANONYMOUS",
    });
  });

  it("dates the time-of-day prefix with the given local midnight", () => {
    expect(alerts[0]!.timeNs).toBe(MIDNIGHT_NS + 59_442_942_841_699n);
    expect(createCompactParser(FIXTURE_COMPACT_LAYOUT)(compactLines[0]!).timeNs).toBe(59_442_942_841_699n);
  });

  it("finds the same syscalls per container as the JSON recording of the same programs", () => {
    const fromJson = syscallsByContainer(jsonLines.map(parseJsonAlert));
    const fromCompact = syscallsByContainer(alerts);
    expect([...fromCompact.keys()].sort()).toEqual([PYTHON_CONTAINER, PIPELINE_CONTAINER].sort());
    for (const [container, names] of fromJson)
      expect(fromCompact.get(container), String(container)).toEqual(names);
  });
});

describe("compact parser against the JSON parser on the same alerts", () => {
  const jsonAlerts = jsonLines.map(parseJsonAlert);

  it("reads the fixture layout rendered from each recorded JSON alert into the same record", () => {
    jsonLines.forEach((line, i) => {
      const expected = { ...jsonAlerts[i]!, hostname: null };
      expect(parseFixtureLine(renderCompactLine(line, FIXTURE_COMPACT_LAYOUT))).toEqual(expected);
    });
  });

  it("reads the agent layout into the same record without the text the layout leaves out", () => {
    jsonLines.forEach((line, i) => {
      const json = jsonAlerts[i]!;
      const expected =
        json.kind === "syscall"
          ? { ...json, processName: null, args: { ...json.args, domainText: null, flagsText: null } }
          : { ...json, processName: null };
      expect(parseAgentLine(renderCompactLine(line, COMPACT_LAYOUT))).toEqual(expected);
    });
  });
});

describe("compact parser on edge cases", () => {
  const agentLine = renderCompactLine(jsonLines[0]!, COMPACT_LAYOUT);
  const fixtureLine = compactLines[0]!;

  it("takes the exact time from evt.rawtime whatever the prefix", () => {
    const isoPrefixed = agentLine.replace(/^[^ ]+: /, "2001-01-01T00:00:00.000000000+0000: ");
    expect(parseAgentLine(isoPrefixed).timeNs).toBe(1795797032138726621n);
  });

  it("reads an ISO-8601 time prefix when the layout has no evt.rawtime", () => {
    const isoPrefixed = fixtureLine.replace(/^[^ ]+: /, "2026-11-27T16:30:42.942841699+0000: ");
    expect(createCompactParser(FIXTURE_COMPACT_LAYOUT)(isoPrefixed).timeNs).toBe(1795797042942841699n);
  });

  it("keeps a delimiter inside the agent layout's cgroup path and still attributes it", () => {
    const line = `${agentLine}/delegated|sub`;
    expect(parseAgentLine(line)).toMatchObject({
      cgroup: `/kubepods/burstable/pod${PYTHON_POD}/${PYTHON_CONTAINER}/delegated|sub`,
      containerId: PYTHON_CONTAINER,
    });
  });

  it("rejects a fixture-layout line whose process name holds the delimiter instead of misreading it", () => {
    expect(rejection(parseFixtureLine, fixtureLine.replace("|python3|", "|py|thon3|"))).toEqual({
      problem: "bad-value",
      field: "proc.pid",
    });
  });

  it("reads <NA> as null", () => {
    const line = fixtureLine.replace("|31014|31014|", "|<NA>|<NA>|");
    expect(parseFixtureLine(line)).toMatchObject({ pid: null, tid: null });
  });

  it("ignores a trailing line break", () => {
    expect(parseFixtureLine(`${fixtureLine}\r\n`)).toEqual(parseFixtureLine(fixtureLine));
  });

  it("reads the container plugin's fields when a layout names them", () => {
    const layout: CompactLayout = {
      marker: "sc2",
      fields: [
        "evt.rawtime",
        "evt.type",
        "container.id",
        "k8s.pod.uid",
        "k8s.ns.name",
        "k8s.pod.name",
        "container.name",
      ],
    };
    const line = `16:30:32.138726621: Debug sc2|1795797032138726621|execve|4f1e2d3c4b5a|${PYTHON_POD}|payments|api-7d9|<NA>`;
    expect(createCompactParser(layout)(line)).toMatchObject({
      kind: "syscall",
      syscall: "execve",
      container: {
        id: "4f1e2d3c4b5a",
        podUid: PYTHON_POD,
        namespace: "payments",
        podName: "api-7d9",
        name: null,
      },
    });
  });

  it.each<[string, string, { problem: string; field?: string }]>([
    ["a line without prefix", "sc|mmap|SUCCESS", { problem: "not-an-alert" }],
    ["another rule's output", fixtureLine.replace(" sc|", " Shell spawned "), { problem: "not-an-alert" }],
    ["a truncated line", fixtureLine.slice(0, 60), { problem: "missing-field", field: "thread.tid" }],
    [
      "a non-numeric pid",
      fixtureLine.replace("|31014|31014|", "|x|31014|"),
      { problem: "bad-value", field: "proc.pid" },
    ],
    [
      "an event name with spaces",
      fixtureLine.replace("|execve|", "|exec ve|"),
      { problem: "bad-value", field: "evt.type" },
    ],
    [
      "raw flags that are not hex",
      fixtureLine.replace("|1|EXE", "|xyz|EXE"),
      { problem: "bad-value", field: "evt.rawarg.flags" },
    ],
    [
      "a bad time prefix",
      fixtureLine.replace(/^[^ ]+: /, "16:30:99.942841699: "),
      { problem: "bad-value", field: "time prefix" },
    ],
  ])("rejects %s with SC_ALERT_MALFORMED naming the problem", (_what, line, expected) => {
    expect(rejection(parseFixtureLine, line)).toEqual(expected);
  });

  it("rejects an agent line whose evt.rawtime is not an integer", () => {
    expect(rejection(parseAgentLine, agentLine.replace("|1795797032138726621|", "|17957970321.38|"))).toEqual(
      {
        problem: "bad-value",
        field: "evt.rawtime",
      },
    );
  });
});

describe("compact parser on Falco's internal alerts in text form", () => {
  const dropJsonLines = readFixtureLines("node-a.with-simulated-drops.alerts.jsonl").filter((line) =>
    line.includes('"source":"internal"'),
  );

  it("parses the real drop alerts, rendered as Falco writes them in text, like their JSON form", () => {
    expect(dropJsonLines).toHaveLength(3);
    for (const line of dropJsonLines) {
      const text = internalAlertAsText(line);
      expect(text).toMatch(
        /^16:30:\d\d\.\d{9}: Debug Falco internal: syscall event drop\. 1 system calls .* \(ebpf_enabled="1" /,
      );
      expect(parseFixtureLine(text)).toEqual({
        ...parseJsonAlert(line),
        hostname: null,
        timeNs: expect.any(BigInt),
      });
      expect(parseAgentLine(text)).toMatchObject({ kind: "drop", nDrops: 1, hostname: "node-a" });
    }
    expect(parseFixtureLine(internalAlertAsText(dropJsonLines[0]!)).timeNs).toBe(1795797048600843456n);
  });

  it("names the rule of other internal alerts from their message", () => {
    const timeouts =
      '16:31:00.000000001: Debug Falco internal: timeouts notification. 1000 consecutive timeouts without event. (last_event_time="none")';
    expect(parseAgentLine(timeouts)).toEqual({
      kind: "internal",
      timeNs: 59_460_000_000_001n,
      hostname: "node-a",
      rule: "Falco internal: timeouts notification",
      priority: "Debug",
      message:
        'Falco internal: timeouts notification. 1000 consecutive timeouts without event. (last_event_time="none")',
    });
    const metrics =
      "16:31:00.000000001: Informational Falco metrics snapshot (falco.evts_rate_sec=12.5 scap.n_drops=0)";
    expect(parseAgentLine(metrics)).toMatchObject({
      rule: "Falco internal: metrics snapshot",
      priority: "Informational",
    });
    const restart = "16:31:00.000000001: Critical Falco internal: hot restart failure: rules file invalid ()";
    expect(parseAgentLine(restart)).toMatchObject({
      rule: "Falco internal: hot restart failure",
      priority: "Critical",
    });
  });

  it("rejects a drop alert without its counters", () => {
    const line =
      "16:30:48.600843456: Debug Falco internal: syscall event drop. 1 system calls dropped in last second.";
    expect(rejection(parseAgentLine, line)).toEqual({ problem: "missing-field", field: "n_drops" });
  });
});
