/**
 * Parser of Falco JSON alert lines (`json_output: true`) into FalcoAlert records.
 *
 * Falco ≥ 0.39 writes keys in alphabetical order, older versions grafted `output_fields` onto the
 * end; the line is parsed as JSON, so key order and spacing do not matter. Missing values are
 * `null`. The event time comes from `output_fields["evt.time"]` or `["evt.time.iso8601"]`
 * (integer nanoseconds, read from the line's text because a double cannot hold them exactly),
 * else from the top-level ISO-8601 `time`.
 */
import { falcoEventToSyscall } from "../../../lib/falco/event-names.ts";
import {
  DROP_RULE,
  INTERNAL_RULE_PREFIX,
  badValue,
  malformed,
  missingField,
  parseBigIntRange,
  parseIsoTimeNs,
  parseUnsignedBigIntRange,
  rawArgRadix,
  type FalcoAlert,
  type FalcoContainerFields,
  type FalcoSyscallArgs,
  type RawArgName,
} from "./alert.ts";
import { attributeCgroup } from "./cgroup.ts";

type JsonObject = Record<string, unknown>;

/** Fields holding the thread's cgroup, in order of preference. */
const CGROUP_FIELDS = ["thread.cgroup.cpu", "thread.cgroups", "thread.cgroup.memory", "thread.cgroup.pids"];
/** Drop alert fields that are not drop counters. */
const DROP_NON_COUNTERS = new Set(["n_drops", "n_evts", "ebpf_enabled"]);

/**
 * Parses one JSON alert line. Throws SeccomposeError SC_ALERT_MALFORMED (details: `problem`,
 * `field`) when the line is not JSON, not an alert, or misses or mistypes a needed field.
 */
export function parseJsonAlert(line: string): FalcoAlert {
  let doc: unknown;
  try {
    doc = JSON.parse(line);
  } catch (err) {
    throw malformed("not-json", `Falco alert is not JSON: ${(err as Error).message}`);
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) {
    throw malformed("not-an-alert", "Falco alert is not a JSON object");
  }
  const alert = doc as JsonObject;
  const rule = alert["rule"];
  if (typeof rule !== "string")
    throw rule === undefined ? missingField("rule") : badValue("rule", rule, "a string");
  const hostname = optionalString(alert, "hostname", "hostname");
  const source = alert["source"];
  // Falco before 0.42 wrote internal alerts without `source`.
  if (source === "internal" || (source === undefined && rule.startsWith(INTERNAL_RULE_PREFIX))) {
    return parseInternal(alert, rule, hostname);
  }

  const fields = objectField(alert, "output_fields");
  const falcoType = fields["evt.type"];
  if (typeof falcoType !== "string" || falcoType.length === 0) {
    throw falcoType === undefined || falcoType === null
      ? missingField("output_fields.evt.type")
      : badValue("output_fields.evt.type", falcoType, "an event name");
  }
  const timeNs = eventTimeNs(line, alert, fields);
  const pid = optionalInteger(fields, "proc.pid");
  const tid = optionalInteger(fields, "thread.tid");
  const processName = optionalString(fields, "proc.name", "output_fields.proc.name");
  let cgroup: string | null = null;
  for (const name of CGROUP_FIELDS) {
    cgroup = optionalString(fields, name, `output_fields.${name}`);
    if (cgroup !== null) break;
  }
  const attribution = cgroup === null ? null : attributeCgroup(cgroup);
  const podUid = attribution === null ? null : attribution.podUid;
  const containerId = attribution === null ? null : attribution.containerId;
  const container = containerFields(fields);

  const eventClass = falcoEventToSyscall(falcoType);
  if (eventClass.kind === "non-syscall") {
    return {
      kind: "non-syscall",
      falcoType,
      timeNs,
      hostname,
      pid,
      tid,
      processName,
      cgroup,
      podUid,
      containerId,
      container,
    };
  }
  const args: FalcoSyscallArgs = {
    domain: rawArg(fields, falcoType, "domain"),
    domainText: optionalString(fields, "evt.arg.domain", "output_fields.evt.arg.domain"),
    request: rawArg(fields, falcoType, "request"),
    requestText: optionalString(fields, "evt.arg.request", "output_fields.evt.arg.request"),
    option: rawArg(fields, falcoType, "option"),
    optionText: optionalString(fields, "evt.arg.option", "output_fields.evt.arg.option"),
    flags: rawArg(fields, falcoType, "flags"),
    flagsText: optionalString(fields, "evt.arg.flags", "output_fields.evt.arg.flags"),
  };
  return {
    kind: "syscall",
    syscall: eventClass.name,
    falcoType,
    timeNs,
    hostname,
    pid,
    tid,
    processName,
    cgroup,
    podUid,
    containerId,
    container,
    res: optionalInteger(fields, "evt.rawres"),
    args,
  };
}

function parseInternal(alert: JsonObject, rule: string, hostname: string | null): FalcoAlert {
  const timeNs = isoTime(alert);
  if (rule === DROP_RULE) {
    const fields = objectField(alert, "output_fields");
    const counters: Record<string, number> = {};
    for (const key of Object.keys(fields)) {
      if (!DROP_NON_COUNTERS.has(key)) counters[key] = dropCounter(fields, key);
    }
    return {
      kind: "drop",
      timeNs,
      hostname,
      nDrops: dropCounter(fields, "n_drops"),
      nEvts: dropCounter(fields, "n_evts"),
      counters,
    };
  }
  const priority = alert["priority"];
  if (typeof priority !== "string") {
    throw priority === undefined ? missingField("priority") : badValue("priority", priority, "a string");
  }
  const output = alert["output"];
  return {
    kind: "internal",
    timeNs,
    hostname,
    rule,
    priority,
    message: typeof output === "string" ? output : "",
  };
}

/** Drop counters are strings since Falco 0.42 and were numbers before. */
function dropCounter(fields: JsonObject, key: string): number {
  const value = fields[key];
  if (value === undefined || value === null) throw missingField(`output_fields.${key}`);
  const count = typeof value === "string" && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof count !== "number" || !Number.isSafeInteger(count) || count < 0) {
    throw badValue(`output_fields.${key}`, value, "a non-negative integer");
  }
  return count;
}

const TIME_FIELDS = ["evt.time", "evt.time.iso8601"];
const TIME_NEEDLES: Record<string, string> = Object.fromEntries(TIME_FIELDS.map((k) => [k, `"${k}":`]));

function eventTimeNs(line: string, alert: JsonObject, fields: JsonObject): bigint {
  for (const name of TIME_FIELDS) {
    const value = fields[name];
    if (value === undefined || value === null) continue;
    if (typeof value !== "number" || !Number.isInteger(value) || value < 0) {
      throw badValue(`output_fields.${name}`, value, "integer nanoseconds");
    }
    return exactIntegerOfKey(line, name, value);
  }
  return isoTime(alert);
}

/**
 * The exact digits of `"key":<integer>` in the raw line. JSON strings cannot contain an unescaped
 * `"`, so the quoted key followed by `:` only occurs as a key; the parsed double cross-checks it.
 */
function exactIntegerOfKey(line: string, key: string, parsed: number): bigint {
  const needle = TIME_NEEDLES[key]!;
  // From the end: output_fields closes the line, and JSON.parse keeps a duplicate key's last value.
  const at = line.lastIndexOf(needle);
  if (at >= 0) {
    let start = at + needle.length;
    while (line.charCodeAt(start) === 32) start++;
    let end = start;
    while (end < line.length && line.charCodeAt(end) >= 48 && line.charCodeAt(end) <= 57) end++;
    const exact = parseUnsignedBigIntRange(line, start, end);
    if (exact !== null && Number(exact) === parsed) return exact;
  }
  return BigInt(parsed);
}

function isoTime(alert: JsonObject): bigint {
  const time = alert["time"];
  if (time === undefined || time === null) throw missingField("time");
  const ns = typeof time === "string" ? parseIsoTimeNs(time) : null;
  if (ns === null) throw badValue("time", time, "an ISO-8601 time");
  return ns;
}

function objectField(alert: JsonObject, key: string): JsonObject {
  const value = alert[key];
  if (value === undefined || value === null) throw missingField(key);
  if (typeof value !== "object" || Array.isArray(value)) throw badValue(key, value, "an object");
  return value as JsonObject;
}

function optionalString(object: JsonObject, key: string, path: string): string | null {
  const value = object[key];
  if (value === undefined || value === null) return null;
  if (typeof value !== "string") throw badValue(path, value, "a string");
  return value;
}

function optionalInteger(fields: JsonObject, key: string): number | null {
  const value = fields[key];
  if (value === undefined || value === null) return null;
  if (typeof value !== "number" || !Number.isInteger(value)) {
    throw badValue(`output_fields.${key}`, value, "an integer");
  }
  return value;
}

/** PF_DEC raw arguments are JSON numbers, PF_HEX ones strings of hex digits (see rawArgRadix). */
/** Built once: a template string per alert and argument cost 10% of the JSON intake (--cpu-prof). */
const RAW_ARG_KEYS: Record<RawArgName, string> = {
  domain: "evt.rawarg.domain",
  request: "evt.rawarg.request",
  option: "evt.rawarg.option",
  flags: "evt.rawarg.flags",
};

function rawArg(fields: JsonObject, falcoType: string, arg: RawArgName): bigint | null {
  const key = RAW_ARG_KEYS[arg];
  const value = fields[key];
  if (value === undefined || value === null) return null;
  if (typeof value === "number") {
    if (!Number.isInteger(value)) throw badValue(`output_fields.${key}`, value, "an integer");
    return BigInt(value);
  }
  if (typeof value === "string") {
    const parsed = parseBigIntRange(value, 0, value.length, rawArgRadix(falcoType, arg));
    if (parsed !== null) return parsed;
  }
  throw badValue(`output_fields.${key}`, value, "an integer");
}

const CONTAINER_KEYS = ["container.id", "container.name", "k8s.pod.uid", "k8s.ns.name", "k8s.pod.name"];

function containerFields(fields: JsonObject): FalcoContainerFields | null {
  let present = false;
  for (const key of CONTAINER_KEYS) {
    if (key in fields) {
      present = true;
      break;
    }
  }
  if (!present) return null;
  return {
    id: optionalString(fields, "container.id", "output_fields.container.id"),
    name: optionalString(fields, "container.name", "output_fields.container.name"),
    podUid: optionalString(fields, "k8s.pod.uid", "output_fields.k8s.pod.uid"),
    namespace: optionalString(fields, "k8s.ns.name", "output_fields.k8s.ns.name"),
    podName: optionalString(fields, "k8s.pod.name", "output_fields.k8s.pod.name"),
  };
}
