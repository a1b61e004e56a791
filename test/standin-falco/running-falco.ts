/**
 * The running stand-in Falco (see standin-falco.ts): its start-up log, the rule each event
 * matches and the alert it prints, buffered outputs, event drops as `syscall_event_drops` says,
 * hot restarts on SIGHUP, and the statistics Falco prints when its outputs close.
 */
import { once } from "node:events";
import { type StandinEvent, fieldValue, formatAlert, formatInternal, nowNs, textOf } from "./alert-format.ts";
import { loadConfig, type StandinConfig, type StandinRule } from "./config.ts";
import { log } from "./falco-log.ts";
import { FALCO_VERSION } from "./info-commands.ts";

const DROP_RULE = "Falco internal: syscall event drop";
const RESTART_FAILURE_RULE = "Falco internal: hot restart failure";

const BUFFER_FLUSH_BYTES = 64 * 1024;
const BUFFER_FLUSH_MS = 20;

export class RunningFalco {
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
