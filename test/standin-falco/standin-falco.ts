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
 * Its configuration and rules are read by config.ts (conditions: condition.ts), its command line
 * by command-line.ts; the running process is running-falco.ts, which prints its events with
 * alert-format.ts and logs with falco-log.ts; `--version` and `--list` are info-commands.ts.
 */
import { spawn } from "node:child_process";
import { createReadStream, existsSync, readFileSync, statSync, watch, writeFileSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { constants, tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { straceCommand } from "../../lib/strace/command.ts";
import { StraceParser, type SyscallRecord } from "../../lib/strace/parse.ts";
import { readStraceFile } from "../../lib/strace/read.ts";
import { type CommandSpec, nowNs } from "./alert-format.ts";
import { type CommandLine, parseCommandLine } from "./command-line.ts";
import { loadConfig, type StandinConfig } from "./config.ts";
import { log } from "./falco-log.ts";
import { printFieldList, printVersion } from "./info-commands.ts";
import { StandinFalco } from "./running-falco.ts";

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
// Other modes

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
    printVersion(config?.jsonOutput === true);
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

await main();
