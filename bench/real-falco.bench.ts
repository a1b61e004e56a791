/**
 * Load and loss with the real Falco (SECCOMPOSE_TEST_FALCO; skipped without it, x86_64 only).
 *
 * What matters for a profile is that each distinct syscall of each container is seen at least
 * once. A target container makes a heavy stream of cheap syscalls (`dd bs=1`) while another
 * process in it makes a known set of rare syscalls, each once, at random moments; a second,
 * non-target pod makes the same heavy stream. Reported per configuration: Falco's dropped
 * events, alerts per second, CPU seconds of Falco (and of the agent), and rare-syscall recall
 * (the share of the rare syscalls that reached the recording).
 *
 * Configurations, in one run:
 * - prototype: one catch-all rule, JSON output of every event with its output text, buffered;
 * - agent: the real agent supervising Falco as it ships (compact `sc1`, buffered output
 *   flushed by the probe at stop), recall from what reached JetStream;
 * - compact, unbuffered: Falco with the agent's files but unbuffered output, against the same
 *   files buffered: what unbuffered output (the simple way to leave nothing in Falco's buffer
 *   at stop) would cost;
 * - non-target pods excluded: the agent's files with the non-target pod left out of the rule.
 * Falco runs alone in the "direct" configurations, its stdout parsed with the agent's parsers.
 */
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdir, mkdtemp, open, readFile, rm, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { connect } from "@nats-io/transport-node";
import { recordStrace } from "../lib/strace/record.ts";
import { renderFalcoFiles, type FalcoConfigOptions } from "../services/agent/falco/config-writer.ts";
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

const DD_COUNT = Number(process.env.REAL_FALCO_DD_COUNT ?? 2_000_000);
/** The rare syscalls' window: they are made at random moments while dd runs. */
const RARE_WINDOW_S = Number(process.env.REAL_FALCO_RARE_WINDOW_S ?? 4);

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

/** Makes each syscall number of argv once, in random order at random moments within the window. */
const RARE_CALLER = `
import ctypes, random, sys, time
libc = ctypes.CDLL(None, use_errno=True)
window = float(sys.argv[1])
numbers = [int(n) for n in sys.argv[2:]]
random.shuffle(numbers)
moments = sorted(random.uniform(0, window) for _ in numbers)
buf = [ctypes.create_string_buffer(512) for _ in range(3)]
start = time.monotonic()
for moment, nr in zip(moments, numbers):
    time.sleep(max(0, start + moment - time.monotonic()))
    if nr == 95: libc.syscall(nr, 0o022)
    else: libc.syscall(nr, 0, buf[0], buf[1], buf[2])
`;

interface Figures {
  config: string;
  seconds: number;
  alerts: number;
  drops: number;
  falcoCpu: number;
  agentCpu?: number;
  recall: number;
  missing: string[];
  /** Distinct syscalls seen of the rare caller's container: few or none when its execve was dropped. */
  rareContainerSyscalls: number;
}

function cpuSeconds(pid: number): Promise<number> {
  return readFile(`/proc/${pid}/stat`, "utf8").then(
    (stat) => {
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      return (Number(fields[11]) + Number(fields[12])) / 100;
    },
    () => 0,
  );
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
    const figures: Figures[] = [];
    const configs: Array<[string, Partial<FalcoConfigOptions>, "json" | "compact"]> = [
      ["prototype: catch-all rule, JSON of every event", {}, "json"],
      ["compact sc1, unbuffered output", { bufferedOutputs: false }, "compact"],
      ["compact sc1, buffered (as shipped; the probe flushes)", {}, "compact"],
    ];
    for (const [name, options, format] of configs) {
      figures.push(await direct(dir, name, options, format, rare, false));
    }
    figures.push(
      await direct(dir, "compact sc1, buffered, non-target pod excluded", {}, "compact", rare, true),
    );
    figures.push(
      await direct(
        dir,
        "compact sc1, buffered, driver not asked for read/write (what an adaptive mode reaches once both were seen in every target container)",
        { excludeSyscalls: ["read", "write"] },
        "compact",
        rare,
        false,
      ),
    );
    figures.push(await viaAgent(dir, rare));
    const gap = await reloadGap(dir);
    console.log(`dd bs=1 count=${DD_COUNT} in the target pod and in a non-target pod at once;`);
    console.log(
      `${rare.length} rare syscalls made once each, at random moments in ${RARE_WINDOW_S} s, in the target pod.`,
    );
    console.log("");
    console.log(
      "| configuration | alerts/s | events Falco dropped | Falco CPU s | agent CPU s | distinct syscalls of the rare caller's container | rare-syscall recall | missed |",
    );
    console.log("|---|---|---|---|---|---|---|---|");
    for (const f of figures) {
      console.log(
        `| ${f.config} | ${Math.round(f.alerts / f.seconds)} | ${f.drops} | ${f.falcoCpu.toFixed(1)} | ${f.agentCpu === undefined ? "-" : f.agentCpu.toFixed(1)} | ${f.rareContainerSyscalls} | ${(f.recall * 100).toFixed(0)}% | ${f.missing.join(", ") || "-"} |`,
      );
    }
    console.log("");
    console.log(
      `capture gap of a reload (SIGHUP: Falco restarts in-process), from the last probe seen before to the first after: ${gap.map((ms) => `${ms} ms`).join(", ")}`,
    );
  } finally {
    cleanUpRealFalco();
    await rm(dir, { recursive: true, force: true });
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
    ["python3", script, "0"],
    ["dd", "if=/dev/zero", "of=/dev/null", "bs=1", "count=10"],
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

/** dd in the target and the other pod, the rare caller in the target pod; returns the seconds. */
async function load(dir: string, pods: Pods, rare: ReadonlyArray<[string, number]>): Promise<number> {
  const dd = ["dd", "if=/dev/zero", "of=/dev/null", "bs=1", `count=${DD_COUNT}`];
  const started = Date.now();
  const script = join(dir, "rare.py");
  await Promise.all([
    runInContainer(pods.target, dd),
    runInContainer(pods.other, dd),
    // A moment after dd started, so the rare calls fall inside the heavy stream.
    sleep(200).then(() =>
      runInContainer(pods.targetRare, [
        "python3",
        script,
        String(RARE_WINDOW_S),
        ...rare.map(([, nr]) => String(nr)),
      ]),
    ),
  ]);
  return (Date.now() - started) / 1000;
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
    const seconds = await load(dir, pods, rare);
    // What Falco still has queued comes out in the next seconds, then the probe flushes the rest.
    await sleep(3000);
    await probeUntilSeen(1000, "the final probe did not come back");
    const falcoCpu = (await cpuSeconds(falco.pid!)) - cpuBefore;
    const missing = rare.map(([n]) => n).filter((n) => !seen.has(n));
    return {
      config: name,
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

async function viaAgent(dir: string, rare: ReadonlyArray<[string, number]>): Promise<Figures> {
  const pods = newPods();
  const server = await startNatsServer();
  const nc = await connect({ servers: server.url });
  await prepareBroker(nc);
  const podsFile = await writePodsFile(join(dir, "pods.json"), "bench", [
    { container: pods.target, name: "target-1", owner: "target", containerName: "dd" },
    { container: pods.targetRare, name: "target-1", owner: "target", containerName: "rare" },
  ]);
  // One pods-file entry per pod: the rare container belongs to the target pod.
  const file = JSON.parse(await readFile(podsFile, "utf8")) as {
    pods: Array<{ containers: Array<{ name: string; id: string }> }>;
  };
  file.pods[0]!.containers.push(...file.pods[1]!.containers);
  file.pods.pop();
  await writeFile(podsFile, JSON.stringify(file));
  const agent = await startRealFalcoAgent({
    node: "bench",
    natsUrls: [server.url],
    stateDir: join(dir, "agent-state"),
    podsFile,
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
    const before = {
      falco: await cpuSeconds(falcoPid),
      agent: await cpuSeconds(agent.pid),
      alerts: health!.health!.counters.alertsRead!,
    };
    const seconds = await load(dir, pods, rare);
    await sleep(3000);
    // Falco stops with the last session: its CPU is read before.
    const falcoCpu = (await cpuSeconds(falcoPid)) - before.falco;
    await control(nc, "stop", { sessionId: "bench1" }, 1, 60_000);
    const [after] = await control(nc, "health", {});
    const merged = mergeStored(await readSessionMessages(nc, "bench1"));
    const recorded = merged.workload({
      namespace: "bench",
      kind: "Deployment",
      name: "target",
      container: "rare",
    });
    const missing = rare.map(([n]) => n).filter((n) => !recorded.syscalls.has(n));
    return {
      config: "the agent as shipped (compact sc1, buffered), recall from JetStream",
      seconds,
      alerts: after!.health!.counters.alertsRead! - before.alerts,
      drops: after!.health!.counters.falcoDrops!,
      falcoCpu,
      agentCpu: (await cpuSeconds(agent.pid)) - before.agent,
      recall: 1 - missing.length / rare.length,
      missing,
      rareContainerSyscalls: recorded.syscalls.size,
    };
  } finally {
    await agent.dispose();
    await nc.close();
    await server.stop();
  }
}

await main();
