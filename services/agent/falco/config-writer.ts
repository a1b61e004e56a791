/**
 * The Falco configuration and rules file the agent runs Falco with. Both are plain strings,
 * rendered deterministically from the running sessions, so the supervisor can tell whether
 * anything changed (a reload is a hot restart inside Falco and loses events while it runs).
 *
 * Choices, with the facts behind them (shared/reference/falco.md, fixtures/falco/README.md):
 * - Only our own rules file is loaded: with `rule_matching: first` any other rule could
 *   shadow the catch-all rule.
 * - One catch-all rule for every thread in a kubelet pod cgroup. Attribution to pod and
 *   container comes from the cgroup path, which works from a container's first syscall and
 *   without the container plugin. `thread.cgroup.cpu contains "kubepods"` covers the cgroupfs
 *   (`/kubepods/...`) and systemd (`/kubepods.slice/...`) drivers, a kubelet below another
 *   cgroup root (`/kubelet.slice/kubelet-kubepods.slice/...`, `/docker/<id>/kubepods/...`),
 *   and cgroup v1 and v2 alike: on v2 the `cpu` controller's path is the unified path, and the
 *   kubelet enables `cpu` for every pod cgroup.
 * - `base_syscalls.all` keeps the I/O syscalls Falco would otherwise ignore. A rule without an
 *   `evt.type` check would also switch on the scheduler and page-fault tracepoints, which fire
 *   far more often than syscalls: both the rule (`not evt.type in (switch, page_fault)`) and
 *   `base_syscalls.custom_set` (`!switch`, `!page_fault`) exclude them. The adaptive syscall set
 *   (falco/syscall-set-policy.ts) adds more negations; `repair: true` makes Falco add back what
 *   its own state needs (clone, execve, close, ... which attribution by cgroup relies on), so
 *   only the rest really leaves the driver set. With nothing left out, repair adds nothing.
 * - The hot-syscall split (`partition`): two Falcos side by side, one (`hot`) asked only for the
 *   cheap syscalls a workload can make millions of times (read, write, futex, ...), the other
 *   (`rest`) for everything else, so no event is reported twice: the rest's driver set leaves
 *   the hot syscalls out, and the hot rule matches only them (its driver also delivers the
 *   state syscalls `repair` adds, which only the rest reports). A flood
 *   of hot syscalls overloads only the hot Falco: the rest, rare syscalls and execs included,
 *   is captured by a Falco whose driver never delivers the flood.
 * - `log_level: debug`: Falco then logs its final driver set once at start ("(N) syscalls
 *   selected in total"), which the agent reports; nothing more per event.
 * - `signaldeliver` stays in. Signal deliveries are rare next to syscalls, and they are the
 *   only sign in the stream that a container handles signals, i.e. makes `rt_sigreturn`, which
 *   Falco never reports because it does not return. Profiles add the non-returning syscalls
 *   in any case (lib/syscalls/non-returning.ts); the intake classifies the event as
 *   non-syscall.
 * - Output goes to Falco's stdout, a pipe the agent owns: no per-alert request, no file to
 *   rotate, and Falco blocks rather than loses alerts when the agent reads slowly, up to the
 *   bounded `outputs_queue` (a full queue drops alerts and logs "Outputs queue out of memory",
 *   which the supervisor reports). Every other channel is off; Falco logs to stderr.
 * - `syscall_event_drops` with threshold 0 and actions [log, alert] reports every second in
 *   which the kernel side dropped events, so no loss goes unnoticed.
 * - `watch_config_files: false`: Falco never picks up a half-written pair. A change of the files
 *   while Falco captures starts a second Falco on the other slot's files (`falco-b.yaml`), which
 *   takes over without a gap (falco-swap.ts), so the running one's files are never rewritten.
 * - A probe rule, first in the file: an `openat` of a file below `<configDir>/probe-<nonce>-`,
 *   which only the agent knows. Capture starts about 1.35 s after Falco logs that it opened its
 *   event source, so only the probe's alert coming back proves that Falco captures; and since
 *   Falco handles events in time order through one output queue, a probe alert also proves that
 *   every alert of the syscalls made before the probe has been written (the stop barrier).
 * - Buffered output keeps up to about 4 KiB of alerts (about 18 compact lines) in Falco's
 *   stdout buffer until more alerts come; a session stopped in that window lost the last
 *   syscalls of its workloads (seen with the real Falco 0.44.1). Compact alerts stay buffered
 *   (up to 2.4 times the alerts per second of unbuffered output under load, bench/real-falco.bench.ts)
 *   and the probe alert carries 16 KiB of padding: a write larger than the buffer flushes it,
 *   so the probe comes out, after everything before it. JSON alerts cannot carry the padding
 *   (only `output_fields` are shipped) and are unbuffered.
 */
import { stringify } from "yaml";
import { ErrorCodes, SeccomposeError } from "../../../lib/errors.ts";
import type { SessionRecord } from "../../../lib/contracts/types.ts";
import { COMPACT_FIELDS, compactRuleOutput } from "../intake/compact-alert.ts";

export type AlertFormat = "json" | "compact";

export type FalcoSlot = "a" | "b";

/** Which metadata fields this Falco offers; a rule naming a missing field fails to load. */
export interface FieldSupport {
  /** `container.id` (the container plugin). */
  container: boolean;
  /** `k8s.ns.name`, `k8s.pod.name`, `k8s.pod.uid` (the container plugin, from CRI sandbox labels). */
  k8s: boolean;
}

export const NO_METADATA_FIELDS: FieldSupport = { container: false, k8s: false };

/** A Falco plugin to load, as the `plugins` entries of falco.yaml describe it. */
export interface FalcoPlugin {
  name: string;
  /** A path, or a file name Falco looks up in its plugins directory (e.g. `libcontainer.so`). */
  libraryPath: string;
  initConfig?: Record<string, unknown>;
  openParams?: string;
}

export interface FalcoConfigOptions {
  /** Where falco.yaml and the rules file live; Falco gets absolute paths to both. */
  configDir: string;
  alertFormat: AlertFormat;
  /** What `falco --list` reported for this configuration (see detectFieldSupport). */
  fieldSupport?: FieldSupport;
  /** Plugins to load, e.g. the container plugin; none by default. */
  plugins?: readonly FalcoPlugin[];
  /** Serve /healthz on this loopback port; the webserver is off without it. */
  webserverPort?: number;
  /** Alerts Falco may hold while the agent reads slowly, before it drops them. */
  outputsQueueCapacity?: number;
  /**
   * Confine the rule to the sessions' namespaces when Falco has the `k8s.*` fields and every
   * session names its namespaces. Saves Falco formatting alerts nobody wants, but the rule
   * then changes with the set of namespaces, and every change is a reload: a hot restart that
   * loses the events of all sessions on the node while it runs. Off by default.
   */
  narrowToNamespaces?: boolean;
  /** Absolute path prefix of the probe files (see the probe rule above); no probe rule without it. */
  probePrefix?: string;
  /**
   * Pods no session targets: their events are not even formatted, which is most of Falco's work
   * per event. Pods not named here (a pod that appeared since) stay in, so a new target pod is
   * recorded from its first syscall. Changing the list is a reload (a capture gap).
   */
  excludePodUids?: readonly string[];
  /**
   * Syscalls (Falco event names) the driver is not asked for: `base_syscalls.custom_set`
   * negations, which win over the rule's event types (Falco's repair adds back what its state
   * needs). The probe's `openat` is never left out. Set by the adaptive syscall set.
   */
  excludeSyscalls?: readonly string[];
  /**
   * Host tids of pod threads that ran before this Falco starts (pod-threads.ts): matched even
   * when Falco's start-up scan left them unknown. Listed at each start, not part of what
   * decides whether the configuration changed.
   */
  unknownPodThreads?: readonly number[];
  /** Which pair of files: Falco runs from one slot while a successor starts from the other. */
  slot?: FalcoSlot;
  /** Falco's `buffered_outputs` (default: compact alerts only); to measure what it changes. */
  bufferedOutputs?: boolean;
  /**
   * This Falco's share when two split the syscalls (hot-syscall split, see the top of this file):
   * `hot` captures only `syscalls` (Falco event names), `rest` everything else.
   */
  partition?: SyscallPartition;
}

/** One of the two Falcos of a hot-syscall split, and the hot syscalls (Falco event names). */
export interface SyscallPartition {
  role: "hot" | "rest";
  syscalls: readonly string[];
}

export interface FalcoFiles {
  configPath: string;
  rulesPath: string;
  /** falco.yaml */
  config: string;
  rules: string;
}

export const CONFIG_FILE_NAME = "falco.yaml";
export const RULES_FILE_NAME = "seccompose_rules.yaml";
export const RULE_NAME = "seccompose_capture";
export const PROBE_RULE_NAME = "seccompose_probe";
/** The syscall (Falco event name) of the capture probe. */
export const PROBE_SYSCALL = "openat";
/**
 * Syscalls (kernel names) Falco's `repair` adds back when they are left out, because its
 * process and fd state needs them (libs `sinsp_repair_state_sc_set`): leaving them out gains
 * nothing, and cgroup attribution relies on clone and execve.
 */
export const FALCO_STATE_SYSCALLS: readonly string[] = [
  "accept",
  "accept4",
  "bind",
  "capset",
  "chdir",
  "chroot",
  "clone",
  "clone3",
  "close",
  "connect",
  "execve",
  "execveat",
  "fchdir",
  "fork",
  "getsockopt",
  "listen",
  "prctl",
  "setgid",
  "setpgid",
  "setresgid",
  "setresuid",
  "setsid",
  "setuid",
  "socket",
  "vfork",
];
/** Longer than any stdio or iostream buffer, so the probe alert flushes what is buffered before it. */
const PROBE_PADDING = "=".repeat(16 * 1024);
/** The cgroup field the condition tests and the alert layouts carry (COMPACT_FIELDS ends with it). */
export const CGROUP_FIELD = "thread.cgroup.cpu";
export const DEFAULT_OUTPUTS_QUEUE_CAPACITY = 262_144;
/** The marker that opens the JSON rule output; only `output_fields` is shipped, not this text. */
const JSON_OUTPUT_MARKER = "sc1";

const CONTAINER_FIELDS = ["container.id"] as const;
const K8S_FIELDS = ["k8s.ns.name", "k8s.pod.name", "k8s.pod.uid"] as const;
const EVENT_TYPES = "not evt.type in (switch, page_fault)";
// A namespace is a DNS label; anything else cannot name one and must not reach a condition.
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const FIELD_LINE = /^([a-z][a-z0-9_]*(?:\.[A-Za-z0-9_]+)+)(?:[\s[]|$)/;

/**
 * Which metadata fields a Falco offers, from the output of `falco --list` (the full listing, or
 * names only with `-N`). Field names start in the first column; class headers, descriptions and
 * wrapped description lines do not.
 */
export function detectFieldSupport(listFieldsOutput: string): FieldSupport {
  const fields = new Set<string>();
  for (const line of listFieldsOutput.split("\n")) {
    const match = FIELD_LINE.exec(line);
    if (match) fields.add(match[1]!);
  }
  return {
    container: CONTAINER_FIELDS.every((field) => fields.has(field)),
    k8s: K8S_FIELDS.every((field) => fields.has(field)),
  };
}

/** falco.yaml and the rules file for these sessions. */
export function renderFalcoFiles(
  sessions: readonly SessionRecord[],
  options: FalcoConfigOptions,
): FalcoFiles {
  const suffix = options.slot === "b" ? "-b" : "";
  const configPath = `${options.configDir}/${CONFIG_FILE_NAME.replace(".yaml", `${suffix}.yaml`)}`;
  const rulesPath = `${options.configDir}/${RULES_FILE_NAME.replace(".yaml", `${suffix}.yaml`)}`;
  return {
    configPath,
    rulesPath,
    config: renderConfig(rulesPath, options),
    rules: renderRules(
      options.narrowToNamespaces === true ? sessions : [],
      options.alertFormat,
      options.fieldSupport ?? NO_METADATA_FIELDS,
      options.probePrefix,
      options.excludePodUids ?? [],
      options.unknownPodThreads ?? [],
      options.partition,
    ),
  };
}

/**
 * The rule condition: every event of kubelet pod cgroups, narrowed to the namespaces of
 * `narrowingSessions` when Falco has the `k8s.*` fields (no narrowing for an empty list).
 */
export function ruleCondition(
  narrowingSessions: readonly SessionRecord[],
  fieldSupport: FieldSupport,
  unknownPodThreads: readonly number[] = [],
): string {
  const namespaces = fieldSupport.k8s ? targetNamespaces(narrowingSessions) : null;
  const base = `${podThreadCondition(unknownPodThreads)} and ${EVENT_TYPES}`;
  if (namespaces === null) return base;
  // The container plugin may not have looked a new container up yet; its first syscalls (the
  // exec and the loader's) matter most for a profile, so events without a namespace stay in.
  return `${base} and (not k8s.ns.name exists or k8s.ns.name in (${namespaces.join(", ")}))`;
}

/**
 * Threads of pod cgroups; with `unknownPodThreads`, also those of them a Falco that could not
 * scan them at start knows no cgroup of (pod-threads.ts restores it from /proc).
 */
function podThreadCondition(unknownPodThreads: readonly number[]): string {
  const inPods = `${CGROUP_FIELD} contains "kubepods"`;
  const tids = unknownPodThreads.filter((tid) => Number.isSafeInteger(tid) && tid > 0);
  if (tids.length === 0) return inPods;
  return `(${inPods} or (not ${CGROUP_FIELD} exists and thread.tid in (${tids.join(", ")})))`;
}

/** The rule `output`: the intake's compact layout, or `key=%field` pairs whose values JSON output carries. */
export function ruleOutput(alertFormat: AlertFormat, fieldSupport: FieldSupport): string {
  if (alertFormat === "compact") return compactRuleOutput();
  // The compact layout's `evt.rawtime` is redundant here: JSON alerts carry `evt.time` anyway.
  const fields: string[] = COMPACT_FIELDS.filter((field) => field !== "evt.rawtime");
  if (fieldSupport.container) fields.push(...CONTAINER_FIELDS);
  if (fieldSupport.k8s) fields.push(...K8S_FIELDS);
  return [JSON_OUTPUT_MARKER, ...fields.map((field) => `${field}=%${field}`)].join(" ");
}

/**
 * The sorted namespaces all sessions are confined to, or null when some session is not
 * confined to namespaces (or names one that cannot exist), so no narrowing is possible.
 */
function targetNamespaces(sessions: readonly SessionRecord[]): string[] | null {
  const namespaces = new Set<string>();
  for (const session of sessions) {
    const own = session.targets.namespaces;
    if (own === undefined || own.length === 0) return null;
    for (const namespace of own) {
      if (!DNS_LABEL.test(namespace)) return null;
      namespaces.add(namespace);
    }
  }
  return namespaces.size === 0 ? null : [...namespaces].sort();
}

/** A UID is 8-4-4-4-12 hex; anything else cannot name a pod cgroup and must not reach a condition. */
const POD_UID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * ` and not (…)` over the pods' cgroup names in both kubelet drivers: `pod<uid>` (cgroupfs)
 * and `pod<uid with _>` (systemd, `kubepods-burstable-pod<uid_>.slice`).
 */
export function podExclusion(podUids: readonly string[]): string {
  const uids = [...new Set(podUids)].filter((uid) => POD_UID.test(uid)).sort();
  if (uids.length === 0) return "";
  const tests = uids.flatMap((uid) => [
    `${CGROUP_FIELD} contains "pod${uid}"`,
    `${CGROUP_FIELD} contains "pod${uid.replaceAll("-", "_")}"`,
  ]);
  return ` and not (${tests.join(" or ")})`;
}

function renderRules(
  narrowingSessions: readonly SessionRecord[],
  alertFormat: AlertFormat,
  fieldSupport: FieldSupport,
  probePrefix: string | undefined,
  excludePodUids: readonly string[],
  unknownPodThreads: readonly number[],
  partition: SyscallPartition | undefined,
): string {
  const rule = {
    rule: RULE_NAME,
    desc: "every event of processes in kubelet pod cgroups (seccompose agent)",
    condition:
      ruleCondition(narrowingSessions, fieldSupport, unknownPodThreads) +
      podExclusion(excludePodUids) +
      partitionCondition(partition),
    output: ruleOutput(alertFormat, fieldSupport),
    priority: "DEBUG",
    source: "syscall",
    tags: ["seccompose"],
    // The rule matches nearly every event type on purpose.
    warn_evttypes: false,
  };
  if (probePrefix === undefined) return yamlText([rule]);
  if (/["\\\n]/.test(probePrefix)) {
    throw new SeccomposeError(
      ErrorCodes.SC_CONFIG_INVALID,
      `the Falco configuration directory ${probePrefix} cannot be quoted in a rule condition`,
    );
  }
  const probe = {
    rule: PROBE_RULE_NAME,
    desc: "the agent's own probe: proves capture and flushes the alerts before it (seccompose agent)",
    condition: `evt.type = ${PROBE_SYSCALL} and fd.name startswith "${probePrefix}"`,
    output: `${PROBE_RULE_NAME} %fd.name ${PROBE_PADDING}`,
    priority: "DEBUG",
    source: "syscall",
    tags: ["seccompose"],
  };
  return yamlText([probe, rule]);
}

function renderConfig(rulesPath: string, options: FalcoConfigOptions): string {
  const plugins = options.plugins ?? [];
  const config = {
    rules_files: [rulesPath],
    watch_config_files: false,
    load_plugins: plugins.map((plugin) => plugin.name),
    plugins: plugins.map(pluginEntry),
    engine: {
      kind: "modern_ebpf",
      modern_ebpf: { cpus_for_each_buffer: 2, buf_size_preset: 4, drop_failed_exit: false },
    },
    base_syscalls: driverSet(options),
    // Rules below this priority are not even loaded.
    priority: "debug",
    rule_matching: "first",
    json_output: options.alertFormat === "json",
    json_include_output_property: false,
    json_include_message_property: false,
    json_include_tags_property: false,
    json_include_output_fields_property: true,
    time_format_iso_8601: false,
    // Anything appended (e.g. a plugin's suggested fields) would land after the compact
    // layout's last field.
    append_output: [],
    buffered_outputs: options.bufferedOutputs ?? options.alertFormat === "compact",
    outputs_queue: { capacity: options.outputsQueueCapacity ?? DEFAULT_OUTPUTS_QUEUE_CAPACITY },
    stdout_output: { enabled: true },
    syslog_output: { enabled: false },
    file_output: { enabled: false },
    http_output: { enabled: false },
    program_output: { enabled: false, keep_alive: false, program: "cat" },
    webserver:
      options.webserverPort === undefined
        ? { enabled: false }
        : {
            enabled: true,
            listen_address: "127.0.0.1",
            listen_port: options.webserverPort,
            k8s_healthz_endpoint: "/healthz",
            prometheus_metrics_enabled: false,
            ssl_enabled: false,
          },
    syscall_event_drops: {
      threshold: 0,
      actions: ["log", "alert"],
      rate: 1,
      max_burst: 1,
      simulate_drops: false,
    },
    metrics: { enabled: false },
    log_stderr: true,
    log_syslog: false,
    log_level: "debug",
  };
  return yamlText(config);
}

const EVENT_NAME = /^[a-z][a-z0-9_]*$/;

/**
 * `base_syscalls`: the driver set is what the rules name (every event type for the one catch-all
 * rule, only its syscalls and the probe's for a hot partition) plus `custom_set`, minus its
 * negations: the scheduler and page-fault tracepoints, what is left out, and the hot syscalls for
 * the rest. `repair` adds back what Falco's own state needs in every case.
 */
function driverSet(options: FalcoConfigOptions): { all: true; custom_set: string[]; repair: true } {
  const keep = (name: string): boolean => options.probePrefix === undefined || name !== PROBE_SYSCALL;
  const excluded = (options.excludeSyscalls ?? []).filter(keep);
  const partition = options.partition;
  if (partition?.role === "hot") {
    const left = new Set(excluded);
    const own = partition.syscalls.filter((name) => !left.has(name) && EVENT_NAME.test(name));
    const probe = options.probePrefix === undefined ? [] : [PROBE_SYSCALL];
    return {
      // `all` is what keeps read, write and the other I/O syscalls Falco ignores by default.
      all: true,
      custom_set: [...new Set([...own, ...probe])].sort().concat(syscallNegations(excluded)),
      repair: true,
    };
  }
  const hot = partition === undefined ? [] : partition.syscalls.filter(keep);
  return {
    all: true,
    custom_set: ["!switch", "!page_fault", ...syscallNegations([...excluded, ...hot])],
    repair: true,
  };
}

/**
 * The hot Falco's rule matches only the hot syscalls (its driver also delivers the state
 * syscalls repair adds). The rest's rule has no such test: its driver never delivers a hot
 * syscall, and Falco indexes `not evt.type in (...)` by event code, so a negated syscall without
 * an event of its own (e.g. `epoll_pwait`) would take every such generic syscall out of the rule.
 */
function partitionCondition(partition: SyscallPartition | undefined): string {
  if (partition === undefined) return "";
  const names = [...new Set(partition.syscalls)].filter((name) => EVENT_NAME.test(name)).sort();
  if (names.length === 0) {
    throw new SeccomposeError(ErrorCodes.SC_CONFIG_INVALID, "a hot-syscall split needs at least one syscall");
  }
  return partition.role === "hot" ? ` and evt.type in (${names.join(", ")})` : "";
}

function syscallNegations(names: readonly string[]): string[] {
  return [...new Set(names)]
    .filter((name) => EVENT_NAME.test(name))
    .sort()
    .map((name) => `!${name}`);
}

function pluginEntry(plugin: FalcoPlugin): Record<string, unknown> {
  const entry: Record<string, unknown> = { name: plugin.name, library_path: plugin.libraryPath };
  if (plugin.initConfig !== undefined) entry["init_config"] = plugin.initConfig;
  if (plugin.openParams !== undefined) entry["open_params"] = plugin.openParams;
  return entry;
}

function yamlText(value: unknown): string {
  return `# Written by the seccompose agent; rewritten whenever its Falco configuration changes.\n${stringify(value, { lineWidth: 0 })}`;
}
