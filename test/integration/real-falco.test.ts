/**
 * The real agent supervising the real Falco 0.44.1 (SECCOMPOSE_TEST_FALCO; skipped without it).
 * Workloads run in kubelet-style pod cgroups; per container the recorded syscall set must equal
 * strace's for the same command, except the syscalls that never return (Falco reports only exit
 * events; the agent adds them), and each workload then runs under its profile with libseccomp.
 * Also: the recording health (capture proven before start returns, the end of a recording
 * flushed before FIN, a SIGKILLed Falco reported as a gap, drops counted and qualifying the
 * result) and the metadata-field detection on a Falco without the container plugin.
 *
 * All real-Falco tests live in this one file: only one real Falco may run at a time.
 */
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { AgentHealth, FinMarker } from "../../lib/contracts/types.ts";
import { countsByNode, type ObservationSet } from "../../lib/profile/observations.ts";
import { sourceFromObservations } from "../../lib/profile/profile-source.ts";
import { renderOciProfile } from "../../lib/profile/render.ts";
import { recordStrace } from "../../lib/strace/record.ts";
import { scmpArchesForNode } from "../../lib/syscalls/architectures.ts";
import { nonReturningSyscalls } from "../../lib/syscalls/non-returning.ts";
import { waitCapturing } from "../../cli/session/wait-capturing.ts";
import { detectFieldSupport, renderFalcoFiles } from "../../services/agent/falco/config-writer.ts";
import { writeFileAtomic } from "../../lib/atomic-file.ts";
import {
  control,
  mergeStored,
  prepareBroker,
  readSessionMessages,
  sessionRecord,
} from "../helpers/cluster.ts";
import { runUnderProfile } from "../helpers/enforce.ts";
import { startAggregatorProcess } from "../helpers/aggregator-process.ts";
import { runCli } from "./cli.ts";
import { eventually } from "../helpers/eventually.ts";
import { FALCO_FIXTURES_DIR } from "../helpers/falco-fixtures.ts";
import { startNatsServer, type NatsServerHandle } from "../helpers/nats.ts";
import {
  REAL_FALCO,
  announceSkip,
  cleanUpRealFalco,
  createContainerCgroup,
  runInContainer,
  startRealFalcoAgent,
  workloadEnv,
  writePodsFile,
  type PodContainer,
  type RealFalcoAgent,
} from "../helpers/real-falco.ts";

const skip = announceSkip("real-falco.test.ts");
const NON_RETURNING = new Set(nonReturningSyscalls(scmpArchesForNode(process.arch)));
const NAMESPACE = "shop";
const CWD = "/tmp";
const run = promisify(execFile);

interface Workload {
  title: string;
  owner: string;
  cmd: string[];
}

const FORK_EXEC = [
  "import os",
  "pid = os.fork()",
  "if pid == 0:",
  "    os.execv('/bin/echo', ['echo', 'child'])",
  "os.waitpid(pid, 0)",
  "print('parent')",
].join("\n");

const WORKLOADS: Workload[] = [
  {
    title: "a shell pipeline",
    owner: "pipeline",
    cmd: ["sh", `${FALCO_FIXTURES_DIR}/workloads/pipeline.sh`],
  },
  {
    title: "a threaded program with sockets and a signal",
    owner: "sockets",
    cmd: ["python3", `${FALCO_FIXTURES_DIR}/workloads/sockets_threads.py`],
  },
  { title: "a program that forks and execs", owner: "forker", cmd: ["python3", "-c", FORK_EXEC] },
  {
    title: "a program that exits by a signal",
    owner: "signalled",
    cmd: ["sh", "-c", "echo bye; kill -TERM $$"],
  },
];
/** Extra containers: workloads started right after capture, load, a flood beside rare syscalls. */
const EXTRA = ["early", "late", "load", "survivor", "flood", "rare"] as const;

/** x86_64 numbers of syscalls Python does not make by itself (bench/real-falco.bench.ts checks). */
const RARE_SYSCALLS: ReadonlyArray<[string, number]> = [
  ["getsid", 124],
  ["getpgid", 121],
  ["getpriority", 140],
  ["times", 100],
  ["getitimer", 36],
  ["sched_getscheduler", 145],
  ["getrusage", 98],
  ["sched_rr_get_interval", 148],
];

/** Makes each syscall number of argv once, at random moments over argv[1] seconds. */
const RARE_CALLER = [
  "import ctypes, random, sys, time",
  "libc = ctypes.CDLL(None, use_errno=True)",
  "buf = ctypes.create_string_buffer(512)",
  "window = float(sys.argv[1])",
  "for nr in map(int, sys.argv[2:]):",
  "    time.sleep(random.uniform(0, window / (len(sys.argv) - 2)))",
  "    libc.syscall(nr, 0, buf, buf, buf)",
].join("\n");

function containerId(): string {
  return (randomUUID() + randomUUID()).replaceAll("-", "");
}

function keyOf(owner: string) {
  return { namespace: NAMESPACE, kind: "Deployment", name: owner, container: "main" };
}

describe.skipIf(skip)("the real agent supervising the real Falco", () => {
  let dir: string;
  let server: NatsServerHandle;
  let nc: NatsConnection;
  let podsFile: string;
  let agent: RealFalcoAgent | undefined;
  const containers = new Map<string, PodContainer>();
  let sessions = 0;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "seccompose-real-falco-"));
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
    await prepareBroker(nc);
    const owners = [...WORKLOADS.map((w) => w.owner), ...EXTRA];
    for (const owner of owners) containers.set(owner, createContainerCgroup(randomUUID(), containerId()));
    podsFile = await writePodsFile(
      join(dir, "pods.json"),
      NAMESPACE,
      owners.map((owner) => ({
        container: containers.get(owner)!,
        name: `${owner}-1`,
        owner,
        containerName: "main",
      })),
    );
  });

  afterEach(async () => {
    await agent?.dispose();
    agent = undefined;
  });

  afterAll(async () => {
    await agent?.dispose();
    cleanUpRealFalco();
    await nc?.close();
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  async function startAgent(format: "compact" | "json", backoffMs = [1000]): Promise<RealFalcoAgent> {
    agent = await startRealFalcoAgent({
      node: `node-${format}`,
      natsUrls: [server.url],
      stateDir: join(dir, `state-${++sessions}`),
      podsFile,
      alertFormat: format,
      configFile: { falco: { restartBackoffMs: backoffMs } },
    });
    return agent;
  }

  async function health(node: string): Promise<AgentHealth> {
    const replies = await control(nc, "health", {});
    return replies.find((r) => r.node === node)!.health!;
  }

  /** Starts a session and returns when Falco captures, as `seccompose start` does. */
  async function startSession(node: string, namespace = NAMESPACE): Promise<string> {
    const id = `real${sessions}`;
    const [started] = await control(nc, "start", {
      session: sessionRecord(id, { targets: { namespaces: [namespace] } }),
    });
    expect(started?.ok).toBe(true);
    expect(await waitCapturing(nc, [node], 60_000)).toEqual([]);
    return id;
  }

  async function stopSession(id: string): Promise<{ merged: ObservationSet; fin: FinMarker }> {
    const [stopped] = await control(nc, "stop", { sessionId: id }, 1, 30_000);
    expect(stopped?.ok).toBe(true);
    const stored = await readSessionMessages(nc, id);
    const fin = stored.find((s) => s.message.kind === "fin")?.message as FinMarker;
    expect(fin).toBeDefined();
    return { merged: mergeStored(stored), fin };
  }

  async function straceSet(cmd: string[]): Promise<{ set: Set<string>; stdout: string }> {
    const strace = await recordStrace(cmd, { cwd: CWD, env: workloadEnv(CWD), stdio: "pipe" });
    const set = new Set(
      strace.records.flatMap((r) => (r.kind === "syscall" && !NON_RETURNING.has(r.name) ? [r.name] : [])),
    );
    return { set, stdout: strace.stdout };
  }

  function recordedSet(merged: ObservationSet, owner: string): Set<string> {
    return new Set([...merged.workload(keyOf(owner)).syscalls.keys()].filter((n) => !NON_RETURNING.has(n)));
  }

  describe.each(["compact", "json"] as const)("%s alerts", (format) => {
    it("records per container exactly strace's syscalls, and each workload runs under its profile", async () => {
      await startAgent(format);
      const id = await startSession(`node-${format}`);
      const unconfined = new Map<string, Awaited<ReturnType<typeof runInContainer>>>();
      for (const w of WORKLOADS)
        unconfined.set(w.owner, await runInContainer(containers.get(w.owner)!, w.cmd, CWD));
      const { merged, fin } = await stopSession(id);
      // A run that lost events could not be compared; the FIN says so.
      expect(fin.gaps ?? []).toEqual([]);

      for (const w of WORKLOADS) {
        const expected = await straceSet(w.cmd);
        expect(recordedSet(merged, w.owner), w.title).toEqual(expected.set);
        // Falco never reports the syscalls that do not return; the agent adds them.
        for (const n of NON_RETURNING) expect(merged.workload(keyOf(w.owner)).syscalls.has(n)).toBe(true);

        const { profile } = renderOciProfile(sourceFromObservations(merged.workload(keyOf(w.owner)), []), {
          baseline: "none",
        });
        const confined = await runUnderProfile(profile, w.cmd, { cwd: CWD, env: workloadEnv(CWD) });
        const original = unconfined.get(w.owner)!;
        expect(confined.stderr, w.title).toBe(original.stderr);
        expect({ code: confined.code, signal: confined.signal }, w.title).toEqual({
          code: original.code,
          signal: original.signal,
        });
        expect(confined.stdout, w.title).toBe(original.stdout);
      }
    });
  });

  it("records a workload started the moment capture is reported, and the last syscalls of a short one", async () => {
    await startAgent("compact");
    const id = await startSession("node-compact");
    // Right after start returned: Falco was started by this session moments ago.
    const early = await runInContainer(containers.get("early")!, ["ls", "/"], CWD);
    expect(early.code).toBe(0);
    // A short workload whose last syscalls are the first to be lost without the stop barrier.
    const late = await runInContainer(containers.get("late")!, ["sha256sum", "/etc/hostname"], CWD);
    expect(late.code).toBe(0);
    const { merged, fin } = await stopSession(id);
    expect(fin.gaps ?? []).toEqual([]);
    expect(recordedSet(merged, "early")).toEqual((await straceSet(["ls", "/"])).set);
    expect(recordedSet(merged, "late")).toEqual((await straceSet(["sha256sum", "/etc/hostname"])).set);
  });

  it("restarts a SIGKILLed Falco with backoff, reports the lost window as a gap, and still records, a process that ran through the restart included", async () => {
    const a = await startAgent("compact", [1000]);
    const id = await startSession("node-compact");
    // Waits for a file, then makes a syscall nothing else here makes (getpgid).
    const go = join(dir, `go-${sessions}`);
    const survivorRun = runInContainer(
      containers.get("survivor")!,
      [
        "python3",
        "-c",
        `import ctypes, os, time\nwhile not os.path.exists(${JSON.stringify(go)}): time.sleep(0.05)\nctypes.CDLL(None).syscall(121, 0)`,
      ],
      CWD,
    );
    const before = await health("node-compact");
    const killedAt = Date.now();
    process.kill(before.falco.pid!, "SIGKILL");
    const down = await eventually("the agent to see Falco die", async () => {
      const h = await health("node-compact");
      return h.falco.state !== "running" ? h : undefined;
    });
    expect(down.falco.lastExit).toBe("signal SIGKILL");
    const ready = await fetch(`http://127.0.0.1:${a.httpPort}/readyz`);
    if (down.falco.state === "backoff") expect(ready.status).toBe(503);
    expect(await waitCapturing(nc, ["node-compact"], 60_000)).toEqual([]);
    const after = await health("node-compact");
    expect(after.falco.restarts).toBe(1);
    expect(after.falco.pid).not.toBe(before.falco.pid);

    const w = WORKLOADS[0]!;
    await runInContainer(containers.get(w.owner)!, w.cmd, CWD);
    // The process that ran through the restart: the new Falco does not know it, the agent does.
    await writeFile(go, "");
    const survivor = await survivorRun;
    expect(survivor.code, survivor.stderr).toBe(0);
    const { merged, fin } = await stopSession(id);
    expect(merged.workload(keyOf("survivor")).syscalls.has("getpgid")).toBe(true);
    expect(fin.gaps).toHaveLength(1);
    const gap = fin.gaps![0]!;
    expect(gap.reason).toBe("Falco exited (signal SIGKILL)");
    expect(gap.from).toBeGreaterThanOrEqual(killedAt - 1000);
    expect(gap.to).toBeGreaterThan(gap.from + 900);
    expect(gap.to).toBeLessThanOrEqual(Date.now());
    expect(recordedSet(merged, w.owner)).toEqual((await straceSet(w.cmd)).set);
  });

  it("counts the events Falco reports dropped under load, and names the window in the FIN", async () => {
    await startAgent("compact");
    const id = await startSession("node-compact");
    const load = await runInContainer(
      containers.get("load")!,
      ["dd", "if=/dev/zero", "of=/dev/null", "bs=1", "count=3000000"],
      CWD,
    );
    expect(load.code).toBe(0);
    const { fin } = await stopSession(id);
    const h = await health("node-compact");
    expect(fin.droppedEvents).toBeGreaterThan(0);
    // Falco runs on until it is stopped after the FIN: drops of the next second count on the node only.
    expect(h.counters.falcoDrops).toBeGreaterThanOrEqual(fin.droppedEvents);
    const drops = (fin.gaps ?? []).filter((g) => g.reason?.startsWith("Falco dropped"));
    expect(drops.length).toBeGreaterThan(0);
    expect(drops.map((g) => Number(/dropped (\d+)/.exec(g.reason!)![1])).reduce((a, b) => a + b)).toBe(
      fin.droppedEvents,
    );
  });

  it("a cluster-shaped run: two nodes with their own real Falco, the aggregator and the CLI, one workload with a replica on each", async () => {
    const aggregator = await startAggregatorProcess({ natsUrls: [server.url] });
    const replicas = [
      { node: "node-1", cmd: ["ls", "/"] },
      { node: "node-2", cmd: ["sha256sum", "/etc/hostname"] },
    ];
    const nodeAgents: RealFalcoAgent[] = [];
    try {
      for (const [i, r] of replicas.entries()) {
        const container = createContainerCgroup(randomUUID(), containerId());
        containers.set(r.node, container);
        // Each node knows only its own pod, as its pod watch would.
        const nodePods = await writePodsFile(join(dir, `${r.node}.pods.json`), NAMESPACE, [
          { container, name: `web-${i + 1}`, owner: "web", containerName: "main" },
        ]);
        nodeAgents.push(
          await startRealFalcoAgent({
            node: r.node,
            natsUrls: [server.url],
            stateDir: join(dir, `state-${r.node}`),
            podsFile: nodePods,
          }),
        );
      }
      const env = {
        ...process.env,
        HOME: dir,
        KUBECONFIG: "",
        SECCOMPOSE_CONFIG: join(dir, "cli-config.yaml"),
        SECCOMPOSE_NATS_URL: server.url,
      };
      const started = await runCli(["start", "-n", NAMESPACE, "--id", "cluster1", "--expect-agents", "2"], {
        env,
      });
      expect(started.stderr).toContain("on 2 node(s): node-1, node-2");
      expect(started.code, started.stderr).toBe(0);
      // start returned, so both Falcos capture: the replicas run right away.
      for (const r of replicas)
        expect((await runInContainer(containers.get(r.node)!, r.cmd, CWD)).code).toBe(0);

      const out = join(dir, "cluster1");
      const stopped = await runCli(["stop", "cluster1", "--timeout", "60s", "--output-dir", out], { env });
      expect(stopped.stderr).toContain("finalised: complete");
      expect(stopped.code, stopped.stderr).toBe(0);
      const files = stopped.stdout.trim().split("\n");
      expect(files).toHaveLength(1);
      const profile = JSON.parse(await readFile(files[0]!, "utf8")) as {
        syscalls: Array<{ names: string[] }>;
      };
      const names = new Set(profile.syscalls.flatMap((rule) => rule.names));
      for (const r of replicas) {
        for (const name of (await straceSet(r.cmd)).set) expect(names, `${r.node}: ${name}`).toContain(name);
        const confined = await runUnderProfile(profile, r.cmd, { cwd: CWD, env: workloadEnv(CWD) });
        expect(confined.code, confined.stderr).toBe(0);
      }
    } finally {
      for (const a of nodeAgents) await a.dispose();
      await aggregator.stop();
    }
  });

  describe("the adaptive syscall set (gap-free swaps of Falco)", () => {
    const ADAPT = "adapt";
    /**
     * Read and write at about 5,000 calls/s each, a heartbeat every 10 ms (getsid, which Python
     * never makes by itself, so the count is exact); prints the heartbeats.
     */
    const LOOP = [
      "import ctypes, os, sys, time",
      "libc = ctypes.CDLL(None, use_errno=True)",
      "end = time.monotonic() + float(sys.argv[1])",
      "src, dst = os.open('/dev/zero', os.O_RDONLY), os.open('/dev/null', os.O_WRONLY)",
      "beats, next_beat = 0, 0.0",
      "while time.monotonic() < end:",
      "    for _ in range(10):",
      "        os.write(dst, os.read(src, 1))",
      "    now = time.monotonic()",
      "    if now >= next_beat:",
      "        libc.syscall(124, 0)",
      "        beats, next_beat = beats + 1, now + 0.01",
      "    time.sleep(0.002)",
      "print(beats)",
    ].join("\n");
    /**
     * The same, but the process execs itself every 100 ms (passing its heartbeats on): a Falco
     * started meanwhile learns it from the next execve, as it learns every new process.
     */
    const REEXEC = [
      "import ctypes, os, sys, time",
      "libc = ctypes.CDLL(None, use_errno=True)",
      "left, beats = float(sys.argv[1]), int(sys.argv[2])",
      "end = time.monotonic() + min(left, 0.1)",
      "src, dst = os.open('/dev/zero', os.O_RDONLY), os.open('/dev/null', os.O_WRONLY)",
      "next_beat = 0.0",
      "while time.monotonic() < end:",
      "    for _ in range(10):",
      "        os.write(dst, os.read(src, 1))",
      "    now = time.monotonic()",
      "    if now >= next_beat:",
      "        libc.syscall(124, 0)",
      "        beats, next_beat = beats + 1, now + 0.01",
      "    time.sleep(0.002)",
      "if left > 0.1:",
      "    os.execv(sys.executable, [sys.executable, sys.argv[0], str(left - 0.1), str(beats)])",
      "print(beats)",
    ].join("\n");
    let script: string;
    let reexec: string;

    beforeAll(async () => {
      script = join(dir, "loop.py");
      await writeFile(script, LOOP);
      reexec = join(dir, "reexec.py");
      await writeFile(reexec, REEXEC);
    });

    function adaptKey(owner: string) {
      return { namespace: ADAPT, kind: "Deployment", name: owner, container: "main" };
    }

    function recorded(merged: ObservationSet, owner: string): Set<string> {
      return new Set(
        [...merged.workload(adaptKey(owner)).syscalls.keys()].filter((n) => !NON_RETURNING.has(n)),
      );
    }

    /** The pods file is replaced atomically: the agent re-reads it when it changes. */
    async function writeAdaptPods(file: string, pods: Array<[string, PodContainer]>): Promise<void> {
      await writePodsFile(
        `${file}.tmp`,
        ADAPT,
        pods.map(([owner, container]) => ({ container, name: `${owner}-1`, owner, containerName: "main" })),
      );
      await rename(`${file}.tmp`, file);
    }

    async function adaptiveAgent(node: string, podsFile: string, falcoBinary?: string) {
      agent = await startRealFalcoAgent({
        node,
        natsUrls: [server.url],
        stateDir: join(dir, `state-${++sessions}`),
        podsFile,
        ...(falcoBinary !== undefined ? { falcoBinary } : {}),
        configFile: {
          falco: {
            restartBackoffMs: [1000],
            adaptiveSyscalls: { enabled: true, minEventsPerSecond: 1000, stableMs: 0 },
          },
          batch: { flushIntervalMs: 250 },
        },
      });
      return agent;
    }

    it("swaps Falco during a session without losing or double-counting a syscall made around the swap, and raises the set for a new workload", async () => {
      const node = "node-adaptive";
      const loop = createContainerCgroup(randomUUID(), containerId());
      const later = createContainerCgroup(randomUUID(), containerId());
      const podsFile = join(dir, "adaptive-pods.json");
      await writeAdaptPods(podsFile, [["loop", loop]]);
      await adaptiveAgent(node, podsFile);
      const id = await startSession(node, ADAPT);
      const before = (await health(node)).falco.driverSet!;
      expect(before).toMatchObject({ excluded: [], swaps: 0, adaptive: "active" });
      expect(before.syscalls).toBeGreaterThan(400);

      const loopRun = runInContainer(loop, ["python3", reexec, "8", "0"], CWD);
      // A lowering swap, or its refusal: on these machines the check before the cutover can
      // refuse it (the successor fell behind, or had not seen the process's next execve yet).
      const attempted = await eventually("a lowering swap attempted", async () => {
        const set = (await health(node)).falco.driverSet!;
        return set.swaps + set.swapFailures > 0 ? set : undefined;
      });
      console.log(
        `adaptive swap test: ${attempted.swaps} swap(s), ${attempted.swapFailures} refused/failed${attempted.lastSwapFailure ? ` (${attempted.lastSwapFailure})` : ""}`,
      );
      if (attempted.swaps > 0) {
        // read or write (or both: a later decision may lower the set again, the next swap taken
        // by a Falco that came in by a swap), and whatever else the re-executed start-up makes
        // that often (newfstatat).
        expect(attempted.excluded.filter((name) => name === "read" || name === "write")).not.toEqual([]);
        expect(attempted.syscalls).toBe(before.syscalls! - attempted.excluded.length);
      } else {
        expect(attempted.lastSwapFailure).toMatch(/does not attribute processes|fell behind/);
      }
      const result = await loopRun;
      expect(result.code, result.stderr).toBe(0);
      const heartbeats = Number(result.stdout.trim());

      // A new workload container: the set comes back before it runs.
      await writeAdaptPods(podsFile, [
        ["loop", loop],
        ["later", later],
      ]);
      // Once the agent has read the pods file (it polls it every second), a lowered set is raised;
      // a set that was never lowered has nothing to raise, and the new pod is in the rule anyway.
      await eventually("the driver set raised", async () => {
        const h = await health(node);
        return h.falco.driverSet!.excluded.length === 0 && !h.falco.driverSet!.swapping;
      });
      const w = WORKLOADS[0]!;
      expect((await runInContainer(later, w.cmd, CWD)).code).toBe(0);

      const { merged, fin } = await stopSession(id);
      expect(fin.gaps ?? []).toEqual([]);
      expect(recorded(merged, "loop")).toEqual((await straceSet(["python3", reexec, "0.3", "0"])).set);
      // Every heartbeat exactly once: none lost and none counted by both Falcos at the cutover.
      expect(countsByNode(merged.workload(adaptKey("loop")).syscalls.get("getsid")!).get(node)).toBe(
        heartbeats,
      );
      expect(recorded(merged, "later")).toEqual((await straceSet(w.cmd)).set);
    });

    it("swaps Falco under a process that ran before the successor started, and loses nothing", async () => {
      const node = "node-adaptive-blind";
      const loop = createContainerCgroup(randomUUID(), containerId());
      const podsFile = join(dir, "adaptive-blind-pods.json");
      await writeAdaptPods(podsFile, [["loop", loop]]);
      await adaptiveAgent(node, podsFile);
      const id = await startSession(node, ADAPT);
      // One long-running process: a Falco started after it learns of it only from /proc.
      const result = await runInContainer(loop, ["python3", script, "8"], CWD);
      expect(result.code, result.stderr).toBe(0);
      // The Falco built for these machines leaves earlier processes unknown at start; the agent
      // lists the pod's threads in the successor's rule and attributes them from /proc.
      const set = (await health(node)).falco.driverSet!;
      expect(set, set.lastSwapFailure).toMatchObject({ swapFailures: 0, adaptive: "active" });
      expect(set.swaps).toBeGreaterThan(0);
      expect(set.excluded).toEqual(expect.arrayContaining(["read", "write"]));
      const { merged, fin } = await stopSession(id);
      expect(fin.gaps ?? []).toEqual([]);
      expect(recorded(merged, "loop")).toEqual((await straceSet(["python3", script, "1"])).set);
      expect(countsByNode(merged.workload(adaptKey("loop")).syscalls.get("getsid")!).get(node)).toBe(
        Number(result.stdout.trim()),
      );
    });

    it("keeps capturing with the running Falco when the second Falco of a swap cannot start, and waits before trying again", async () => {
      const node = "node-adaptive-fail";
      const marker = join(dir, "no-second-falco");
      const wrapper = join(dir, "falco-wrapper.sh");
      await writeFile(
        wrapper,
        `#!/bin/sh\nif [ -e '${marker}' ]; then echo 'Error: this Falco cannot start (test)' >&2; exit 1; fi\nexec '${REAL_FALCO}' "$@"\n`,
        { mode: 0o755 },
      );
      const loop = createContainerCgroup(randomUUID(), containerId());
      const podsFile = join(dir, "adaptive-fail-pods.json");
      await writeAdaptPods(podsFile, [["loop", loop]]);
      await adaptiveAgent(node, podsFile, wrapper);
      const id = await startSession(node, ADAPT);
      const first = await health(node);
      await writeFile(marker, "");

      const loopRun = runInContainer(loop, ["python3", script, "6"], CWD);
      const failed = await eventually("a failed swap", async () => {
        const h = await health(node);
        return h.falco.driverSet!.swapFailures > 0 ? h : undefined;
      });
      expect(failed.falco).toMatchObject({ state: "running", pid: first.falco.pid, restarts: 0 });
      expect(failed.falco.driverSet).toMatchObject({
        excluded: [],
        swaps: 0,
        adaptive: "backoff",
        lastSwapFailure: expect.stringContaining("Error: this Falco cannot start (test)"),
      });
      const result = await loopRun;
      expect(result.code, result.stderr).toBe(0);

      const { merged, fin } = await stopSession(id);
      expect(fin.gaps ?? []).toEqual([]);
      expect((await health(node)).falco.driverSet!.swapFailures).toBe(1);
      expect(recorded(merged, "loop")).toEqual((await straceSet(["python3", script, "1"])).set);
      expect(countsByNode(merged.workload(adaptKey("loop")).syscalls.get("getsid")!).get(node)).toBe(
        Number(result.stdout.trim()),
      );
    });
  });

  it("with the hot-syscall split, reports each syscall once, records every rare syscall made during a dd flood, and books the hot Falco's crash as a gap", async () => {
    const node = "node-split";
    agent = await startRealFalcoAgent({
      node,
      natsUrls: [server.url],
      stateDir: join(dir, `state-${++sessions}`),
      podsFile,
      alertFormat: "compact",
      configFile: { falco: { restartBackoffMs: [1000], hotSyscalls: { enabled: true } } },
    });
    const id = await startSession(node);
    const split = (await health(node)).falco;
    expect(split.state).toBe("running");
    expect(split.hot).toMatchObject({ state: "running", restarts: 0 });
    expect(split.hot!.syscalls).toEqual(expect.arrayContaining(["read", "write", "futex"]));
    expect(split.hot!.pid).not.toBe(split.pid);

    const forker = WORKLOADS.find((w) => w.owner === "forker")!;
    await runInContainer(containers.get(forker.owner)!, forker.cmd, CWD);
    // Read and written millions of times while the rare syscalls are made.
    const flood = runInContainer(
      containers.get("flood")!,
      ["timeout", "4", "dd", "if=/dev/zero", "of=/dev/null", "bs=1"],
      CWD,
    );
    await sleep(500);
    const rare = await runInContainer(
      containers.get("rare")!,
      ["python3", "-c", RARE_CALLER, "3", ...RARE_SYSCALLS.map(([, nr]) => String(nr))],
      CWD,
    );
    expect(rare.code, rare.stderr).toBe(0);
    await flood;
    // Either Falco down is a window without capture.
    const killedAt = Date.now();
    process.kill(split.hot!.pid!, "SIGKILL");
    await eventually("the agent to see the hot Falco die", async () => {
      const h = await health(node);
      return h.falco.state !== "running" ? h : undefined;
    });
    expect(await waitCapturing(nc, [node], 60_000)).toEqual([]);
    const restarted = (await health(node)).falco;
    expect(restarted.hot!.restarts).toBe(1);
    expect(restarted.pid).toBe(split.pid);
    const { merged, fin } = await stopSession(id);
    // The flood can overload only the hot Falco, whose drop windows name what they can hide
    // (whether it drops at all depends on the machine's load: a busy CI run saw none).
    const drops = (fin.gaps ?? []).filter((g) => g.reason?.includes(" dropped "));
    for (const gap of drops)
      expect(gap.reason).toMatch(/^the hot-syscall Falco dropped \d+ events .*only .*read/);
    const down = (fin.gaps ?? []).filter((g) => g.reason?.includes("SIGKILL"));
    expect(down.map((g) => g.reason)).toEqual(["the hot-syscall Falco: Falco exited (signal SIGKILL)"]);
    expect(down[0]!.from).toBeGreaterThanOrEqual(killedAt - 1000);
    expect(down[0]!.to).toBeGreaterThan(down[0]!.from + 900);

    const recorded = merged.workload(keyOf("rare")).syscalls;
    expect(RARE_SYSCALLS.map(([name]) => name).filter((name) => !recorded.has(name))).toEqual([]);
    // The main Falco reports execve, the hot one write; neither reports the other's.
    expect(recordedSet(merged, forker.owner)).toEqual((await straceSet(forker.cmd)).set);
    const counts = (name: string) =>
      countsByNode(merged.workload(keyOf(forker.owner)).syscalls.get(name)!).get(node);
    expect(counts("execve")).toBe(2);
    expect(merged.workload(keyOf("flood")).syscalls.has("write")).toBe(true);
  });

  it("detects that a Falco without the container plugin has no container or k8s fields, and its rules load", async () => {
    const configDir = join(dir, "plugin-detection");
    const files = renderFalcoFiles([sessionRecord("p1")], {
      configDir,
      alertFormat: "json",
      probePrefix: `${configDir}/probe-x-`,
    });
    await mkdir(configDir, { recursive: true });
    await writeFileAtomic(files.rulesPath, files.rules);
    await writeFileAtomic(files.configPath, files.config);
    const { stdout } = await run(REAL_FALCO!, ["-c", files.configPath, "--list=syscall"], {
      maxBuffer: 64 * 1024 * 1024,
    });
    expect(stdout).toContain("thread.cgroup.cpu");
    expect(detectFieldSupport(stdout)).toEqual({ container: false, k8s: false });
    const dry = await run(REAL_FALCO!, ["-c", files.configPath, "--dry-run"]);
    expect(`${dry.stdout}${dry.stderr}`).not.toMatch(/error|warning/i);
  });
});
