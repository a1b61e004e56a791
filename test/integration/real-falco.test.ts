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
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { AgentHealth, FinMarker } from "../../lib/contracts/types.ts";
import type { ObservationSet } from "../../lib/profile/observations.ts";
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
/** Extra containers: one for workloads started right after capture, one for load. */
const EXTRA = ["early", "late", "load"] as const;

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
  async function startSession(node: string): Promise<string> {
    const id = `real${sessions}`;
    const [started] = await control(nc, "start", {
      session: sessionRecord(id, { targets: { namespaces: [NAMESPACE] } }),
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

  it("restarts a SIGKILLed Falco with backoff, reports the lost window as a gap, and still records", async () => {
    const a = await startAgent("compact", [1000]);
    const id = await startSession("node-compact");
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
    const { merged, fin } = await stopSession(id);
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
