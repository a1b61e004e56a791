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
 * Its command line is read by command-line.ts, its configuration and rules by config.ts
 * (conditions: condition.ts); the running process is running-falco.ts, which prints its events
 * with alert-format.ts and logs with falco-log.ts; `--version` and `--list` are info-commands.ts.
 * The modes are replay-mode.ts and strace-mode.ts (strace-events.ts says what Falco would report),
 * the config directory's files config-dir-events.ts, the crashes and drops faults.ts.
 */
import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import type { CommandSpec } from "./alert-format.ts";
import { type CommandLine, parseCommandLine } from "./command-line.ts";
import { loadConfig, type StandinConfig } from "./config.ts";
import { watchOpens } from "./config-dir-events.ts";
import { log } from "./falco-log.ts";
import { crash, crashesAtStart, emitDrops } from "./faults.ts";
import { printFieldList, printVersion } from "./info-commands.ts";
import { runReplayMode } from "./replay-mode.ts";
import { RunningFalco } from "./running-falco.ts";
import { killTracedCommands, repeatCommands, runCommands } from "./strace-mode.ts";

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

  const falco = new RunningFalco(config, commandLine.overrides);
  process.on("SIGTERM", () => stop(falco));
  process.on("SIGINT", () => stop(falco));
  process.on("SIGHUP", () => falco.reload());
  falco.start();
  // Like Falco, it runs until it is told to stop.
  setInterval(() => undefined, 1 << 30);

  const mode = crashesAtStart() ? "crash" : process.env["STANDIN_MODE"];
  // A Falco that crashes at start (e.g. its probe does not load) never captures.
  if (mode !== "crash") watchOpens(falco, dirname(resolve(config.path)));
  if (mode === "crash") {
    await crash();
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
    await repeatCommands(falco, specs);
    return;
  } else if (mode !== undefined) {
    return fail(`unknown STANDIN_MODE ${mode}`);
  }
  emitDrops(falco);
}

function stop(falco: RunningFalco): void {
  log("SIGTERM received, exiting...");
  killTracedCommands();
  falco.exit(0);
}

await main();
