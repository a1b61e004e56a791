/**
 * The real agent supervising the real Falco 0.44.1 (SECCOMPOSE_TEST_FALCO; skipped without it):
 * workloads run in kubelet-style pod cgroups, and per container the recorded syscall set must
 * equal strace's for the same command, except the syscalls that never return (Falco reports
 * only exit events; the agent adds them). Each workload then runs under its profile.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomUUID } from "node:crypto";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AgentHealth } from "../../lib/contracts/types.ts";
import { renderOciProfile } from "../../lib/profile/render.ts";
import { sourceFromObservations } from "../../lib/profile/profile-source.ts";
import { recordStrace } from "../../lib/strace/record.ts";
import { nonReturningSyscalls } from "../../lib/syscalls/non-returning.ts";
import { scmpArchesForNode } from "../../lib/syscalls/architectures.ts";
import {
  control,
  mergeStored,
  prepareBroker,
  readSessionMessages,
  sessionRecord,
} from "../helpers/cluster.ts";
import { runUnderProfile } from "../helpers/enforce.ts";
import { eventually } from "../helpers/eventually.ts";
import { FALCO_FIXTURES_DIR } from "../helpers/falco-fixtures.ts";
import { startNatsServer, type NatsServerHandle } from "../helpers/nats.ts";
import {
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

interface Workload {
  title: string;
  owner: string;
  cmd: string[];
}

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
];

function containerId(): string {
  return (randomUUID() + randomUUID()).replaceAll("-", "");
}

describe.skipIf(skip)("the real agent supervising the real Falco", () => {
  let dir: string;
  let server: NatsServerHandle;
  let nc: NatsConnection;
  let agent: RealFalcoAgent | undefined;
  const containers = new Map<string, PodContainer>();

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "seccompose-real-falco-"));
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
    await prepareBroker(nc);
    for (const w of WORKLOADS) containers.set(w.owner, createContainerCgroup(randomUUID(), containerId()));
    const podsFile = await writePodsFile(
      join(dir, "pods.json"),
      NAMESPACE,
      WORKLOADS.map((w) => ({
        container: containers.get(w.owner)!,
        name: `${w.owner}-1`,
        owner: w.owner,
        containerName: "main",
      })),
    );
    agent = await startRealFalcoAgent({
      node: "node-real",
      natsUrls: [server.url],
      stateDir: join(dir, "state"),
      podsFile,
    });
  });

  afterAll(async () => {
    await agent?.dispose();
    cleanUpRealFalco();
    await nc?.close();
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  async function health(): Promise<AgentHealth> {
    const [reply] = await control(nc, "health", {});
    return reply!.health!;
  }

  it("records per container exactly strace's syscalls, and each workload runs under its profile", async () => {
    const session = "real1";
    const [started] = await control(nc, "start", {
      session: sessionRecord(session, { targets: { namespaces: [NAMESPACE] } }),
    });
    expect(started?.ok).toBe(true);
    await eventually("Falco to capture", async () => (await health()).falco.state === "running", 60_000);

    for (const w of WORKLOADS) {
      const run = await runInContainer(containers.get(w.owner)!, w.cmd);
      expect(run.code, run.stderr).toBe(0);
    }
    const [stopped] = await control(nc, "stop", { sessionId: session }, 1, 30_000);
    expect(stopped?.ok).toBe(true);

    const merged = mergeStored(await readSessionMessages(nc, session));
    for (const w of WORKLOADS) {
      const key = { namespace: NAMESPACE, kind: "Deployment", name: w.owner, container: "main" };
      const recorded = merged.workload(key);
      const seen = new Set(recorded.syscalls.keys());
      const strace = await recordStrace(w.cmd, { cwd: "/tmp", env: workloadEnv("/tmp"), stdio: "pipe" });
      const expected = new Set(
        strace.records.flatMap((r) => (r.kind === "syscall" && !NON_RETURNING.has(r.name) ? [r.name] : [])),
      );
      expect(new Set([...seen].filter((n) => !NON_RETURNING.has(n))), w.title).toEqual(expected);

      const { profile } = renderOciProfile(sourceFromObservations(recorded, []), { baseline: "none" });
      const confined = await runUnderProfile(profile, w.cmd, { cwd: "/tmp", env: workloadEnv("/tmp") });
      expect(confined.stderr, w.title).toBe("");
      expect(confined.code, w.title).toBe(0);
      expect(confined.stdout).toBe(strace.stdout);
    }
  });
});
