#!/usr/bin/env node
/**
 * A stand-in for the Falco 0.44 binary, for tests: the agent launches it exactly as it launches
 * Falco (`<binary> [extra args] -c <falco.yaml>`; with Node 24 as
 * `process.execPath test/standin-falco/standin-falco.ts -c <falco.yaml>`), and it behaves like
 * Falco where the agent can tell:
 *
 * - `--version` prints Falco's version block (JSON when the config given with `-c` sets
 *   `json_output`); `--list[=source]` prints the field list, with the container plugin's
 *   fields when the config loads it; `--dry-run` loads config and rules, then exits.
 * - `base_syscalls.custom_set` negations (`!read`) keep those syscalls from it, as from Falco's
 *   driver (`repair` is not modelled).
 * - It reads the config and the rules files it names and refuses (exit 1, Falco-like message
 *   on stderr) a rule naming a field it does not have (`container.*`, `k8s.*` without the
 *   container plugin). Conditions are evaluated (the subset in condition.ts); the first
 *   matching rule alerts, as with `rule_matching: first`, formatted from its `output` template
 *   with `%field` substituted: text lines `HH:MM:SS.nnnnnnnnn: Debug <output>` or, with
 *   `json_output`, 0.44-style JSON (keys sorted, `output_fields` with the template's fields and
 *   `evt.time`, `output`/`tags` as the `json_include_*` keys say). Alerts go to stdout only if
 *   `stdout_output.enabled`; `buffered_outputs` batches them.
 * - It logs to stderr the way Falco does, including "Opening 'syscall' source with ..." once
 *   its signal handlers are installed. SIGHUP re-reads the config in a dry run: on success it
 *   restarts (rule statistics to stdout, `evt.num` from 1, new output format), on failure it
 *   emits "Falco internal: hot restart failure" and keeps the old config. SIGTERM/SIGINT flush
 *   the output, print the rule statistics and exit 0.
 *
 * What it does is chosen by environment variables, so the command line stays Falco's:
 * - `STANDIN_MODE=replay STANDIN_REPLAY=<file> [STANDIN_RATE=<lines/s>]`: writes the file's
 *   lines (recorded alerts) as they are.
 * - `STANDIN_MODE=strace STANDIN_COMMANDS=<json file>`: runs each `{cmd, podUid, containerId,
 *   cgroupLayout?, namespace?, podName?, containerName?}` in turn under strace and emits one
 *   alert per syscall that returned, as Falco ≥ 0.42 would: kernel names mapped to Falco event
 *   names (`pread64` -> `pread`), nothing for `exit`, `exit_group`, `rt_sigreturn` (a `procexit`
 *   event per exiting thread instead), cgroup `/kubepods/burstable/pod<uid>/<id>` (or the
 *   systemd layout), raw `domain`/`request`/`option` arguments, and the container plugin's
 *   fields from the spec. `STANDIN_REPEAT=1` runs the list again and again until SIGTERM.
 *   Not modelled: flags (Falco encodes them its own way, so `evt.rawarg.flags` is `<NA>`),
 *   decoded `evt.arg.*` text, and `proc.name`, which is the command's base name for all its
 *   processes.
 * - `STANDIN_MODE=crash [STANDIN_CRASH_AFTER_MS=<ms>]`: a Falco-like error on stderr, exit 1.
 * - `STANDIN_CRASH_TIMES=<n> STANDIN_CRASH_COUNTER=<file>` (any mode): the first n starts crash.
 * - `STANDIN_CRASH_IF_EXISTS=<file>` (any mode): a start crashes while that file exists (a test
 *   lets one Falco capture, then makes the next start fail).
 * - no STANDIN_MODE: captures nothing but the files created in the config directory, which
 *   become `openat` events (the agent's capture probe); a crashing stand-in captures nothing.
 * - `STANDIN_POD_OPENS=<podUid>/<containerId>` (any mode): a file `pod-open-<n>` created in the
 *   config directory becomes an `openat` of thread n of a process in that pod container, in the
 *   same order as the probes around it, and `pod-exec-<n>` an `execve` of thread n. Every
 *   stand-in running then sees it, as every Falco sees a syscall: a test drives the alerts of two
 *   Falcos during a swap this way. With `STANDIN_LEARN_AT_EXEC=1` a stand-in reports none of that
 *   process's calls before its first `pod-exec-<n>`, as a Falco without a start-up scan of /proc
 *   learns a process that ran before it only at its next execve.
 * - `STANDIN_PROBE_LOSS=<p>` (any mode): each file of the config directory that is not a
 *   `pod-…` one (the agent's probes) is missed with probability p, as an overloaded Falco drops
 *   events.
 * - `STANDIN_DROPS=<n>` (any mode): afterwards, n seconds' worth of one dropped event each,
 *   handled as `syscall_event_drops` says (log, alert, exit; only above `threshold`).
 * After its work it stays alive, like Falco, until SIGTERM.
 *
 * Its configuration and rules are read by config.ts (conditions: condition.ts), its events printed
 * by alert-format.ts.
 */
import { spawn } from "node:child_process";
import { createReadStream, existsSync, readFileSync, statSync, watch, writeFileSync } from "node:fs";
import { once } from "node:events";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { constants, tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { straceCommand } from "../../lib/strace/command.ts";
import { StraceParser, type SyscallRecord } from "../../lib/strace/parse.ts";
import { readStraceFile } from "../../lib/strace/read.ts";
import {
  type CommandSpec,
  type StandinEvent,
  fieldValue,
  formatAlert,
  formatInternal,
  nowNs,
  sortedObject,
  textOf,
} from "./alert-format.ts";
import { ConfigError, loadConfig, type StandinConfig, type StandinRule } from "./config.ts";

const FALCO_VERSION = "0.44.1";
const VERSION_INFO: Record<string, string> = {
  default_driver_version: "10.2.0+driver",
  driver_api_version: "10.0.0",
  driver_schema_version: "4.3.0",
  engine_version: "62",
  engine_version_semver: "0.62.0",
  falco_version: FALCO_VERSION,
  libs_version: "0.25.4",
  plugin_api_version: "3.12.0",
};
const DROP_RULE = "Falco internal: syscall event drop";
const RESTART_FAILURE_RULE = "Falco internal: hot restart failure";

// ---------------------------------------------------------------------------------------------
// The running stand-in

const BUFFER_FLUSH_BYTES = 64 * 1024;
const BUFFER_FLUSH_MS = 20;

class StandinFalco {
  config: StandinConfig;
  readonly #overrides: readonly string[];
  #evtNum = 0;
  #matches = new Map<StandinRule, number>();
  #dropOccurrences = 0;
  #dropActions = 0;
  #pending: string[] = [];
  #pendingBytes = 0;
  #flushTimer: NodeJS.Timeout | undefined;

  constructor(config: StandinConfig, overrides: readonly string[]) {
    this.config = config;
    this.#overrides = overrides;
  }

  /** Falco's start-up log up to the point where it captures. */
  start(): void {
    log(`Falco version: ${FALCO_VERSION} (x86_64)`);
    log(`Falco initialized with configuration files:`);
    log(`   ${this.config.path} | schema validation: ok`);
    log(`Loading rules from:`);
    for (const file of this.config.rulesFiles) log(`   ${file} | schema validation: ok`);
    if (process.env["FALCO_HOSTNAME"] !== undefined) {
      log(`Hostname value has been overridden via environment variable to: ${process.env["FALCO_HOSTNAME"]}`);
    }
    log(`The chosen syscall buffer dimension is: 8388608 bytes (8 MBs)`);
    log(`Loaded event sources: syscall`);
    log(`Enabled event sources: syscall`);
    const driver =
      this.config.engineKind === "modern_ebpf"
        ? "modern BPF probe."
        : this.config.engineKind === "nodriver"
          ? "no driver"
          : "Kernel module";
    log(`Opening 'syscall' source with ${driver}`);
    if (this.config.engineKind === "modern_ebpf") log(`One ring buffer every '2' CPUs.`);
  }

  /** An event: an alert from the first rule whose condition it matches (`rule_matching: first`). */
  event(event: StandinEvent): void {
    this.#evtNum += 1;
    const evtNum = this.#evtNum;
    const lookup = (field: string) => {
      const value = fieldValue(event, field, evtNum);
      return value === null ? null : textOf(value);
    };
    const rule = this.config.rules.find((candidate) => candidate.matches(lookup));
    if (rule === undefined) return;
    this.#matches.set(rule, (this.#matches.get(rule) ?? 0) + 1);
    this.#write(formatAlert(this.config, rule, event, evtNum));
  }

  line(line: string): void {
    this.#write(line);
  }

  /** Alert lines already formatted (whole lines), written as they are; waits while stdout is full. */
  async raw(chunk: Buffer): Promise<void> {
    if (!this.config.stdout) return;
    this.flush();
    if (!process.stdout.write(chunk)) await once(process.stdout, "drain");
  }

  /** One second in which the kernel side dropped `drops` events. */
  drop(drops: number): void {
    const nEvts = this.#evtNum + 1000;
    this.#dropOccurrences += 1;
    if (drops / nEvts <= this.config.drops.threshold) return;
    this.#dropActions += 1;
    const message = `${DROP_RULE}. ${drops} system calls dropped in last second.`;
    for (const action of this.config.drops.actions) {
      if (action === "log") log(message);
      if (action === "alert") {
        const counters: Record<string, string> = {
          ebpf_enabled: this.config.engineKind === "modern_ebpf" ? "1" : "0",
          n_drops: String(drops),
          n_evts: String(nEvts),
        };
        for (const counter of DROP_COUNTERS) counters[counter] = "0";
        this.#write(formatInternal(this.config, nowNs(), "Debug", DROP_RULE, message, counters));
      }
      if (action === "exit") {
        log(`${message} Exiting.`);
        this.exit(1);
      }
    }
  }

  /** SIGHUP: a dry run of the new configuration, then an in-process restart or a failure alert. */
  reload(): void {
    let next: StandinConfig;
    try {
      next = loadConfig(this.config.path, this.#overrides, true);
    } catch (err) {
      const message = `${RESTART_FAILURE_RULE}: ${(err as Error).message}`;
      this.#write(formatInternal(this.config, nowNs(), "Critical", RESTART_FAILURE_RULE, message, {}));
      this.flush();
      return;
    }
    log("SIGHUP received, restarting...");
    this.#teardown();
    this.config = next;
    this.#evtNum = 0;
    this.#matches = new Map();
    this.start();
  }

  exit(code: number): never {
    this.#teardown();
    process.exit(code);
  }

  flush(): void {
    clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    if (this.#pending.length === 0) return;
    // Writes to a pipe are synchronous on Linux, so Falco-like back-pressure is kept.
    process.stdout.write(this.#pending.join(""));
    this.#pending = [];
    this.#pendingBytes = 0;
  }

  /** What Falco prints when its outputs close: at exit and at every hot restart. */
  #teardown(): void {
    this.flush();
    const byPriority = new Map<string, number>();
    let total = 0;
    for (const [rule, count] of this.#matches) {
      total += count;
      byPriority.set(rule.priority, (byPriority.get(rule.priority) ?? 0) + count);
    }
    let statistics = `Events detected: ${total}\nRule counts by severity:\n`;
    for (const [priority, count] of byPriority) statistics += `   ${priority.toUpperCase()}: ${count}\n`;
    statistics += `Triggered rules by rule name:\n`;
    for (const [rule, count] of this.#matches) statistics += `   ${rule.name}: ${count}\n`;
    process.stdout.write(statistics);
    process.stderr.write(
      `Syscall event drop monitoring:\n   - event drop detected: ${this.#dropOccurrences} occurrences\n   - num times actions taken: ${this.#dropActions}\n`,
    );
  }

  #write(line: string): void {
    if (!this.config.stdout) return;
    if (!this.config.buffered) {
      process.stdout.write(`${line}\n`);
      return;
    }
    this.#pending.push(`${line}\n`);
    this.#pendingBytes += line.length + 1;
    if (this.#pendingBytes >= BUFFER_FLUSH_BYTES) this.flush();
    else this.#flushTimer ??= setTimeout(() => this.flush(), BUFFER_FLUSH_MS);
  }
}

const DROP_COUNTERS = [
  "n_drops_buffer_clone_fork_exit",
  "n_drops_buffer_close_exit",
  "n_drops_buffer_connect_exit",
  "n_drops_buffer_dir_file_exit",
  "n_drops_buffer_execve_exit",
  "n_drops_buffer_open_exit",
  "n_drops_buffer_other_interest_exit",
  "n_drops_buffer_proc_exit",
  "n_drops_buffer_total",
  "n_drops_bug",
  "n_drops_page_faults",
  "n_drops_scratch_map",
];

const WEEKDAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** Falco's log line: `Thu Nov 27 16:30:20 2026: message`. */
function log(message: string): void {
  const now = new Date();
  const pad = (n: number) => String(n).padStart(2, "0");
  const stamp = `${WEEKDAYS[now.getDay()]} ${MONTHS[now.getMonth()]} ${pad(now.getDate())} ${pad(now.getHours())}:${pad(now.getMinutes())}:${pad(now.getSeconds())} ${now.getFullYear()}`;
  process.stderr.write(`${stamp}: ${message}\n`);
}

// ---------------------------------------------------------------------------------------------
// strace mode

/** Kernel names whose Falco event is named differently (see lib/falco/event-names.ts for the reverse). */
const FALCO_EVENT_NAMES = new Map([
  ["pread64", "pread"],
  ["pwrite64", "pwrite"],
  ["prlimit64", "prlimit"],
  ["_llseek", "llseek"],
  ["sendfile64", "sendfile"],
  ["fcntl64", "fcntl"],
  ["ugetrlimit", "getrlimit"],
  ["mmap2", "mmap"],
]);
/** Calls that do not return, so Falco ≥ 0.42 never reports them. */
const NEVER_RETURN = new Set(["exit", "exit_group", "rt_sigreturn", "sigreturn"]);
const PROCESS_EXIT = new Set(["exit", "exit_group"]);
const CLONE_CALLS = new Set(["clone", "clone3", "fork", "vfork"]);
const EXEC_CALLS = new Set(["execve", "execveat"]);
const CLONE_THREAD = 0x10000n;

function cgroupPath(spec: CommandSpec): string {
  if (spec.cgroupLayout === "systemd") {
    const slice = `kubepods-burstable-pod${spec.podUid.replaceAll("-", "_")}.slice`;
    return `/kubepods.slice/kubepods-burstable.slice/${slice}/cri-containerd-${spec.containerId}.scope`;
  }
  return `/kubepods/burstable/pod${spec.podUid}/${spec.containerId}`;
}

/** Falco's name for a kernel syscall name (32-bit-only variants are reported as the native call). */
function falcoEventName(kernelName: string): string {
  const mapped = FALCO_EVENT_NAMES.get(kernelName);
  if (mapped !== undefined) return mapped;
  if (/^(?:[gs]et(?:res|re|fs|e)?[ug]id|[gs]etgroups|[fl]?chown)32$/.test(kernelName)) {
    return kernelName.slice(0, -2);
  }
  return kernelName;
}

/** strace's result text as Falco's int64 return value; null when the call did not return. */
function returnValue(result: string): bigint | null {
  const failed = /^-1 (E[A-Z0-9]+)\b/.exec(result);
  if (failed) {
    const errno = (constants.errno as Record<string, number | undefined>)[failed[1]!];
    return errno === undefined ? null : BigInt(-errno);
  }
  const numbered = /^-1 \(errno (\d+)\)/.exec(result);
  if (numbered) return -BigInt(numbered[1]!);
  const value = /^(-?(?:0x[0-9a-f]+|\d+))\b/i.exec(result);
  if (!value) return null;
  return value[1]!.startsWith("-") ? -BigInt(value[1]!.slice(1)) : BigInt(value[1]!);
}

/** The raw arguments the agent's rule asks for, where this call has them. */
function rawArgsOf(record: SyscallRecord): Map<string, { value: bigint; radix: 10 | 16 }> {
  const args = new Map<string, { value: bigint; radix: 10 | 16 }>();
  const first = record.args?.[0];
  const second = record.args?.[1];
  if ((record.name === "socket" || record.name === "socketpair") && first !== undefined) {
    args.set("domain", { value: first, radix: 10 });
  } else if (record.name === "ioctl" && second !== undefined) {
    args.set("request", { value: second, radix: 16 });
  } else if (record.name === "ptrace" && first !== undefined) {
    args.set("request", { value: first, radix: 10 });
  } else if (record.name === "prctl" && first !== undefined) {
    args.set("option", { value: first, radix: 10 });
  }
  return args;
}

const children = new Set<number>();
const REPEAT_PAUSE_MS = 50;

/** Runs one command under strace to completion and returns its syscall records, in order. */
async function traceCommand(cmd: string[]): Promise<SyscallRecord[]> {
  const dir = await mkdtemp(join(tmpdir(), "standin-falco-"));
  try {
    const output = join(dir, "trace");
    const [file = "strace", ...args] = straceCommand(output, cmd);
    // Its own process group, so SIGTERM can take the traced command down with it.
    const child = spawn(file, args, { stdio: "ignore", detached: true });
    if (child.pid !== undefined) children.add(child.pid);
    await new Promise<void>((resolve, reject) => {
      child.on("error", reject);
      child.on("close", () => resolve());
    });
    if (child.pid !== undefined) children.delete(child.pid);
    const records: SyscallRecord[] = [];
    for await (const record of readStraceFile(output, new StraceParser({ lenient: true, source: output }))) {
      if (record.kind === "syscall") records.push(record);
    }
    return records;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function runCommands(falco: StandinFalco, specs: readonly CommandSpec[]): Promise<void> {
  for (const spec of specs) {
    const records = await traceCommand(spec.cmd);
    const cgroup = cgroupPath(spec);
    const processName = basename(spec.cmd[0] ?? "");
    const { threadGroupOf, parentOf } = processTree(records);
    for (const record of records) {
      const pid = threadGroupOf.get(record.pid) ?? record.pid;
      const base = {
        timeNs: nowNs(),
        pid,
        tid: record.pid,
        ppid: parentOf.get(pid) ?? null,
        processName,
        cgroup,
        container: spec,
      };
      if (PROCESS_EXIT.has(record.name)) {
        falco.event({ ...base, type: "procexit", rawres: null, rawArgs: new Map() });
        continue;
      }
      if (NEVER_RETURN.has(record.name) || record.name.startsWith("syscall_")) continue;
      const rawres = returnValue(record.result);
      if (rawres === null) continue;
      const type = falcoEventName(record.name);
      // The driver never delivers what base_syscalls leaves out.
      if (falco.config.notAsked.has(record.name) || falco.config.notAsked.has(type)) continue;
      falco.event({ ...base, type, rawres, rawArgs: rawArgsOf(record) });
    }
  }
}

/**
 * Thread group and parent of every traced task, from the results of clone-type calls. strace
 * shows only task ids; `clone` says CLONE_THREAD in its flags, `clone3` hides its flags in
 * memory, so a `clone3` child counts as a process if it ever execs (posix_spawn) and as a
 * thread otherwise (pthread_create).
 */
function processTree(records: readonly SyscallRecord[]): {
  threadGroupOf: Map<number, number>;
  parentOf: Map<number, number>;
} {
  const execs = new Set(records.filter((r) => EXEC_CALLS.has(r.name) && r.result === "0").map((r) => r.pid));
  const threadGroupOf = new Map<number, number>();
  const parentOf = new Map<number, number>();
  for (const record of records) {
    if (!CLONE_CALLS.has(record.name)) continue;
    const child = returnValue(record.result);
    if (child === null || child <= 0n) continue;
    const childId = Number(child);
    const group = threadGroupOf.get(record.pid) ?? record.pid;
    const flags = record.args?.[0] ?? 0n;
    const isThread =
      record.name === "clone"
        ? (flags & CLONE_THREAD) !== 0n
        : record.name === "clone3" && !execs.has(childId);
    threadGroupOf.set(childId, isThread ? group : childId);
    if (!isThread) parentOf.set(childId, group);
  }
  return { threadGroupOf, parentOf };
}

// ---------------------------------------------------------------------------------------------
// Other modes and the command line

/**
 * `STANDIN_CRASH_TIMES=<n> STANDIN_CRASH_COUNTER=<file>`: the first n starts crash (the counter
 * file survives restarts), later ones run STANDIN_MODE: a Falco that fails, then recovers.
 */
function crashesLeft(): boolean {
  const times = Number(process.env["STANDIN_CRASH_TIMES"] ?? 0);
  const counter = process.env["STANDIN_CRASH_COUNTER"];
  if (times <= 0 || counter === undefined) return false;
  let starts = 0;
  try {
    starts = Number(readFileSync(counter, "utf8")) || 0;
  } catch {
    // first start: no counter yet
  }
  writeFileSync(counter, String(starts + 1));
  return starts < times;
}

async function runReplayMode(falco: StandinFalco, file: string, rate: number | undefined): Promise<void> {
  if (rate === undefined || rate <= 0) {
    // Unthrottled: the file's bytes as they are, in large chunks, so the load generator costs
    // little CPU next to the agent it feeds (benchmarks share two cores). Each chunk ends at a
    // line end, as Falco's writes do: an alert of our own (the agent's probe) written between two
    // chunks must not split a replayed line.
    let carry: Buffer = Buffer.alloc(0);
    for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
      const data = carry.length > 0 ? Buffer.concat([carry, chunk as Buffer]) : (chunk as Buffer);
      const end = data.lastIndexOf(10) + 1;
      carry = data.subarray(end);
      if (end > 0) await falco.raw(data.subarray(0, end));
    }
    if (carry.length > 0) await falco.raw(carry);
    return;
  }
  const lines = (await readFile(file, "utf8")).split("\n").filter((line) => line.length > 0);
  const intervalMs = 1000 / rate;
  const started = Date.now();
  for (let i = 0; i < lines.length; i++) {
    if (intervalMs > 0) {
      const due = started + i * intervalMs - Date.now();
      if (due > 0) await sleep(due);
    }
    falco.line(lines[i]!);
  }
}

function printFieldList(containerPlugin: boolean): void {
  const classes: Array<[string, string, Array<[string, string]>]> = [
    [
      "evt (Syscall events only)",
      "Event fields applicable to syscall events.",
      [
        ["evt.num", "event number."],
        ["evt.time", "event timestamp as a time string that includes the nanosecond part."],
        ["evt.rawtime", "absolute event timestamp, i.e. nanoseconds from epoch."],
        ["evt.type", "The name of the event (e.g. 'open')."],
        ["evt.res", "event return value, as a string."],
        ["evt.rawres", "event return value, as a number (e.g. -2)."],
        ["evt.arg", "(ARG_REQUIRED) one of the event arguments specified by name or by number."],
        ["evt.rawarg", "(ARG_REQUIRED) one of the event arguments specified by name."],
      ],
    ],
    [
      "process",
      "Additional information about the process and thread executing the syscall event.",
      [
        ["proc.pid", "The id of the process generating the event."],
        ["proc.name", "The process name (truncated after 16 characters) generating the event."],
        ["proc.ppid", "The pid of the parent of the process generating the event."],
        ["thread.tid", "The id of the thread generating the event."],
        ["thread.cgroups", "All cgroups the thread belongs to, aggregated into a single string."],
        ["thread.cgroup", "(ARG_REQUIRED) The cgroup the thread belongs to, for a specific subsystem."],
      ],
    ],
  ];
  if (containerPlugin) {
    classes.push([
      "container (plugin: container)",
      "Container and Kubernetes metadata from the container runtime.",
      [
        ["container.id", "The truncated container ID (first 12 characters)."],
        ["container.name", "The container name."],
        ["k8s.pod.name", "The Kubernetes pod name."],
        ["k8s.ns.name", "The Kubernetes namespace name."],
        ["k8s.pod.uid", "The Kubernetes pod UID."],
      ],
    ]);
  }
  let text = "";
  for (const [name, description, fields] of classes) {
    text += `-------------------------------\nField Class:                  ${name}\nDescription:                  ${description}\nEvent Sources:                syscall \n\n`;
    for (const [field, help] of fields) text += `${field.padEnd(30)}${help} \n`;
    text += "\n";
  }
  process.stdout.write(text);
}

interface CommandLine {
  configPath: string | undefined;
  version: boolean;
  list: boolean;
  dryRun: boolean;
  unbuffered: boolean;
  overrides: string[];
}

function parseCommandLine(argv: readonly string[]): CommandLine {
  const line: CommandLine = {
    configPath: undefined,
    version: false,
    list: false,
    dryRun: false,
    unbuffered: false,
    overrides: [],
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "-c") line.configPath = argv[++i];
    else if (arg === "-o") line.overrides.push(argv[++i] ?? "");
    else if (arg === "--version") line.version = true;
    else if (arg === "--list" || arg.startsWith("--list=")) line.list = true;
    else if (arg === "--dry-run") line.dryRun = true;
    else if (arg === "-U" || arg === "--unbuffered") line.unbuffered = true;
    else throw new ConfigError(`Unrecognized option '${arg}'`);
  }
  return line;
}

function fail(message: string): never {
  process.stderr.write(`Error: ${message}\n`);
  process.exit(1);
}

async function main(): Promise<void> {
  let commandLine: CommandLine;
  let config: StandinConfig | undefined;
  try {
    commandLine = parseCommandLine(process.argv.slice(2));
    // Falco answers --version and --list before it loads rules.
    const withRules = !commandLine.version && !commandLine.list;
    if (commandLine.configPath !== undefined) {
      config = loadConfig(commandLine.configPath, commandLine.overrides, withRules);
    }
  } catch (err) {
    return fail((err as Error).message);
  }
  if (commandLine.version) {
    const info =
      config?.jsonOutput === true
        ? `${sortedObject(Object.entries(VERSION_INFO).map(([k, v]) => [k, JSON.stringify(v)]))}\n`
        : readableVersion();
    process.stdout.write(info);
    return;
  }
  if (commandLine.list) {
    printFieldList(config?.containerPlugin === true);
    return;
  }
  if (config === undefined)
    return fail("You must create a config file at /etc/falco/falco.yaml or by passing -c");
  if (commandLine.dryRun) return;
  if (commandLine.unbuffered) config.buffered = false;

  const falco = new StandinFalco(config, commandLine.overrides);
  process.on("SIGTERM", () => stop(falco));
  process.on("SIGINT", () => stop(falco));
  process.on("SIGHUP", () => falco.reload());
  falco.start();
  // Like Falco, it runs until it is told to stop.
  setInterval(() => undefined, 1 << 30);

  const crashFile = process.env["STANDIN_CRASH_IF_EXISTS"];
  const mode =
    crashesLeft() || (crashFile !== undefined && existsSync(crashFile))
      ? "crash"
      : process.env["STANDIN_MODE"];
  // A Falco that crashes at start (e.g. its probe does not load) never captures.
  if (mode !== "crash") watchOpens(falco, dirname(resolve(config.path)));
  if (mode === "crash") {
    await sleep(Number(process.env["STANDIN_CRASH_AFTER_MS"] ?? 0));
    log("An error occurred in an event source, forcing termination...");
    process.stderr.write("Error: Initialization issues during scap_init\n");
    process.exit(1);
  } else if (mode === "replay") {
    const file = process.env["STANDIN_REPLAY"];
    if (file === undefined) return fail("STANDIN_MODE=replay needs STANDIN_REPLAY=<file>");
    const rate = process.env["STANDIN_RATE"];
    await runReplayMode(falco, file, rate === undefined ? undefined : Number(rate));
  } else if (mode === "strace") {
    const file = process.env["STANDIN_COMMANDS"];
    if (file === undefined) return fail("STANDIN_MODE=strace needs STANDIN_COMMANDS=<json file>");
    const specs = JSON.parse(await readFile(file, "utf8")) as CommandSpec[];
    await runCommands(falco, specs);
    emitDrops(falco);
    while (process.env["STANDIN_REPEAT"] === "1") {
      await sleep(REPEAT_PAUSE_MS);
      await runCommands(falco, specs);
      falco.flush();
    }
    return;
  } else if (mode !== undefined) {
    return fail(`unknown STANDIN_MODE ${mode}`);
  }
  emitDrops(falco);
}

/**
 * Files created in the config directory become `openat` events of a host process, for the
 * agent's probe rule (services/agent/falco/config-writer.ts): the stand-in cannot see syscalls,
 * but it sees the files the agent creates there.
 */
function watchOpens(falco: StandinFalco, dir: string): void {
  const seen = new Set<string>();
  const host: CommandSpec = { cmd: [], podUid: "", containerId: "" };
  const [podUid, containerId] = (process.env["STANDIN_POD_OPENS"] ?? "/").split("/") as [string, string];
  const pod: CommandSpec = { cmd: [], podUid, containerId };
  let knowsPodProcess = process.env["STANDIN_LEARN_AT_EXEC"] !== "1";
  const probeLoss = Number(process.env["STANDIN_PROBE_LOSS"] ?? 0);
  watch(dir, (_event, name) => {
    if (name === null || seen.has(name)) return;
    seen.add(name);
    const podThread = podUid === "" ? null : /^pod-(open|exec)-(\d+)$/.exec(name);
    if (!podThread && Math.random() < probeLoss) return;
    // Only its creation is the pod's syscall, not its removal. Its time is the file's, the same
    // in every stand-in, as a kernel's timestamp is the same in every Falco's copy of an event.
    const created = podThread ? createdNs(join(dir, name)) : undefined;
    if (podThread && created === undefined) return;
    if (podThread?.[1] === "exec") knowsPodProcess = true;
    if (podThread && !knowsPodProcess) return;
    const tid = podThread ? Number(podThread[2]) : 1;
    falco.event({
      type: podThread?.[1] === "exec" ? "execve" : "openat",
      timeNs: created ?? nowNs(),
      rawres: 3n,
      pid: podThread ? POD_OPENS_PID : 1,
      tid,
      ppid: null,
      processName: podThread ? "app" : "node",
      cgroup: podThread ? cgroupPath(pod) : "/",
      rawArgs: new Map(),
      container: podThread ? pod : host,
      fdName: join(dir, name),
    });
  }).unref();
}

function createdNs(path: string): bigint | undefined {
  try {
    return statSync(path, { bigint: true }).mtimeNs;
  } catch {
    return undefined;
  }
}

/** The process of STANDIN_POD_OPENS events. */
const POD_OPENS_PID = 4242;

function emitDrops(falco: StandinFalco): void {
  const seconds = Number(process.env["STANDIN_DROPS"] ?? 0);
  for (let i = 0; i < seconds; i++) falco.drop(1);
  falco.flush();
}

function stop(falco: StandinFalco): void {
  log("SIGTERM received, exiting...");
  for (const pid of children) {
    try {
      process.kill(-pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
  falco.exit(0);
}

function readableVersion(): string {
  return [
    `Falco version: ${FALCO_VERSION}`,
    `Libs version:  ${VERSION_INFO["libs_version"]}`,
    `Plugin API:    ${VERSION_INFO["plugin_api_version"]}`,
    `Engine:        ${VERSION_INFO["engine_version_semver"]}`,
    `Driver:`,
    `  API version:    ${VERSION_INFO["driver_api_version"]}`,
    `  Schema version: ${VERSION_INFO["driver_schema_version"]}`,
    `  Default driver: ${VERSION_INFO["default_driver_version"]}`,
    "",
  ].join("\n");
}

await main();
