import { describe, expect, it } from "vitest";
import { isSeccomposeError } from "../../../lib/errors.ts";
import { parseIsoTimeNs, type FalcoDropAlert, type FalcoSyscallAlert } from "./alert.ts";
import { readFixtureLines } from "../../../test/helpers/falco-fixtures.ts";
import { parseJsonAlert } from "./json-alert.ts";

const PYTHON_POD = "5d0c8a3e-1f2b-4a6c-9d7e-0b1a2c3d4e5f";
const PYTHON_CONTAINER = "4f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff01";
const PIPELINE_POD = "8e7f6a5b-4c3d-4e2f-8a1b-9c0d1e2f3a4b";
const PIPELINE_CONTAINER = "9a8b7c6d5e4f30211203f4e5d6c7b8a99a8b7c6d5e4f30211203f4e5d6c7b8a9";

const lines = readFixtureLines("node-a.alerts.jsonl");
const dropRunLines = readFixtureLines("node-a.with-simulated-drops.alerts.jsonl");

type Json = Record<string, unknown>;

/**
 * Edits a recorded alert and serialises it again; `edit` may return a replacement object. The
 * integer time keeps its exact digits, which a round trip through a double would lose;
 * `timeKey` renames it.
 */
function editAlert(line: string, edit: (alert: Json, fields: Json) => unknown, timeKey = "evt.time"): string {
  const digits = /"evt\.time":(\d+)/.exec(line)?.[1];
  const alert = JSON.parse(line.replace(/"evt\.time":\d+/, '"evt.time":"@TIME@"')) as Json;
  const fields = alert["output_fields"] as Json;
  if (timeKey !== "evt.time") {
    fields[timeKey] = fields["evt.time"];
    delete fields["evt.time"];
  }
  const replaced = edit(alert, fields);
  const text = JSON.stringify(typeof replaced === "object" && replaced !== null ? replaced : alert);
  return digits === undefined ? text : text.replace('"@TIME@"', digits);
}

function reorder(object: Json, order: (keys: string[]) => string[]): Json {
  const result: Json = {};
  for (const key of order(Object.keys(object))) {
    const value = object[key];
    result[key] = key === "output_fields" ? reorder(value as Json, order) : value;
  }
  return result;
}

function syscallAlert(line: string): FalcoSyscallAlert {
  const alert = parseJsonAlert(line);
  if (alert.kind !== "syscall") throw new Error(`expected a syscall alert, got ${alert.kind}`);
  return alert;
}

function firstLine(evtType: string): string {
  return lines.find((line) => line.includes(`"evt.type":"${evtType}"`))!;
}

function rejection(line: string): { problem: unknown; field: unknown; message: string } {
  try {
    parseJsonAlert(line);
  } catch (err) {
    if (!isSeccomposeError(err, "SC_ALERT_MALFORMED")) throw err;
    const details = err.details as { problem: unknown; field?: unknown };
    return { problem: details.problem, field: details.field, message: err.message };
  }
  throw new Error("the line was accepted");
}

describe("parseJsonAlert on the recorded alerts", () => {
  const alerts = lines.map(parseJsonAlert);

  it("parses every recorded alert into a syscall or non-syscall record", () => {
    expect(alerts).toHaveLength(1134);
    const kinds = alerts.map((alert) => alert.kind);
    expect(kinds.filter((kind) => kind === "syscall")).toHaveLength(1121);
    expect(kinds.filter((kind) => kind === "non-syscall")).toHaveLength(13);
  });

  it("attributes every record to one of the two workload containers through its cgroup", () => {
    const owners = new Set(
      alerts.map((alert) =>
        alert.kind === "syscall" || alert.kind === "non-syscall"
          ? `${alert.podUid}/${alert.containerId}`
          : "",
      ),
    );
    expect(owners).toEqual(
      new Set([`${PYTHON_POD}/${PYTHON_CONTAINER}`, `${PIPELINE_POD}/${PIPELINE_CONTAINER}`]),
    );
  });

  it("reports syscalls under their kernel names", () => {
    const names = new Set(alerts.flatMap((alert) => (alert.kind === "syscall" ? [alert.syscall] : [])));
    expect(names).toContain("pread64");
    expect(names).toContain("prlimit64");
    expect(names).not.toContain("pread");
    expect(names).not.toContain("prlimit");
    const pread = alerts.find((alert) => alert.kind === "syscall" && alert.falcoType === "pread");
    expect(pread).toMatchObject({ syscall: "pread64", falcoType: "pread" });
  });

  it("keeps procexit and signaldeliver as non-syscall events of their container", () => {
    const events = alerts.filter((alert) => alert.kind === "non-syscall");
    expect(new Set(events.map((event) => event.falcoType))).toEqual(new Set(["procexit", "signaldeliver"]));
    expect(events.every((event) => event.containerId !== null && event.pid !== null)).toBe(true);
  });

  it("takes the exact nanosecond time from evt.time, which agrees with the ISO time", () => {
    for (const line of lines) {
      const alert = parseJsonAlert(line) as FalcoSyscallAlert;
      expect(alert.timeNs).toBe(BigInt(/"evt\.time":(\d+)/.exec(line)![1]!));
      expect(alert.timeNs).toBe(parseIsoTimeNs((JSON.parse(line) as { time: string }).time));
    }
  });

  it("reads the process, host and cgroup fields", () => {
    expect(syscallAlert(lines[0]!)).toMatchObject({
      kind: "syscall",
      syscall: "execve",
      timeNs: 1795797032138726621n,
      hostname: "node-a",
      pid: 30945,
      tid: 30945,
      processName: "python3",
      cgroup: `/kubepods/burstable/pod${PYTHON_POD}/${PYTHON_CONTAINER}`,
      podUid: PYTHON_POD,
      containerId: PYTHON_CONTAINER,
      container: null,
      res: 0,
    });
  });

  it("decodes raw arguments in the radix Falco renders them in, with their text", () => {
    expect(syscallAlert(firstLine("socket")).args).toEqual({
      domain: 2n,
      domainText: "AF_INET",
      request: null,
      requestText: null,
      option: null,
      optionText: null,
      flags: 0x1000n,
      flagsText: "O_CLOEXEC",
    });
    expect(syscallAlert(firstLine("ioctl")).args.request).toBe(0x5401n);
    expect(syscallAlert(firstLine("openat")).args).toMatchObject({
      flags: 0x1001n,
      flagsText: "O_RDONLY|O_CLOEXEC",
    });
    expect(syscallAlert(firstLine("clone3")).args.flags).toBe(0x280ba03n);
  });

  it("gives generic events, which carry no return value, a null result", () => {
    expect(syscallAlert(firstLine("wait4")).res).toBeNull();
    expect(syscallAlert(firstLine("access")).res).toBe(-2);
  });
});

describe("parseJsonAlert on other shapes of the same alerts", () => {
  it("does not depend on key order", () => {
    const orders = [(keys: string[]) => keys.reverse(), (keys: string[]) => keys.sort().reverse()];
    for (const line of [...lines.slice(0, 200), ...dropRunLines.filter((l) => l.includes('"internal"'))]) {
      const expected = parseJsonAlert(line);
      for (const order of orders) {
        const reordered = editAlert(line, (alert) => reorder(alert, order));
        expect(reordered.slice(0, 20)).not.toBe(line.slice(0, 20));
        expect(parseJsonAlert(reordered)).toEqual(expected);
      }
    }
  });

  it("reads the pre-0.39 layout with output_fields grafted on the end after a space", () => {
    const line = lines[2]!;
    const alert = JSON.parse(line) as Json;
    const fieldsText = /"output_fields":(\{[^}]*\})/.exec(line)![1]!;
    delete alert["output_fields"];
    const legacy = `${JSON.stringify(alert).slice(0, -1)}, "output_fields": ${fieldsText.replaceAll('":', '": ')}}`;
    expect(parseJsonAlert(legacy)).toEqual(parseJsonAlert(line));
  });

  it("takes the time from evt.time.iso8601 when Falco uses ISO-8601 time", () => {
    const line = lines[5]!;
    const iso = editAlert(line, () => {}, "evt.time.iso8601");
    expect(iso).toContain('"evt.time.iso8601":');
    expect(parseJsonAlert(iso)).toEqual(parseJsonAlert(line));
  });

  it("falls back to the top-level time without an integer time field", () => {
    const line = lines[7]!;
    const edited = editAlert(line, (_alert, fields) => delete fields["evt.time"]);
    expect(parseJsonAlert(edited).timeNs).toBe(parseJsonAlert(line).timeNs);
  });

  it("accepts null for every optional field", () => {
    const edited = editAlert(lines[0]!, (_alert, fields) => {
      for (const key of ["proc.pid", "thread.tid", "proc.name", "thread.cgroup.cpu", "evt.rawres"])
        fields[key] = null;
    });
    expect(syscallAlert(edited)).toMatchObject({
      pid: null,
      tid: null,
      processName: null,
      cgroup: null,
      podUid: null,
      containerId: null,
      res: null,
    });
  });

  it("reads the container plugin's fields when the rule names them", () => {
    const edited = editAlert(lines[0]!, (_alert, fields) => {
      Object.assign(fields, {
        "container.id": PYTHON_CONTAINER.slice(0, 12),
        "container.name": "app",
        "k8s.pod.uid": PYTHON_POD,
        "k8s.ns.name": "payments",
        "k8s.pod.name": null,
      });
    });
    expect(syscallAlert(edited).container).toEqual({
      id: PYTHON_CONTAINER.slice(0, 12),
      name: "app",
      podUid: PYTHON_POD,
      namespace: "payments",
      podName: null,
    });
  });

  it("attributes from thread.cgroups when the rule has no single-controller cgroup field", () => {
    const path = `/kubepods/burstable/pod${PYTHON_POD}/${PYTHON_CONTAINER}`;
    const edited = editAlert(lines[0]!, (_alert, fields) => {
      delete fields["thread.cgroup.cpu"];
      fields["thread.cgroups"] = `cpuset=${path} cpu=${path} memory=${path}`;
    });
    expect(syscallAlert(edited)).toMatchObject({ podUid: PYTHON_POD, containerId: PYTHON_CONTAINER });
  });
});

describe("parseJsonAlert on Falco's internal alerts", () => {
  it("parses the real drop alerts with their string counters", () => {
    const drops = dropRunLines
      .map(parseJsonAlert)
      .filter((alert): alert is FalcoDropAlert => alert.kind === "drop");
    expect(drops).toHaveLength(3);
    expect(drops.reduce((sum, drop) => sum + drop.nDrops, 0)).toBe(3);
    expect(drops.map((drop) => drop.nEvts)).toEqual([1818, 4062, 1760]);
    expect(drops[0]).toMatchObject({ hostname: "node-a", timeNs: 1795797048600843456n });
    expect(drops[0]!.counters).toMatchObject({
      n_drops_buffer_total: 0,
      n_drops_bug: 0,
      n_drops_page_faults: 0,
    });
    expect(Object.keys(drops[0]!.counters)).toHaveLength(12);
  });

  it("parses every other line of the drop run as a syscall or non-syscall record", () => {
    const kinds = dropRunLines.map((line) => parseJsonAlert(line).kind);
    expect(kinds.filter((kind) => kind === "syscall" || kind === "non-syscall")).toHaveLength(370);
  });

  it("recognises a pre-0.42 drop alert, which has no source and may carry numbers", () => {
    const line =
      '{"hostname":"host","output":"Falco internal: syscall event drop. 815508 system calls dropped in last second.",' +
      '"output_fields":{"ebpf_enabled":"1","n_drops":"815508","n_drops_buffer":"815508","n_drops_bug":0,"n_evts":"2270350"},' +
      '"priority":"Debug","rule":"Falco internal: syscall event drop","time":"2023-03-03T03:03:03.000000003Z"}';
    expect(parseJsonAlert(line)).toEqual({
      kind: "drop",
      timeNs: 1677812583000000003n,
      hostname: "host",
      nDrops: 815508,
      nEvts: 2270350,
      counters: { n_drops_buffer: 815508, n_drops_bug: 0 },
    });
  });

  it("returns other internal alerts with their rule, priority and message", () => {
    const line =
      '{"hostname":"node-a","output":"Falco internal: timeouts notification. 1000 consecutive timeouts without event.",' +
      '"output_fields":{"last_event_time":"none"},"priority":"Debug","rule":"Falco internal: timeouts notification",' +
      '"source":"internal","time":"2026-11-27T16:31:00.000000001Z"}';
    expect(parseJsonAlert(line)).toEqual({
      kind: "internal",
      timeNs: 1795797060000000001n,
      hostname: "node-a",
      rule: "Falco internal: timeouts notification",
      priority: "Debug",
      message: "Falco internal: timeouts notification. 1000 consecutive timeouts without event.",
    });
  });
});

describe("parseJsonAlert on malformed lines", () => {
  const line = lines[0]!;

  it.each<[string, string, { problem: string; field?: string }]>([
    ["a truncated line", line.slice(0, 300), { problem: "not-json" }],
    ["an empty line", "", { problem: "not-json" }],
    ["a JSON array", "[1,2]", { problem: "not-an-alert" }],
    ["JSON null", "null", { problem: "not-an-alert" }],
    [
      "no rule",
      editAlert(line, (alert) => delete alert["rule"]),
      { problem: "missing-field", field: "rule" },
    ],
    [
      "no output_fields",
      editAlert(line, (alert) => delete alert["output_fields"]),
      { problem: "missing-field", field: "output_fields" },
    ],
    [
      "no evt.type",
      editAlert(line, (_alert, fields) => delete fields["evt.type"]),
      { problem: "missing-field", field: "output_fields.evt.type" },
    ],
    [
      "no time at all",
      editAlert(line, (alert, fields) => {
        delete fields["evt.time"];
        delete alert["time"];
      }),
      { problem: "missing-field", field: "time" },
    ],
    [
      "a pid that is a string",
      editAlert(line, (_alert, fields) => (fields["proc.pid"] = "30945")),
      { problem: "bad-value", field: "output_fields.proc.pid" },
    ],
    [
      "raw flags that are not hex",
      editAlert(line, (_alert, fields) => (fields["evt.rawarg.flags"] = "EXE_WRITABLE")),
      { problem: "bad-value", field: "output_fields.evt.rawarg.flags" },
    ],
    [
      "a time that is not ISO-8601",
      editAlert(line, (alert, fields) => {
        delete fields["evt.time"];
        alert["time"] = "yesterday";
      }),
      { problem: "bad-value", field: "time" },
    ],
    [
      "a drop alert without n_drops",
      dropRunLines.find((l) => l.includes('"source":"internal"'))!.replace(/"n_drops":"\d+",/, ""),
      { problem: "missing-field", field: "output_fields.n_drops" },
    ],
  ])("rejects %s with SC_ALERT_MALFORMED naming the problem", (_what, input, expected) => {
    const { message, ...details } = rejection(input);
    expect(details).toEqual({ field: undefined, ...expected });
    expect(message).toMatch(/^Falco alert /);
    if (expected.field !== undefined) expect(message).toContain(expected.field);
  });

  it("names the bad value in the message", () => {
    const edited = editAlert(line, (_alert, fields) => (fields["thread.tid"] = true));
    expect(rejection(edited).message).toBe(
      "Falco alert field output_fields.thread.tid is true, expected an integer",
    );
  });
});
