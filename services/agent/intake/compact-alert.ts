/**
 * The compact text alert format: a rule output `<marker>|%field|%field|...` written with
 * `json_output: false`, so each line is `<time>: <Priority> <marker>|<value>|<value>|...` and a
 * missing value is `<NA>`. Falco formats and writes these lines about 1.7 times as fast as JSON
 * alerts (fixtures README), which is why the agent uses it.
 *
 * Falco renders values raw, so a value can contain the `|` delimiter (`evt.arg.flags` renders
 * `MAP_PRIVATE|MAP_ANONYMOUS`). The parser therefore reads fields from the left and gives the
 * LAST field the rest of the line: only the last field of a layout may contain `|`. Every other
 * field must be delimiter-free, and numeric fields are validated, so a line whose earlier free-text
 * field held a `|` shifts a number out of place and is rejected rather than misread.
 *
 * The agent's own layout (COMPACT_FIELDS) holds no text the traced container controls: no
 * `proc.name`, which a process can set to anything including `|` and a newline (libs only
 * repairs invalid UTF-8), and could thereby forge a whole alert line. Its only free-text field is the cgroup path, last; the kernel
 * rejects newlines in cgroup names, and a `|` in a sub-cgroup a container creates only lands
 * below the kubelet part of the path that attribution reads.
 */
import { ErrorCodes, SeccomposeError } from "../../../lib/errors.ts";
import { falcoEventToSyscall } from "../../../lib/falco/event-names.ts";
import {
  DROP_RULE,
  INTERNAL_RULE_PREFIX,
  badValue,
  malformed,
  missingField,
  parseBigIntRange,
  parseIntRange,
  parseIsoTimeNs,
  parseTimeOfDayNs,
  parseUnsignedBigIntRange,
  rawArgRadix,
  type FalcoAlert,
  type FalcoContainerFields,
  type RawArgName,
} from "./alert.ts";
import { attributeCgroup } from "./cgroup.ts";

export interface CompactLayout {
  /** First token of the rule output; identifies the rule and the layout version. */
  readonly marker: string;
  /** Falco fields in output order. Only the last one may contain `|`. */
  readonly fields: readonly string[];
}

/**
 * The agent's layout: fixed-shape fields first, the cgroup path last. `evt.rawtime` gives the
 * exact event time (the text prefix has no date); raw arguments are those seccomp argument
 * rules use; no container-controlled text (see the module comment).
 */
export const COMPACT_FIELDS = [
  "evt.rawtime",
  "evt.type",
  "evt.rawres",
  "proc.pid",
  "thread.tid",
  "evt.rawarg.domain",
  "evt.rawarg.request",
  "evt.rawarg.option",
  "evt.rawarg.flags",
  "thread.cgroup.cpu",
] as const;

export const COMPACT_LAYOUT: CompactLayout = { marker: "sc1", fields: COMPACT_FIELDS };

/** The layout of the fixture rule (fixtures/falco/rules.compact-output.yaml). */
export const FIXTURE_COMPACT_FIELDS = [
  "evt.type",
  "evt.res",
  "evt.rawres",
  "evt.num",
  "proc.name",
  "proc.pid",
  "thread.tid",
  "proc.ppid",
  "thread.cgroup.cpu",
  "evt.rawarg.domain",
  "evt.arg.domain",
  "evt.rawarg.request",
  "evt.rawarg.option",
  "evt.rawarg.flags",
  "evt.arg.flags",
] as const;

export const FIXTURE_COMPACT_LAYOUT: CompactLayout = { marker: "sc", fields: FIXTURE_COMPACT_FIELDS };

/** The Falco rule `output` for a layout, e.g. `sc1|%evt.rawtime|%evt.type|...`. */
export function compactRuleOutput(layout: CompactLayout = COMPACT_LAYOUT): string {
  checkLayout(layout);
  return [layout.marker, ...layout.fields.map((field) => `%${field}`)].join("|");
}

export interface CompactParserOptions {
  /** Node name to put into records; text alerts do not carry Falco's hostname. */
  hostname?: string | null;
  /**
   * For layouts without `evt.rawtime` whose lines carry Falco's default `HH:MM:SS.nnnnnnnnn`
   * prefix (no date, Falco host's local time): nanoseconds since the epoch of that local
   * midnight, added to the time of day. Default 0: timeNs is then the time of day.
   */
  midnightNs?: bigint;
}

export type CompactAlertParser = (line: string) => FalcoAlert;

// What the parser does with each field of a layout.
const IGNORED = 0;
const RAW_TIME = 1;
const EVENT_TYPE = 2;
const RETURN_VALUE = 3;
const PID = 4;
const TID = 5;
const PROCESS_NAME = 6;
const CGROUP = 7;
const RAW_DOMAIN = 8;
const RAW_REQUEST = 9;
const RAW_OPTION = 10;
const RAW_FLAGS = 11;
const DOMAIN_TEXT = 12;
const REQUEST_TEXT = 13;
const OPTION_TEXT = 14;
const FLAGS_TEXT = 15;
const CONTAINER_ID = 16;
const CONTAINER_NAME = 17;
const K8S_POD_UID = 18;
const K8S_NAMESPACE = 19;
const K8S_POD_NAME = 20;

const SLOT_BY_FIELD: ReadonlyMap<string, number> = new Map([
  ["evt.rawtime", RAW_TIME],
  ["evt.type", EVENT_TYPE],
  ["evt.rawres", RETURN_VALUE],
  ["proc.pid", PID],
  ["thread.tid", TID],
  ["proc.name", PROCESS_NAME],
  ["evt.rawarg.domain", RAW_DOMAIN],
  ["evt.rawarg.request", RAW_REQUEST],
  ["evt.rawarg.option", RAW_OPTION],
  ["evt.rawarg.flags", RAW_FLAGS],
  ["evt.arg.domain", DOMAIN_TEXT],
  ["evt.arg.request", REQUEST_TEXT],
  ["evt.arg.option", OPTION_TEXT],
  ["evt.arg.flags", FLAGS_TEXT],
  ["container.id", CONTAINER_ID],
  ["container.name", CONTAINER_NAME],
  ["k8s.pod.uid", K8S_POD_UID],
  ["k8s.ns.name", K8S_NAMESPACE],
  ["k8s.pod.name", K8S_POD_NAME],
]);

const FIELD_NAME = /^[a-z0-9_]+(\.[A-Za-z0-9_]+)*(\[[^\]|]+\])?$/;
const NA = "<NA>";
// The one internal alert whose text does not start with its rule name.
const METRICS_SNAPSHOT_MESSAGE = "Falco metrics snapshot";
const CODE_LF = 10;
const CODE_CR = 13;

function checkLayout(layout: CompactLayout): void {
  const problem = layoutProblem(layout);
  if (problem !== null) {
    throw new SeccomposeError(
      ErrorCodes.SC_CONFIG_INVALID,
      `Compact alert layout ${JSON.stringify(layout.marker)} is unusable: ${problem}`,
    );
  }
}

function layoutProblem(layout: CompactLayout): string | null {
  if (layout.marker.length === 0 || layout.marker.includes("|") || layout.marker.includes(" ")) {
    return "the marker is empty or contains '|' or a space";
  }
  if (!layout.fields.includes("evt.type")) return "it lacks evt.type";
  const bad = layout.fields.find((field) => !FIELD_NAME.test(field));
  return bad === undefined ? null : `${JSON.stringify(bad)} is not a Falco field name`;
}

function slotOf(field: string): number {
  if (field.startsWith("thread.cgroup")) return CGROUP;
  return SLOT_BY_FIELD.get(field) ?? IGNORED;
}

/**
 * A parser for lines of the given layout. The parser throws SeccomposeError SC_ALERT_MALFORMED
 * (details: `problem`, `field`) for a line it cannot read; Falco's own internal alerts (event
 * drops, timeouts, ...) in the same stream come back as `drop` / `internal` records.
 */
export function createCompactParser(
  layout: CompactLayout,
  options: CompactParserOptions = {},
): CompactAlertParser {
  checkLayout(layout);
  const fields = layout.fields;
  const count = fields.length;
  const slots = Uint8Array.from(fields, slotOf);
  // Only the first cgroup field is read.
  let cgroupSeen = false;
  for (let f = 0; f < count; f++) {
    if (slots[f] !== CGROUP) continue;
    if (cgroupSeen) slots[f] = IGNORED;
    cgroupSeen = true;
  }
  const hasRawTime = slots.includes(RAW_TIME);
  const hasContainerFields = slots.some((slot) => slot >= CONTAINER_ID);
  const head = `${layout.marker}|`;
  const hostname = options.hostname ?? null;
  const midnightNs = options.midnightNs ?? 0n;

  const prefixTimeNs = (line: string, colon: number): bigint => {
    const ns = colon === 18 ? parseTimeOfDayNs(line, 0, colon) : parseIsoTimeNs(line.slice(0, colon));
    if (ns === null) throw badValue("time prefix", line.slice(0, colon), "a Falco time");
    return colon === 18 ? midnightNs + ns : ns;
  };

  return function parseCompactAlert(line: string): FalcoAlert {
    let end = line.length;
    while (end > 0 && (line.charCodeAt(end - 1) === CODE_LF || line.charCodeAt(end - 1) === CODE_CR)) end--;
    const colon = line.indexOf(": ");
    const space = colon < 0 ? -1 : line.indexOf(" ", colon + 2);
    if (space < 0 || space >= end) {
      throw malformed("not-an-alert", "Falco text alert lacks the '<time>: <priority> ' prefix");
    }
    const payload = space + 1;
    if (!line.startsWith(head, payload)) {
      return parseTextInternal(line, colon, space, end, hostname, head, prefixTimeNs);
    }

    let timeNs: bigint | null = null;
    let falcoType = "";
    let res: number | null = null;
    let pid: number | null = null;
    let tid: number | null = null;
    let processName: string | null = null;
    let cgroup: string | null = null;
    let domainText: string | null = null;
    let requestText: string | null = null;
    let optionText: string | null = null;
    let flagsText: string | null = null;
    let containerId: string | null = null;
    let containerName: string | null = null;
    let k8sPodUid: string | null = null;
    let k8sNamespace: string | null = null;
    let k8sPodName: string | null = null;
    // Raw arguments are read after the loop, when evt.type (which decides their radix) is known.
    let domainStart = -1;
    let domainEnd = -1;
    let requestStart = -1;
    let requestEnd = -1;
    let optionStart = -1;
    let optionEnd = -1;
    let flagsStart = -1;
    let flagsEnd = -1;

    let pos = payload + head.length;
    for (let f = 0; f < count; f++) {
      let stop = end;
      if (f < count - 1) {
        stop = line.indexOf("|", pos);
        if (stop < 0 || stop >= end) throw missingField(fields[f + 1]!);
      }
      const slot = slots[f]!;
      if (slot !== IGNORED && !(stop - pos === 4 && line.startsWith(NA, pos))) {
        switch (slot) {
          case RAW_TIME:
            timeNs = parseUnsignedBigIntRange(line, pos, stop);
            if (timeNs === null) throw badValue(fields[f]!, line.slice(pos, stop), "integer nanoseconds");
            break;
          case EVENT_TYPE:
            falcoType = line.slice(pos, stop);
            if (!isEventName(falcoType)) throw badValue(fields[f]!, falcoType, "an event name");
            break;
          case RETURN_VALUE:
            res = parseIntRange(line, pos, stop);
            if (res === null) throw badValue(fields[f]!, line.slice(pos, stop), "an integer");
            break;
          case PID:
            pid = parseIntRange(line, pos, stop);
            if (pid === null) throw badValue(fields[f]!, line.slice(pos, stop), "an integer");
            break;
          case TID:
            tid = parseIntRange(line, pos, stop);
            if (tid === null) throw badValue(fields[f]!, line.slice(pos, stop), "an integer");
            break;
          case PROCESS_NAME:
            processName = line.slice(pos, stop);
            break;
          case CGROUP:
            cgroup = line.slice(pos, stop);
            break;
          case RAW_DOMAIN:
            domainStart = pos;
            domainEnd = stop;
            break;
          case RAW_REQUEST:
            requestStart = pos;
            requestEnd = stop;
            break;
          case RAW_OPTION:
            optionStart = pos;
            optionEnd = stop;
            break;
          case RAW_FLAGS:
            flagsStart = pos;
            flagsEnd = stop;
            break;
          case DOMAIN_TEXT:
            domainText = line.slice(pos, stop);
            break;
          case REQUEST_TEXT:
            requestText = line.slice(pos, stop);
            break;
          case OPTION_TEXT:
            optionText = line.slice(pos, stop);
            break;
          case FLAGS_TEXT:
            flagsText = line.slice(pos, stop);
            break;
          case CONTAINER_ID:
            containerId = line.slice(pos, stop);
            break;
          case CONTAINER_NAME:
            containerName = line.slice(pos, stop);
            break;
          case K8S_POD_UID:
            k8sPodUid = line.slice(pos, stop);
            break;
          case K8S_NAMESPACE:
            k8sNamespace = line.slice(pos, stop);
            break;
          case K8S_POD_NAME:
            k8sPodName = line.slice(pos, stop);
            break;
        }
      }
      pos = stop + 1;
    }

    if (falcoType === "") throw missingField("evt.type");
    if (!hasRawTime) timeNs = prefixTimeNs(line, colon);
    else if (timeNs === null) throw missingField("evt.rawtime");
    const attribution = cgroup === null ? null : attributeCgroup(cgroup);
    const container: FalcoContainerFields | null = hasContainerFields
      ? {
          id: containerId,
          name: containerName,
          podUid: k8sPodUid,
          namespace: k8sNamespace,
          podName: k8sPodName,
        }
      : null;

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
        podUid: attribution === null ? null : attribution.podUid,
        containerId: attribution === null ? null : attribution.containerId,
        container,
      };
    }
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
      podUid: attribution === null ? null : attribution.podUid,
      containerId: attribution === null ? null : attribution.containerId,
      container,
      res,
      args: {
        domain: rawArg(line, domainStart, domainEnd, falcoType, "domain"),
        domainText,
        request: rawArg(line, requestStart, requestEnd, falcoType, "request"),
        requestText,
        option: rawArg(line, optionStart, optionEnd, falcoType, "option"),
        optionText,
        flags: rawArg(line, flagsStart, flagsEnd, falcoType, "flags"),
        flagsText,
      },
    };
  };
}

function isEventName(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    // [A-Za-z0-9_]
    if (!((c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 95 || (c >= 65 && c <= 90))) return false;
  }
  return text.length > 0;
}

function rawArg(line: string, start: number, end: number, falcoType: string, arg: RawArgName): bigint | null {
  if (start < 0) return null;
  const value = parseBigIntRange(line, start, end, rawArgRadix(falcoType, arg));
  if (value === null) throw badValue(`evt.rawarg.${arg}`, line.slice(start, end), "an integer");
  return value;
}

/**
 * Falco's internal alerts in text form: `<time>: <Priority> <message> (key="value" ...)`, the
 * message starting with the rule name (`Falco internal: syscall event drop. 3 system calls ...`)
 * except for the metrics snapshot (`Falco metrics snapshot`).
 */
function parseTextInternal(
  line: string,
  colon: number,
  space: number,
  end: number,
  hostname: string | null,
  head: string,
  prefixTimeNs: (line: string, colon: number) => bigint,
): FalcoAlert {
  const message = line.slice(space + 1, end);
  const isInternal = message.startsWith(INTERNAL_RULE_PREFIX) || message.startsWith(METRICS_SNAPSHOT_MESSAGE);
  if (!isInternal) {
    throw malformed(
      "not-an-alert",
      `Falco text alert is neither a "${head}" line nor a Falco internal alert`,
    );
  }
  const timeNs = prefixTimeNs(line, colon);
  if (message.startsWith(DROP_RULE)) {
    const fields = textInternalFields(message);
    const counters: Record<string, number> = {};
    let nDrops: number | null = null;
    let nEvts: number | null = null;
    for (const [key, text] of fields) {
      if (key === "ebpf_enabled") continue;
      const value = /^\d+$/.test(text) ? Number(text) : Number.NaN;
      if (!Number.isSafeInteger(value)) throw badValue(key, text, "a non-negative integer");
      if (key === "n_drops") nDrops = value;
      else if (key === "n_evts") nEvts = value;
      else counters[key] = value;
    }
    if (nDrops === null) throw missingField("n_drops");
    if (nEvts === null) throw missingField("n_evts");
    return { kind: "drop", timeNs, hostname, nDrops, nEvts, counters };
  }
  let rule: string;
  if (message.startsWith(INTERNAL_RULE_PREFIX)) {
    let stop = message.length;
    for (const separator of [". ", ": ", " ("]) {
      const at = message.indexOf(separator, INTERNAL_RULE_PREFIX.length);
      if (at >= 0 && at < stop) stop = at;
    }
    rule = message.slice(0, stop);
  } else {
    rule = `${INTERNAL_RULE_PREFIX}metrics snapshot`;
  }
  return { kind: "internal", timeNs, hostname, rule, priority: line.slice(colon + 2, space), message };
}

/** The `key=value` pairs in the trailing parentheses; values are JSON scalars, strings quoted. */
function textInternalFields(message: string): Array<[string, string]> {
  const open = message.lastIndexOf(" (");
  if (open < 0 || message.charCodeAt(message.length - 1) !== 41) return [];
  const pairs: Array<[string, string]> = [];
  for (const pair of message.slice(open + 2, -1).split(" ")) {
    const eq = pair.indexOf("=");
    if (eq <= 0) continue;
    const raw = pair.slice(eq + 1);
    const quoted = raw.length >= 2 && raw.startsWith('"') && raw.endsWith('"');
    pairs.push([pair.slice(0, eq), quoted ? raw.slice(1, -1) : raw]);
  }
  return pairs;
}
