/**
 * Load and loss with the real Falco (SECCOMPOSE_TEST_FALCO; skipped without it, x86_64 only).
 *
 * What matters for a profile is that each distinct syscall of each container is seen at least
 * once. A target container makes a heavy stream of cheap syscalls (`dd bs=1` for LOAD_S
 * seconds) while another container of the same pod, already running, makes a known set of rare
 * syscalls, each once, at random moments; a second, non-target pod makes the same heavy stream.
 * Reported per configuration: Falco's dropped events, alerts per second, CPU seconds of Falco
 * (every Falco of the run, swaps included) and of the agent, and rare-syscall recall (the share
 * of the rare syscalls that reached the recording).
 *
 * Configurations, interleaved RUNS times (median and spread, bench/stats.ts):
 * - prototype: one catch-all rule, JSON output of every event with its output text, buffered;
 * - the agent with its own defaults, the non-target pod unknown to it (so matched by the rule);
 * - the agent with the non-target pod in its pods file and excludeNonTargetPods, so left out of the rule;
 * - the agent with the adaptive syscall set: heavy syscalls every target showed are left out
 *   of the driver set by a gap-free swap to a second Falco; recall is also split into the rare
 *   syscalls made before and after the first swap;
 * - the agent with the hot-syscall split: a second Falco for read, write and the other cheap
 *   syscalls, so the flood never reaches the driver of the Falco that reports everything else;
 *   alone and with the adaptive set.
 * Once each, Falco alone with the agent's files (its stdout parsed with the agent's parsers):
 * compact unbuffered vs buffered output (the cost of unbuffered output), the non-target pod
 * left out, and read/write left out of the driver set from the start.
 * Then the capture gap of a SIGHUP reload and of a swap (a heartbeat syscall every 2 ms across
 * swaps: how many were lost or seen twice, and the longest interval between two).
 */
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdir, mkdtemp, open, readFile, rm, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { connect } from "@nats-io/transport-node";
import { recordStrace } from "../lib/strace/record.ts";
import { pino } from "pino";
import { renderFalcoFiles, type FalcoConfigOptions } from "../services/agent/falco/config-writer.ts";
import { FalcoSupervisor } from "../services/agent/falco/supervisor.ts";
import { spread } from "./stats.ts";
import type { FalcoAlert } from "../services/agent/intake/alert.ts";
import { COMPACT_LAYOUT, createCompactParser } from "../services/agent/intake/compact-alert.ts";
import { parseJsonAlert } from "../services/agent/intake/json-alert.ts";
import { LineSplitter } from "../services/agent/falco/line-splitter.ts";
import { waitCapturing } from "../cli/session/wait-capturing.ts";
import {
  control,
  mergeStored,
  prepareBroker,
  readSessionMessages,
  sessionRecord,
} from "../test/helpers/cluster.ts";
import { startNatsServer } from "../test/helpers/nats.ts";
import {
  REAL_FALCO,
  cleanUpRealFalco,
  createContainerCgroup,
  realFalcoSkipReason,
  runInContainer,
  startRealFalcoAgent,
  workloadEnv,
  writePodsFile,
  type PodContainer,
} from "../test/helpers/real-falco.ts";

/** Seconds of `dd bs=1` in each of the two pods. */
const LOAD_S = Number(process.env.REAL_FALCO_LOAD_S ?? 8);
const RUNS = Number(process.env.REAL_FALCO_RUNS ?? 3);
/** Only the configurations whose name contains this, and no gap measurements (to try one change). */
const ONLY = process.env.REAL_FALCO_ONLY;
/** The rare syscalls are made at random moments from 0.3 s after dd starts to 0.5 s before it ends. */
const RARE_FROM_S = 0.3;
const RARE_WINDOW_S = LOAD_S - RARE_FROM_S - 0.5;

/** x86_64 numbers of syscalls a short Python program does not make by itself; checked below with strace. */
const CANDIDATES: ReadonlyArray<[string, number]> = [
  ["getsid", 124],
  ["getpgid", 121],
  ["sched_yield", 24],
  ["getpriority", 140],
  ["times", 100],
  ["umask", 95],
  ["getitimer", 36],
  ["alarm", 37],
  ["sched_getscheduler", 145],
  ["sched_get_priority_max", 146],
  ["sched_get_priority_min", 147],
  ["rt_sigpending", 127],
  ["getrusage", 98],
  ["getresuid", 118],
  ["getresgid", 120],
  ["getpgrp", 111],
  ["sched_rr_get_interval", 148],
  ["getcpu", 309],
  ["sysinfo", 99],
];

/**
 * Says it is ready (a write, after the reads of its start-up), waits `delay` s, then makes each
 * syscall number of argv once, in random order at random moments within `window` s; prints the
 * wall-clock millisecond of each call as JSON.
 */
const RARE_CALLER = `
import ctypes, json, random, sys, time
libc = ctypes.CDLL(None, use_errno=True)
print("ready", flush=True)
delay, window = float(sys.argv[1]), float(sys.argv[2])
numbers = [int(n) for n in sys.argv[3:]]
random.shuffle(numbers)
moments = sorted(random.uniform(0, window) for _ in numbers)
buf = [ctypes.create_string_buffer(512) for _ in range(3)]
start = time.monotonic() + delay
made = {}
for moment, nr in zip(moments, numbers):
    time.sleep(max(0, start + moment - time.monotonic()))
    if nr == 95: libc.syscall(nr, 0o022)
    else: libc.syscall(nr, 0, buf[0], buf[1], buf[2])
    made[nr] = time.time() * 1000
print(json.dumps(made))
`;

/** Calls getppid every 2 ms for argv[1] seconds; prints how many. */
const HEARTBEAT = `
import ctypes, sys, time
libc = ctypes.CDLL(None, use_errno=True)
end = time.monotonic() + float(sys.argv[1])
beats = 0
while time.monotonic() < end:
    libc.syscall(110)
    beats += 1
    time.sleep(0.002)
print(beats)
`;

interface Figures {
  seconds: number;
  alerts: number;
  drops: number;
  falcoCpu: number;
  agentCpu?: number;
  recall: number;
  missing: string[];
  /** Distinct syscalls seen of the rare caller's container. */
  rareContainerSyscalls: number;
  /** Adaptive only: swaps, the first one's cutover after dd started, recall before and after it. */
  swaps?: number;
  swapFailures?: number;
  lastSwapFailure?: string;
  firstSwapAfterS?: number;
  recallBefore?: [seen: number, made: number];
  recallAfter?: [seen: number, made: number];
}

/** CPU seconds of a process, and of its children it has reaped (exited Falcos of the agent). */
function cpuSeconds(pid: number, children = false): Promise<number> {
  return readFile(`/proc/${pid}/stat`, "utf8").then(
    (stat) => {
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const own = Number(fields[11]) + Number(fields[12]);
      return (children ? Number(fields[13]) + Number(fields[14]) : own) / 100;
    },
    () => 0,
  );
}

interface Config {
  name: string;
  run: () => Promise<Figures>;
}

async function main(): Promise<void> {
  const skip =
    realFalcoSkipReason() ?? (process.arch !== "x64" ? "the rare syscalls are x86_64 numbers" : undefined);
  if (skip !== undefined) {
    console.log(`skipped: ${skip}`);
    return;
  }
  const dir = await mkdtemp(join(tmpdir(), "seccompose-real-falco-bench-"));
  try {
    const rare = await rareSet(dir);
    await writeFile(join(dir, "heartbeat.py"), HEARTBEAT);
    const repeated: Config[] = [
      {
        name: "prototype: catch-all rule, JSON of every event",
        run: () => direct(dir, "prototype", {}, "json", rare, false),
      },
      {
        name: "the agent with its own defaults (one Falco; every pod's events formatted, the agent drops the non-target's)",
        run: () => viaAgent(dir, rare, { knowsOther: false, adaptive: false, hot: false }),
      },
      {
        name: "the agent with falco.excludeNonTargetPods: the non-target pod left out of the rule",
        run: () => viaAgent(dir, rare, { knowsOther: true, adaptive: false, hot: false }),
      },
      {
        name: "the agent with falco.excludeNonTargetPods and falco.adaptiveSyscalls.enabled",
        run: () => viaAgent(dir, rare, { knowsOther: true, adaptive: true, hot: false }),
      },
      {
        name: "**the agent with falco.excludeNonTargetPods and the hot-syscall split** (a second Falco for read, write, ...; the split as the DaemonSet ships it)",
        run: () => viaAgent(dir, rare, { knowsOther: true, adaptive: false, hot: true }),
      },
      {
        name: "the agent with falco.excludeNonTargetPods, falco.hotSyscalls.enabled and falco.adaptiveSyscalls.enabled",
        run: () => viaAgent(dir, rare, { knowsOther: true, adaptive: true, hot: true }),
      },
    ];
    const once: Config[] = [
      {
        name: "Falco alone, agent's files, compact sc1, unbuffered output",
        run: () => direct(dir, "unbuffered", { bufferedOutputs: false }, "compact", rare, false),
      },
      {
        name: "Falco alone, agent's files, compact sc1, buffered (as shipped; the probe flushes)",
        run: () => direct(dir, "buffered", {}, "compact", rare, false),
      },
      {
        name: "Falco alone, agent's files, non-target pod left out of the rule",
        run: () => direct(dir, "excluded", {}, "compact", rare, true),
      },
      {
        name: "Falco alone, agent's files, read/write left out of the driver set from the start",
        run: () => direct(dir, "lowered", { excludeSyscalls: ["read", "write"] }, "compact", rare, false),
      },
    ];
    if (ONLY !== undefined) {
      for (const list of [repeated, once])
        list.splice(0, list.length, ...list.filter((c) => c.name.includes(ONLY)));
    }
    const results = new Map<string, Figures[]>();
    for (let i = 0; i < RUNS; i++) {
      for (const config of repeated) {
        const figures = await config.run();
        results.set(config.name, [...(results.get(config.name) ?? []), figures]);
      }
    }
    for (const config of once) results.set(config.name, [await config.run()]);
    const gaps = ONLY === undefined ? { reload: await reloadGap(dir), swap: await swapGap(dir) } : undefined;

    console.log(
      `dd bs=1 for ${LOAD_S} s in the target pod and in a non-target pod at once; ${rare.length} rare syscalls`,
    );
    console.log(
      `made once each, at random moments from ${RARE_FROM_S} s to ${(RARE_FROM_S + RARE_WINDOW_S).toFixed(1)} s after dd started, by a running container of the target pod.`,
    );
    console.log(
      `Median of ${RUNS} interleaved runs (min–max) for the first ${repeated.length} rows; one run for the others.`,
    );
    console.log("");
    console.log(
      "| configuration | alerts/s | events Falco dropped | Falco CPU s | agent CPU s | rare-syscall recall | missed (last run) |",
    );
    console.log("|---|---|---|---|---|---|---|");
    for (const [name, runs] of results) {
      const col = (f: (x: Figures) => number | undefined, digits = 0) => {
        const values = runs.map(f).filter((v): v is number => v !== undefined);
        if (values.length === 0) return "-";
        const s = spread(values);
        const fmt = (n: number) => (digits === 0 ? Math.round(n).toLocaleString("en-US") : n.toFixed(digits));
        return s.runs === 1 ? fmt(s.median) : `${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)})`;
      };
      const last = runs.at(-1)!;
      console.log(
        `| ${name} | ${col((f) => f.alerts / f.seconds)} | ${col((f) => f.drops)} | ${col((f) => f.falcoCpu, 1)} | ${col((f) => f.agentCpu, 1)} | ${col((f) => f.recall * 100)}% | ${last.missing.join(", ") || "-"} |`,
      );
    }
    for (const config of repeated) {
      const runs = results.get(config.name)!;
      if (runs[0]!.swaps === undefined) continue;
      console.log("");
      console.log(`Adaptive syscall set, per run (${config.name}):`);
      for (const [i, f] of runs.entries()) {
        const before = f.recallBefore!;
        const after = f.recallAfter!;
        console.log(
          `- run ${i + 1}: ${f.swaps} swap(s), ${f.swapFailures} refused${f.lastSwapFailure === undefined ? "" : ` (last: ${f.lastSwapFailure})`}; the first cut over ${f.firstSwapAfterS === undefined ? "never" : `${f.firstSwapAfterS.toFixed(1)} s after dd started`}; rare syscalls seen: ${before[0]}/${before[1]} of those made before it, ${after[0]}/${after[1]} of those made after it`,
        );
      }
    }
    console.log("");
    if (gaps !== undefined) {
      const { reload, swap } = gaps;
      console.log(
        `capture gap of a reload (SIGHUP: Falco restarts in-process), from the last probe seen before to the first after: ${reload.map((ms) => `${ms} ms`).join(", ")}`,
      );
      console.log(
        `capture gap of a swap (a second Falco, then a probe as the cutover point), ${swap.swaps} swaps while a heartbeat syscall ran every 2 ms: ${swap.made} heartbeats made, ${swap.seen} seen (${swap.made - swap.seen} lost${swap.seen > swap.made ? `, ${swap.seen - swap.made} too many` : ""}); longest interval between two seen heartbeats ${swap.longestMs.toFixed(1)} ms; each swap took ${swap.durations.map((ms) => `${(ms / 1000).toFixed(1)} s`).join(", ")} from the decision to the cutover`,
      );
    }
  } finally {
    cleanUpRealFalco();
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * How long a swap stops capture: the supervisor swaps the real Falco three times (read and
 * write left out, then back, then out) while a container calls getppid every 2 ms.
 */
async function swapGap(
  dir: string,
): Promise<{ swaps: number; made: number; seen: number; longestMs: number; durations: number[] }> {
  const pod = createContainerCgroup(randomUUID(), (randomUUID() + randomUUID()).replaceAll("-", ""));
  const parse = createCompactParser(COMPACT_LAYOUT, { hostname: "bench" });
  const times: bigint[] = [];
  const supervisor = new FalcoSupervisor({
    binary: REAL_FALCO!,
    configDir: join(dir, "swap"),
    alertFormat: "compact",
    backoffMs: [1000],
    logger: pino({ level: "silent" }),
    onLine: (line) => {
      try {
        const alert = parse(line);
        if (alert.kind === "syscall" && alert.containerId === pod.containerId && alert.syscall === "getppid")
          times.push(alert.timeNs);
      } catch {
        // Not an alert of ours.
      }
    },
  });
  const sessions = [sessionRecord("swap")];
  try {
    await supervisor.apply({ sessions, excludeSyscalls: [] });
    while (supervisor.status().state !== "running") await sleep(100);
    const beats = runInContainer(pod, ["python3", join(dir, "heartbeat.py"), "16"]);
    const durations: number[] = [];
    for (const excluded of [["read", "write"], [], ["read", "write"]]) {
      await sleep(3000);
      const started = Date.now();
      await supervisor.apply({ sessions, excludeSyscalls: excluded });
      durations.push(Date.now() - started);
    }
    const made = Number((await beats).stdout.trim());
    if (!(await supervisor.barrier(10_000))) throw new Error("the final probe did not come back");
    const sorted = [...times].sort((a, b) => (a < b ? -1 : 1));
    let longest = 0;
    for (let i = 1; i < sorted.length; i++)
      longest = Math.max(longest, Number(sorted[i]! - sorted[i - 1]!) / 1e6);
    return {
      swaps: supervisor.status().driverSet.swaps,
      made,
      seen: times.length,
      longestMs: longest,
      durations,
    };
  } finally {
    await supervisor.stop();
    cleanUpRealFalco();
  }
}

/**
 * How long a reload stops capture: probes every 20 ms while Falco reloads, three times; the
 * gap is the time between the last probe seen before the SIGHUP and the first seen after it.
 */
async function reloadGap(dir: string): Promise<number[]> {
  const configDir = join(dir, "reload");
  await mkdir(configDir, { recursive: true });
  const probePrefix = `${configDir}/probe-reload-`;
  const files = renderFalcoFiles([], { configDir, alertFormat: "compact", probePrefix });
  await writeFile(files.rulesPath, files.rules);
  await writeFile(files.configPath, files.config);
  const falco = spawn(REAL_FALCO!, ["-c", files.configPath], { stdio: ["ignore", "pipe", "pipe"] });
  const seen = new Map<number, number>();
  let carry = "";
  falco.stdout.setEncoding("latin1").on("data", (chunk: string) => {
    const text = carry + chunk;
    for (const match of text.matchAll(/probe-reload-(\d+) /g)) seen.set(Number(match[1]), Date.now());
    carry = text.slice(-64);
  });
  falco.stderr.resume();
  const sent = new Map<number, number>();
  let n = 0;
  const probe = async () => {
    const path = `${probePrefix}${++n}`;
    sent.set(n, Date.now());
    await (await open(path, "w")).close();
    await unlink(path);
  };
  const gaps: number[] = [];
  try {
    while (seen.size === 0) {
      if (n > 3000) throw new Error("Falco did not capture within 60 s");
      await probe();
      await sleep(20);
    }
    for (let round = 0; round < 3; round++) {
      await sleep(2000);
      const hupAt = Date.now();
      const first = n + 1;
      falco.kill("SIGHUP");
      // A reload takes a few seconds; probing goes on well past it.
      while (Date.now() - hupAt < 8000) {
        await probe();
        await sleep(20);
      }
      await sleep(1000);
      const back = [...seen.keys()].filter((k) => k >= first - 5).sort((a, b) => a - b);
      if (back.at(-1)! < n - 50) throw new Error("Falco did not capture again after a reload");
      let longest = 0;
      for (let i = 1; i < back.length; i++) {
        longest = Math.max(longest, sent.get(back[i]!)! - sent.get(back[i - 1]!)!);
      }
      gaps.push(longest);
    }
    return gaps;
  } finally {
    falco.kill("SIGKILL");
    await new Promise((resolve) => falco.once("close", resolve));
  }
}

/** The candidates that neither the rare caller's own start-up nor dd make. */
async function rareSet(dir: string): Promise<Array<[string, number]>> {
  const script = join(dir, "rare.py");
  await writeFile(script, RARE_CALLER);
  const seen = new Set<string>();
  for (const cmd of [
    ["python3", script, "0", "0"],
    ["timeout", "5", "dd", "if=/dev/zero", "of=/dev/null", "bs=1", "count=10"],
  ]) {
    const run = await recordStrace(cmd, { cwd: "/tmp", env: workloadEnv("/tmp") });
    for (const r of run.records) if (r.kind === "syscall") seen.add(r.name);
  }
  return CANDIDATES.filter(([name]) => !seen.has(name));
}

interface Pods {
  target: PodContainer;
  targetRare: PodContainer;
  other: PodContainer;
}

function newPods(): Pods {
  const uid = randomUUID();
  const cid = () => (randomUUID() + randomUUID()).replaceAll("-", "");
  // The rare caller runs beside dd in the target pod (another container of it).
  return {
    target: createContainerCgroup(uid, cid()),
    targetRare: createContainerCgroup(uid, cid()),
    other: createContainerCgroup(randomUUID(), cid()),
  };
}

interface Load {
  seconds: number;
  /** When dd started (ms since the epoch). */
  ddAt: number;
  /** Syscall number → when the rare caller made it (ms since the epoch). */
  rareAt: Map<number, number>;
}

/**
 * The rare caller starts first (a container already running when the load begins), then dd in
 * the target and the other pod for LOAD_S seconds while the rare caller makes its syscalls.
 */
async function load(dir: string, pods: Pods, rare: ReadonlyArray<[string, number]>): Promise<Load> {
  const dd = ["timeout", String(LOAD_S), "dd", "if=/dev/zero", "of=/dev/null", "bs=1"];
  const lead = 0.5;
  const rareRun = runInContainer(pods.targetRare, [
    "python3",
    join(dir, "rare.py"),
    String(lead + RARE_FROM_S),
    String(RARE_WINDOW_S),
    ...rare.map(([, nr]) => String(nr)),
  ]);
  await sleep(lead * 1000);
  const ddAt = Date.now();
  await Promise.all([runInContainer(pods.target, dd), runInContainer(pods.other, dd)]);
  const seconds = (Date.now() - ddAt) / 1000;
  const out = (await rareRun).stdout.trim().split("\n");
  const made = JSON.parse(out.at(-1)!) as Record<string, number>;
  return { seconds, ddAt, rareAt: new Map(Object.entries(made).map(([nr, at]) => [Number(nr), at])) };
}

async function direct(
  dir: string,
  name: string,
  options: Partial<FalcoConfigOptions>,
  format: "json" | "compact",
  rare: ReadonlyArray<[string, number]>,
  excludeOther: boolean,
): Promise<Figures> {
  const pods = newPods();
  const configDir = join(dir, `direct-${randomUUID()}`);
  await mkdir(configDir, { recursive: true });
  const probePrefix = `${configDir}/probe-bench-`;
  const prototype = name.startsWith("prototype");
  const files = renderFalcoFiles([], {
    configDir,
    alertFormat: format,
    probePrefix,
    ...options,
    ...(excludeOther ? { excludePodUids: [pods.other.podUid] } : {}),
  });
  let config = files.config;
  if (prototype) {
    // The prototype: every event with its output text, buffered, no tracepoints left out.
    config = config
      .replace("json_include_output_property: false", "json_include_output_property: true")
      .replace("buffered_outputs: false", "buffered_outputs: true")
      .replace("repair: true", "repair: false")
      .replace(/custom_set:\n(\s+- .*\n)+/, "custom_set: []\n");
  }
  await writeFile(files.rulesPath, files.rules);
  await writeFile(files.configPath, config);
  const falco = spawn(REAL_FALCO!, ["-c", files.configPath], { stdio: ["ignore", "pipe", "pipe"] });
  const parse =
    format === "json" ? parseJsonAlert : createCompactParser(COMPACT_LAYOUT, { hostname: "bench" });
  const seen = new Set<string>();
  let alerts = 0;
  let drops = 0;
  /** The highest probe number seen in the raw output (a buffered probe line ends later). */
  let probed = -1;
  const lines = new LineSplitter(
    (line) => {
      if (line.includes(probePrefix)) return;
      let alert: FalcoAlert;
      try {
        alert = parse(line);
      } catch {
        return;
      }
      alerts++;
      if (alert.kind === "drop") drops += alert.nDrops;
      if (alert.kind === "syscall" && alert.containerId === pods.targetRare.containerId)
        seen.add(alert.syscall);
    },
    16 * 1024 * 1024,
    () => undefined,
  );
  let carry = "";
  falco.stdout.on("data", (chunk: Buffer) => {
    lines.push(chunk);
    const text = carry + chunk.toString("latin1");
    for (const match of text.matchAll(/probe-bench-(\d+) /g)) probed = Math.max(probed, Number(match[1]));
    carry = text.slice(-100);
  });
  falco.stderr.resume();
  // As the agent does: capture is proven, and everything before a probe is read, once it is seen.
  const probeUntilSeen = async (from: number, what: string) => {
    for (let n = from; probed < from; n++) {
      if (n > from + 240) throw new Error(`${name}: ${what} within 60 s`);
      await (await open(`${probePrefix}${n}`, "w")).close();
      await unlink(`${probePrefix}${n}`);
      await sleep(250);
    }
  };
  try {
    await probeUntilSeen(0, "Falco did not capture");
    const cpuBefore = await cpuSeconds(falco.pid!);
    const { seconds } = await load(dir, pods, rare);
    // What Falco still has queued comes out in the next seconds, then the probe flushes the rest.
    await sleep(3000);
    await probeUntilSeen(1000, "the final probe did not come back");
    const falcoCpu = (await cpuSeconds(falco.pid!)) - cpuBefore;
    const missing = rare.map(([n]) => n).filter((n) => !seen.has(n));
    return {
      seconds,
      alerts,
      drops,
      falcoCpu,
      recall: 1 - missing.length / rare.length,
      missing,
      rareContainerSyscalls: seen.size,
    };
  } finally {
    falco.kill("SIGKILL");
    await new Promise((resolve) => falco.once("close", resolve));
    cleanUpRealFalco();
  }
}

async function viaAgent(
  dir: string,
  rare: ReadonlyArray<[string, number]>,
  options: { knowsOther: boolean; adaptive: boolean; hot: boolean },
): Promise<Figures> {
  const pods = newPods();
  const server = await startNatsServer();
  const nc = await connect({ servers: server.url });
  await prepareBroker(nc);
  const entries = [
    { container: pods.target, name: "target-1", owner: "target", containerName: "dd" },
    { container: pods.targetRare, name: "target-1", owner: "target", containerName: "rare" },
    { container: pods.other, name: "other-1", owner: "other", containerName: "dd" },
  ];
  const podsFile = await writePodsFile(join(dir, `pods-${randomUUID()}.json`), "bench", entries);
  // One pods-file entry per pod: the rare container belongs to the target pod; the other pod is
  // in another namespace, so no session targets it.
  const file = JSON.parse(await readFile(podsFile, "utf8")) as {
    pods: Array<{ namespace: string; containers: Array<{ name: string; id: string }> }>;
  };
  file.pods[0]!.containers.push(...file.pods[1]!.containers);
  file.pods[2]!.namespace = "elsewhere";
  file.pods = options.knowsOther ? [file.pods[0]!, file.pods[2]!] : [file.pods[0]!];
  await writeFile(podsFile, JSON.stringify(file));
  const agent = await startRealFalcoAgent({
    node: "bench",
    natsUrls: [server.url],
    stateDir: join(dir, `agent-state-${randomUUID()}`),
    podsFile,
    configFile: {
      falco: {
        excludeNonTargetPods: options.knowsOther,
        ...(options.adaptive ? { adaptiveSyscalls: { enabled: true } } : {}),
        ...(options.hot ? { hotSyscalls: { enabled: true } } : {}),
      },
    },
  });
  try {
    const [started] = await control(nc, "start", {
      session: sessionRecord("bench1", { targets: { namespaces: ["bench"] } }),
    });
    if (!started?.ok) throw new Error("the agent did not start the session");
    const problems = await waitCapturing(nc, ["bench"], 60_000);
    if (problems.length > 0) throw new Error(problems.join("; "));
    const [health] = await control(nc, "health", {});
    const falcoPid = health!.health!.falco.pid!;
    const hotPid = health!.health!.falco.hot?.pid;
    const before = {
      falco: await cpuSeconds(falcoPid),
      hot: hotPid === undefined ? 0 : await cpuSeconds(hotPid),
      exited: await cpuSeconds(agent.pid, true),
      agent: await cpuSeconds(agent.pid),
      alerts: health!.health!.counters.alertsRead!,
    };
    const run = await load(dir, pods, rare);
    await sleep(3000);
    // Falco stops with the last session: its CPU is read before. A swapped-out Falco's CPU is
    // in the agent's reaped children's, with the part before the run taken off.
    const [during] = await control(nc, "health", {});
    const nowPid = during!.health!.falco.pid!;
    const nowHotPid = during!.health!.falco.hot?.pid;
    const falcoCpu =
      (await cpuSeconds(agent.pid, true)) -
      before.exited +
      (await cpuSeconds(nowPid)) -
      before.falco +
      (nowHotPid === undefined ? 0 : await cpuSeconds(nowHotPid)) -
      before.hot;
    await control(nc, "stop", { sessionId: "bench1" }, 1, 60_000);
    const [after] = await control(nc, "health", {});
    const merged = mergeStored(await readSessionMessages(nc, "bench1"));
    const recorded = merged.workload({
      namespace: "bench",
      kind: "Deployment",
      name: "target",
      container: "rare",
    });
    const names = new Map(rare.map(([name, nr]) => [nr, name]));
    const missing = rare.map(([n]) => n).filter((n) => !recorded.syscalls.has(n));
    const figures: Figures = {
      seconds: run.seconds,
      alerts: after!.health!.counters.alertsRead! - before.alerts,
      drops: after!.health!.counters.falcoDrops!,
      falcoCpu,
      agentCpu: (await cpuSeconds(agent.pid)) - before.agent,
      recall: 1 - missing.length / rare.length,
      missing,
      rareContainerSyscalls: recorded.syscalls.size,
    };
    if (options.adaptive) {
      const set = during!.health!.falco.driverSet!;
      figures.swaps = set.swaps;
      figures.swapFailures = set.swapFailures;
      if (set.lastSwapFailure !== undefined) figures.lastSwapFailure = set.lastSwapFailure;
      // With one swap (a lowering), the last cutover is the first.
      const cutover = set.swaps === 1 ? set.lastSwapAt : undefined;
      if (cutover !== undefined) figures.firstSwapAfterS = (cutover - run.ddAt) / 1000;
      const split = (early: boolean): [number, number] => {
        const made = [...run.rareAt].filter(([, at]) => (cutover === undefined || at < cutover) === early);
        return [made.filter(([nr]) => recorded.syscalls.has(names.get(nr)!)).length, made.length];
      };
      figures.recallBefore = split(true);
      figures.recallAfter = split(false);
    }
    return figures;
  } finally {
    await agent.dispose();
    await nc.close();
    await server.stop();
  }
}

await main();
