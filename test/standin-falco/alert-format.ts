/**
 * The stand-in Falco's events and how they are printed (see standin-falco.ts): field values,
 * text and 0.44-style JSON alerts, internal alerts (drops, hot restart failures), times.
 */
import { constants, hostname as osHostname } from "node:os";
import { OUTPUT_TOKEN, type StandinConfig, type StandinRule } from "./config.ts";

export interface CommandSpec {
  cmd: string[];
  podUid: string;
  containerId: string;
  cgroupLayout?: "cgroupfs" | "systemd";
  namespace?: string;
  podName?: string;
  containerName?: string;
}

/** The cgroup of a pod's container, as the kubelet makes it with either cgroup driver. */
export function cgroupPath(spec: CommandSpec): string {
  if (spec.cgroupLayout === "systemd") {
    const slice = `kubepods-burstable-pod${spec.podUid.replaceAll("-", "_")}.slice`;
    return `/kubepods.slice/kubepods-burstable.slice/${slice}/cri-containerd-${spec.containerId}.scope`;
  }
  return `/kubepods/burstable/pod${spec.podUid}/${spec.containerId}`;
}

export interface StandinEvent {
  type: string;
  timeNs: bigint;
  /** null for events without a return value (procexit). */
  rawres: bigint | null;
  pid: number;
  tid: number;
  ppid: number | null;
  processName: string;
  cgroup: string;
  rawArgs: Map<string, { value: bigint; radix: 10 | 16 }>;
  container: CommandSpec;
  /** `fd.name` of an open. */
  fdName?: string;
}

/** A field value: a JSON number (digits), a string, or missing. */
type FieldValue = { number: string } | { string: string } | null;

const ERRNO_NAMES = new Map<number, string>(
  Object.entries(constants.errno).map(([name, value]) => [value, name] as [number, string]),
);

export function fieldValue(event: StandinEvent, field: string, evtNum: number): FieldValue {
  switch (field) {
    case "evt.type":
      return { string: event.type };
    case "evt.num":
      return { number: String(evtNum) };
    case "evt.rawtime":
    case "evt.time":
      return { number: String(event.timeNs) };
    case "evt.res":
      if (event.rawres === null) return null;
      return { string: event.rawres >= 0n ? "SUCCESS" : (ERRNO_NAMES.get(Number(-event.rawres)) ?? "E?") };
    case "evt.rawres":
      return event.rawres === null ? null : { number: String(event.rawres) };
    case "proc.pid":
    case "proc.vpid":
      return { number: String(event.pid) };
    case "thread.tid":
    case "thread.vtid":
      return { number: String(event.tid) };
    case "proc.ppid":
      return event.ppid === null ? null : { number: String(event.ppid) };
    case "proc.name":
      return { string: event.processName };
    case "thread.cgroups":
      return {
        string: `cpuset=${event.cgroup} cpu=${event.cgroup} memory=${event.cgroup} pids=${event.cgroup}`,
      };
    case "container.id":
      return { string: event.container.containerId.slice(0, 12) };
    case "container.name":
      return event.container.containerName === undefined ? null : { string: event.container.containerName };
    case "k8s.pod.uid":
      return { string: event.container.podUid };
    case "k8s.ns.name":
      return event.container.namespace === undefined ? null : { string: event.container.namespace };
    case "k8s.pod.name":
      return event.container.podName === undefined ? null : { string: event.container.podName };
    case "fd.name":
      return event.fdName === undefined ? null : { string: event.fdName };
  }
  if (field.startsWith("thread.cgroup.")) return { string: event.cgroup };
  if (field.startsWith("evt.rawarg.")) {
    const arg = event.rawArgs.get(field.slice("evt.rawarg.".length));
    if (arg === undefined) return null;
    // Falco prints PF_HEX parameters as bare upper-case hex digits (a JSON string).
    return arg.radix === 16
      ? { string: arg.value.toString(16).toUpperCase() }
      : { number: String(arg.value) };
  }
  return null;
}

export function textOf(value: FieldValue): string {
  if (value === null) return "<NA>";
  return "number" in value ? value.number : value.string;
}

function jsonOf(value: FieldValue): string {
  if (value === null) return "null";
  return "number" in value ? value.number : JSON.stringify(value.string);
}

/** Falco's text time prefix: local `HH:MM:SS.nnnnnnnnn`, or ISO 8601 in UTC. */
function timePrefix(timeNs: bigint, iso: boolean): string {
  const date = new Date(Number(timeNs / 1_000_000n));
  const nanos = String(timeNs % 1_000_000_000n).padStart(9, "0");
  if (iso) return `${date.toISOString().slice(0, 19)}.${nanos}+0000`;
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${nanos}`;
}

function isoTime(timeNs: bigint): string {
  const date = new Date(Number(timeNs / 1_000_000n));
  return `${date.toISOString().slice(0, 19)}.${String(timeNs % 1_000_000_000n).padStart(9, "0")}Z`;
}

/** A JSON object with keys in the byte order nlohmann::json writes them; values already JSON. */
export function sortedObject(entries: Array<[string, string]>): string {
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([key, value]) => `${JSON.stringify(key)}:${value}`).join(",")}}`;
}

export function formatAlert(
  config: StandinConfig,
  rule: StandinRule,
  event: StandinEvent,
  evtNum: number,
): string {
  const message = rule.output.replace(OUTPUT_TOKEN, (_token, field: string) =>
    textOf(fieldValue(event, field, evtNum)),
  );
  const prefix = timePrefix(event.timeNs, config.isoTime);
  if (!config.jsonOutput) return `${prefix}: ${rule.priority} ${message}`;
  const entries: Array<[string, string]> = [
    ["hostname", JSON.stringify(falcoHostname())],
    ["priority", JSON.stringify(rule.priority)],
    ["rule", JSON.stringify(rule.name)],
    ["source", JSON.stringify("syscall")],
    ["time", JSON.stringify(isoTime(event.timeNs))],
  ];
  if (config.includeOutput)
    entries.push(["output", JSON.stringify(`${prefix}: ${rule.priority} ${message}`)]);
  if (config.includeMessage) entries.push(["message", JSON.stringify(message)]);
  if (config.includeTags) entries.push(["tags", JSON.stringify(rule.tags)]);
  if (config.includeOutputFields) {
    const fields = new Map<string, string>();
    fields.set(config.isoTime ? "evt.time.iso8601" : "evt.time", String(event.timeNs));
    for (const field of rule.outputFields) fields.set(field, jsonOf(fieldValue(event, field, evtNum)));
    entries.push(["output_fields", sortedObject([...fields])]);
  }
  return sortedObject(entries);
}

/** Falco's own alerts (`source: internal`); their field values are strings since 0.42. */
export function formatInternal(
  config: StandinConfig,
  timeNs: bigint,
  priority: string,
  rule: string,
  message: string,
  fields: Record<string, string>,
): string {
  const pairs = Object.entries(fields).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  if (!config.jsonOutput) {
    const rendered = pairs.map(([key, value]) => `${key}=${JSON.stringify(value)}`).join(" ");
    return `${timePrefix(timeNs, false)}: ${priority} ${message} (${rendered})`;
  }
  return sortedObject([
    ["hostname", JSON.stringify(falcoHostname())],
    ["output", JSON.stringify(message)],
    ["output_fields", sortedObject(pairs.map(([key, value]) => [key, JSON.stringify(value)]))],
    ["priority", JSON.stringify(priority)],
    ["rule", JSON.stringify(rule)],
    ["source", JSON.stringify("internal")],
    ["time", JSON.stringify(isoTime(timeNs))],
  ]);
}

function falcoHostname(): string {
  return process.env["FALCO_HOSTNAME"] ?? osHostname();
}

const wallAtStartNs = BigInt(Date.now()) * 1_000_000n;
const monotonicAtStartNs = process.hrtime.bigint();

export function nowNs(): bigint {
  return wallAtStartNs + (process.hrtime.bigint() - monotonicAtStartNs);
}
