/**
 * The record both Falco alert parsers (JSON and compact text) produce, and what they share:
 * time parsing, raw argument decoding and the malformed-input error.
 */
import { ErrorCodes, SeccomposeError } from "../../../lib/errors.ts";

/** Container metadata as Falco's container plugin reports it; only present when the rule names it. */
export interface FalcoContainerFields {
  /** `container.id`: 12-character short ID, or `host`. */
  id: string | null;
  name: string | null;
  /** `k8s.pod.uid` */
  podUid: string | null;
  /** `k8s.ns.name` */
  namespace: string | null;
  /** `k8s.pod.name` */
  podName: string | null;
}

/**
 * Selected raw arguments (`evt.rawarg.*`) and their decoded text (`evt.arg.*`) where the rule
 * output has them. Raw values are Falco's encodings, not the kernel's: flags use Falco's own bit
 * layout (`openat` O_RDONLY|O_CLOEXEC is 0x1001), while socket domains, prctl options and ioctl
 * requests are the kernel values.
 */
export interface FalcoSyscallArgs {
  domain: bigint | null;
  domainText: string | null;
  request: bigint | null;
  requestText: string | null;
  option: bigint | null;
  optionText: string | null;
  flags: bigint | null;
  flagsText: string | null;
}

/** What every event from the traced processes carries. */
export interface FalcoEventContext {
  /** Event time in nanoseconds since the epoch. */
  timeNs: bigint;
  hostname: string | null;
  pid: number | null;
  tid: number | null;
  processName: string | null;
  /** The cgroup field as Falco rendered it. */
  cgroup: string | null;
  /** From the cgroup path (see cgroup.ts); null when it is not a kubelet container cgroup. */
  podUid: string | null;
  containerId: string | null;
  container: FalcoContainerFields | null;
}

export interface FalcoSyscallAlert extends FalcoEventContext {
  kind: "syscall";
  /** Kernel/libseccomp name, mapped from the Falco event name. */
  syscall: string;
  /** `evt.type` as Falco reported it. */
  falcoType: string;
  /** `evt.rawres`; null for generic events, which carry no return value. Exact up to 2^53. */
  res: number | null;
  args: FalcoSyscallArgs;
}

/** Tracepoints and meta events (`procexit`, `signaldeliver`, ...) that matched the rule. */
export interface FalcoNonSyscallEvent extends FalcoEventContext {
  kind: "non-syscall";
  falcoType: string;
}

/** `Falco internal: syscall event drop`: events the kernel side lost in the last second. */
export interface FalcoDropAlert {
  kind: "drop";
  timeNs: bigint;
  hostname: string | null;
  nDrops: number;
  nEvts: number;
  /** The other `n_drops_*` counters, by their Falco names. */
  counters: Record<string, number>;
}

/** Any other alert Falco raises about itself (timeouts, metrics snapshot, hot restart failure). */
export interface FalcoInternalAlert {
  kind: "internal";
  timeNs: bigint;
  hostname: string | null;
  rule: string;
  priority: string;
  message: string;
}

export type FalcoAlert = FalcoSyscallAlert | FalcoNonSyscallEvent | FalcoDropAlert | FalcoInternalAlert;

export const DROP_RULE = "Falco internal: syscall event drop";
export const INTERNAL_RULE_PREFIX = "Falco internal: ";

/** Why an alert line was rejected, for callers that count rejections by kind. */
export type AlertProblem = "not-json" | "not-an-alert" | "missing-field" | "bad-value";

export function malformed(problem: AlertProblem, message: string, field?: string): SeccomposeError {
  return new SeccomposeError(ErrorCodes.SC_ALERT_MALFORMED, message, {
    details: field === undefined ? { problem } : { problem, field },
  });
}

export function missingField(field: string): SeccomposeError {
  return malformed("missing-field", `Falco alert has no field ${field}`, field);
}

export function badValue(field: string, value: unknown, expected: string): SeccomposeError {
  const shown = typeof value === "string" ? JSON.stringify(value.slice(0, 80)) : String(value);
  return malformed("bad-value", `Falco alert field ${field} is ${shown}, expected ${expected}`, field);
}

/** Which `evt.rawarg.*` the records carry. */
export type RawArgName = "domain" | "request" | "option" | "flags";

/**
 * Radix Falco renders a raw argument in: parameters with print format PF_HEX come out as bare
 * hex digits (JSON: a string), PF_DEC ones as decimal (JSON: a number). In libs 0.25.4 every
 * `flags` parameter and ioctl's `request` are PF_HEX; `domain`, `option` and ptrace's `request`
 * are PF_DEC.
 */
export function rawArgRadix(falcoType: string, arg: RawArgName): 10 | 16 {
  if (arg === "flags") return 16;
  if (arg === "request" && falcoType === "ioctl") return 16;
  return 10;
}

const CODE_0 = 48;
const CODE_9 = 57;
const CODE_A_UPPER = 65;
const CODE_F_UPPER = 70;
const CODE_A_LOWER = 97;
const CODE_F_LOWER = 102;
const CODE_MINUS = 45;

/**
 * Parses `text[start, end)` as an integer in the given radix (decimal may be negative) without
 * allocating a substring. Returns null when the range is not such an integer. Hex values of more
 * than 13 digits and decimals of more than 15 go through BigInt to stay exact.
 */
export function parseBigIntRange(text: string, start: number, end: number, radix: 10 | 16): bigint | null {
  let i = start;
  const negative = radix === 10 && i < end && text.charCodeAt(i) === CODE_MINUS;
  if (negative) i++;
  if (i >= end) return null;
  const digits = end - i;
  if (digits > (radix === 16 ? 13 : 15)) {
    for (let k = i; k < end; k++) if (digitValue(text.charCodeAt(k), radix) < 0) return null;
    const body = text.slice(i, end);
    const value = BigInt(radix === 16 ? `0x${body}` : body);
    return negative ? -value : value;
  }
  let value = 0;
  for (let k = i; k < end; k++) {
    const d = digitValue(text.charCodeAt(k), radix);
    if (d < 0) return null;
    value = value * radix + d;
  }
  return BigInt(negative ? -value : value);
}

/**
 * Parses `text[start, end)` as a decimal integer (pids, return values) without allocating a
 * substring. Returns null when the range is not a decimal integer; values beyond 2^53 come back
 * as the nearest double.
 */
export function parseIntRange(text: string, start: number, end: number): number | null {
  let i = start;
  const negative = i < end && text.charCodeAt(i) === CODE_MINUS;
  if (negative) i++;
  if (i >= end || end - i > 20) return null;
  let value = 0;
  for (let k = i; k < end; k++) {
    const c = text.charCodeAt(k);
    if (c < CODE_0 || c > CODE_9) return null;
    value = value * 10 + (c - CODE_0);
  }
  if (!Number.isSafeInteger(value)) value = Number(text.slice(i, end));
  return negative ? -value : value;
}

function digitValue(code: number, radix: 10 | 16): number {
  if (code >= CODE_0 && code <= CODE_9) return code - CODE_0;
  if (radix === 16) {
    if (code >= CODE_A_UPPER && code <= CODE_F_UPPER) return code - CODE_A_UPPER + 10;
    if (code >= CODE_A_LOWER && code <= CODE_F_LOWER) return code - CODE_A_LOWER + 10;
  }
  return -1;
}

const LOW_DIGITS = 9;
const LOW_SCALE = 1_000_000_000n;
// Consecutive alerts share the high digits of their timestamps: their BigInt is built once.
let cachedHigh = -1;
let cachedHighScaled = 0n;

/**
 * Unsigned decimal integer `text[start, end)` exactly as a bigint (nanosecond timestamps). Split
 * into two exact doubles (at most 11 and 9 digits) instead of slicing a string for BigInt().
 */
export function parseUnsignedBigIntRange(text: string, start: number, end: number): bigint | null {
  if (start >= end || end - start > 20) return null;
  const split = Math.max(start, end - LOW_DIGITS);
  let high = 0;
  for (let k = start; k < split; k++) {
    const c = text.charCodeAt(k);
    if (c < CODE_0 || c > CODE_9) return null;
    high = high * 10 + (c - CODE_0);
  }
  let low = 0;
  for (let k = split; k < end; k++) {
    const c = text.charCodeAt(k);
    if (c < CODE_0 || c > CODE_9) return null;
    low = low * 10 + (c - CODE_0);
  }
  if (high !== cachedHigh) {
    cachedHigh = high;
    cachedHighScaled = BigInt(high) * LOW_SCALE;
  }
  return cachedHighScaled + BigInt(low);
}

const NS_PER_MS = 1_000_000n;

/**
 * Parses the ISO-8601 times Falco writes: `2026-11-27T16:30:32.138726621Z` (JSON `time`) and
 * `2016-08-04T16:17:57.881781397+0000` (text prefix with `time_format_iso_8601`). Returns
 * nanoseconds since the epoch, or null when the text is not such a time.
 */
export function parseIsoTimeNs(text: string): bigint | null {
  // YYYY-MM-DDTHH:MM:SS
  if (text.length < 20 || text[4] !== "-" || text[7] !== "-" || text[10] !== "T") return null;
  if (text[13] !== ":" || text[16] !== ":") return null;
  const year = digitsValue(text, 0, 4);
  const month = digitsValue(text, 5, 7);
  const day = digitsValue(text, 8, 10);
  const hour = digitsValue(text, 11, 13);
  const minute = digitsValue(text, 14, 16);
  const second = digitsValue(text, 17, 19);
  if (year === null || month === null || day === null || hour === null || minute === null) return null;
  if (second === null || month < 1 || month > 12 || day < 1 || day > 31) return null;
  if (hour > 23 || minute > 59 || second > 60) return null;
  let i = 19;
  let fractionNs = 0;
  if (text[i] === ".") {
    const start = ++i;
    while (i < text.length && text.charCodeAt(i) >= CODE_0 && text.charCodeAt(i) <= CODE_9) i++;
    const digits = i - start;
    if (digits === 0 || digits > 9) return null;
    fractionNs = digitsValue(text, start, i)! * 10 ** (9 - digits);
  }
  let offsetMinutes: number;
  if (text[i] === "Z" && i + 1 === text.length) {
    offsetMinutes = 0;
  } else if ((text[i] === "+" || text[i] === "-") && (text.length === i + 5 || text.length === i + 6)) {
    const colon = text.length === i + 6;
    if (colon && text[i + 3] !== ":") return null;
    const hh = digitsValue(text, i + 1, i + 3);
    const mm = digitsValue(text, colon ? i + 4 : i + 3, text.length);
    if (hh === null || mm === null) return null;
    offsetMinutes = (text[i] === "-" ? -1 : 1) * (hh * 60 + mm);
  } else {
    return null;
  }
  const ms = Date.UTC(year, month - 1, day, hour, minute, second) - offsetMinutes * 60_000;
  return BigInt(ms) * NS_PER_MS + BigInt(fractionNs);
}

/**
 * Parses Falco's non-ISO text time prefix `HH:MM:SS.nnnnnnnnn` (local time of the Falco host, no
 * date) into nanoseconds since that day's midnight, or null when it is not such a time.
 */
export function parseTimeOfDayNs(text: string, start: number, end: number): bigint | null {
  if (end - start !== 18 || text[start + 2] !== ":" || text[start + 5] !== ":" || text[start + 8] !== ".") {
    return null;
  }
  const hour = digitsValue(text, start, start + 2);
  const minute = digitsValue(text, start + 3, start + 5);
  const second = digitsValue(text, start + 6, start + 8);
  const ns = digitsValue(text, start + 9, end);
  if (hour === null || minute === null || second === null || ns === null) return null;
  if (hour > 23 || minute > 59 || second > 60) return null;
  return BigInt(((hour * 60 + minute) * 60 + second) * 1000) * NS_PER_MS + BigInt(ns);
}

/** Value of the decimal digits `text[start, end)` (at most 9), or null if any is not a digit. */
function digitsValue(text: string, start: number, end: number): number | null {
  if (start >= end || end - start > 9) return null;
  let value = 0;
  for (let k = start; k < end; k++) {
    const c = text.charCodeAt(k);
    if (c < CODE_0 || c > CODE_9) return null;
    value = value * 10 + (c - CODE_0);
  }
  return value;
}
