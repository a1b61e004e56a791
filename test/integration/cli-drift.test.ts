/**
 * Drift, freeze and session deletion through the real `seccompose` binary, as a user runs them: a
 * real nats-server, the real aggregator and a real agent supervising the stand-in Falco, which
 * reports the syscalls strace sees of a real command. The command lists a directory in a loop and,
 * once the test creates a trigger file, also makes and removes a directory: `mkdir` and `rmdir`,
 * syscalls the frozen profile never saw.
 */
import { access, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Kvm } from "@nats-io/kv";
import { Objm } from "@nats-io/obj";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { gather } from "../../cli/cluster/agents.ts";
import type { AggregatorStatus } from "../../lib/contracts/types.ts";
import { BUCKET_PROFILES, BUCKET_SESSIONS, OBJECT_STORE_PROFILES } from "../../lib/subjects.ts";
import { startAgentProcess, type AgentProcess } from "../helpers/agent-process.ts";
import { startAggregatorProcess, type AggregatorProcess } from "../helpers/aggregator-process.ts";
import { eventually } from "../helpers/eventually.ts";
import { startNatsServer, type NatsServerHandle } from "../helpers/nats.ts";
import { runCli, spawnCli, type CliResult } from "./cli.ts";

const WEB = { uid: "0a0a0a0a-1111-4222-8333-444455556666", cid: "a".repeat(64) };
const WORKLOAD = "shop/Deployment/web/nginx";

let dir: string;
let trigger: string;
let server: NatsServerHandle;
let nc: NatsConnection;
let aggregator: AggregatorProcess;
let agent: AgentProcess;
let env: NodeJS.ProcessEnv;

function cli(...args: string[]): Promise<CliResult> {
  return runCli(args, { env, cwd: dir });
}

function startAggregator(): Promise<AggregatorProcess> {
  return startAggregatorProcess({
    natsUrls: [server.url],
    // Documents over 1 KiB go to the Object Store, so deletion has objects to remove.
    extraArgs: ["--checkpoint-interval-ms", "200", "--kv-value-max-bytes", "1024"],
  });
}

interface Row {
  workload: string;
  pod?: string;
  node: string;
  syscall: string;
  count: number;
  firstSeen: string;
  lastSeen?: string;
}

async function driftRows(session: string): Promise<Row[]> {
  const r = await cli("drift", session, "--output", "json");
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Row[];
}

async function latestRevision(session: string): Promise<number> {
  const r = await cli("profile", "list", session, "--output", "json");
  const rows = JSON.parse(r.stdout) as Array<{ workload: string; revision: number }>;
  return rows.find((x) => x.workload === WORKLOAD)?.revision ?? 0;
}

async function profileSyscalls(session: string): Promise<string[]> {
  const r = await cli("profile", "get", session, "web/nginx");
  expect(r.code, r.stderr).toBe(0);
  const profile = JSON.parse(r.stdout) as { syscalls: Array<{ names: string[] }> };
  return profile.syscalls.flatMap((s) => s.names);
}

async function startContinuous(id: string): Promise<void> {
  const r = await cli("start", "-n", "shop", "--id", id, "--continuous", "--expect-agents", "node-a");
  expect(r.code, r.stderr).toBe(0);
  await eventually(
    `a published revision of ${id}`,
    async () => ((await latestRevision(id)) >= 1 ? true : undefined),
    60_000,
  );
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "seccompose-cli-drift-"));
  trigger = join(dir, "trigger");
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
  aggregator = await startAggregator();
  env = {
    ...process.env,
    HOME: dir,
    KUBECONFIG: "",
    SECCOMPOSE_CONFIG: join(dir, "config.yaml"),
    SECCOMPOSE_NATS_URL: server.url,
  };
  const podsFile = join(dir, "pods.json");
  const commandsFile = join(dir, "commands.json");
  await writeFile(
    podsFile,
    JSON.stringify({
      pods: [
        {
          uid: WEB.uid,
          name: "web-1",
          namespace: "shop",
          labels: { app: "web" },
          owner: { kind: "Deployment", name: "web" },
          containers: [{ name: "nginx", id: WEB.cid }],
        },
      ],
    }),
  );
  const made = join(dir, "made");
  const loop = `ls / >/dev/null; if [ -e ${trigger} ]; then mkdir ${made} && rmdir ${made}; fi; sleep 0.5`;
  await writeFile(
    commandsFile,
    JSON.stringify([{ cmd: ["sh", "-c", loop], podUid: WEB.uid, containerId: WEB.cid }]),
  );
  agent = await startAgentProcess({
    node: "node-a",
    natsUrls: [server.url],
    stateDir: join(dir, "state-node-a"),
    podsFile,
    env: { STANDIN_MODE: "strace", STANDIN_COMMANDS: commandsFile, STANDIN_REPEAT: "1" },
  });
}, 60_000);

afterAll(async () => {
  await agent?.kill().catch(() => {});
  await aggregator?.kill().catch(() => {});
  await nc?.close();
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe("drift after a freeze, taken into the profile, and session deletion", () => {
  it("lists drift with pod and node, follows it, accepts it as a new revision, warns at status and stop; unfreeze takes the rest", async () => {
    await startContinuous("d1");
    await startContinuous("d2");
    for (const id of ["d1", "d2"]) {
      const frozen = await cli("profile", "freeze", id, "web/nginx");
      expect(frozen.code, frozen.stderr).toBe(0);
      expect(frozen.stderr).toContain(`session ${id}: frozen ${WORKLOAD}`);
    }
    expect((await driftRows("d1")).map((r) => r.syscall)).not.toContain("mkdir");

    const follow = spawnCli(["drift", "d1", "--follow", "--output", "json"], env);
    try {
      // The aggregator applies the freeze from the record's watch: wait for it before the trigger.
      await eventually("d1 frozen in the aggregator", async () => {
        const view = JSON.parse((await cli("status", "d1", "--output", "json")).stdout) as {
          sessions: Array<{ aggregator?: { workloads: Array<{ frozen: boolean }> } }>;
        };
        return view.sessions[0]?.aggregator?.workloads[0]?.frozen ? true : undefined;
      });
      await writeFile(trigger, "");
      const line = await follow.waitFor(/^\{.*"syscall":"mkdir".*\}$/m, "stdout", 60_000);
      expect(JSON.parse(line[0])).toMatchObject({ workload: WORKLOAD, pod: "web-1", node: "node-a" });
    } finally {
      const followed = await follow.stop();
      expect(followed.code).toBe(0);
    }

    const rows = await eventually("mkdir and rmdir in the drift report", async () => {
      const r = await driftRows("d1");
      return ["mkdir", "rmdir"].every((s) => r.some((x) => x.syscall === s)) ? r : undefined;
    });
    for (const row of rows.filter((r) => r.syscall === "mkdir" || r.syscall === "rmdir")) {
      expect(row).toMatchObject({ workload: WORKLOAD, pod: "web-1", node: "node-a" });
      expect(row.count).toBeGreaterThanOrEqual(1);
      expect(Date.parse(row.lastSeen!)).toBeGreaterThanOrEqual(Date.parse(row.firstSeen));
    }
    const text = await cli("drift", "d1", "web/nginx");
    expect(text.stdout).toMatch(/^WORKLOAD +POD +NODE +SYSCALL +COUNT +FIRST SEEN +LAST SEEN$/m);
    expect(text.stdout).toMatch(/^shop\/Deployment\/web\/nginx +web-1 +node-a +mkdir +\d+ /m);
    expect(await profileSyscalls("d1")).not.toContain("mkdir");

    const status = await cli("status", "d1");
    expect(status.stdout).toMatch(
      /warning: shop\/Deployment\/web\/nginx drifted: \d+ call\(s\) outside its frozen profile \(seccompose drift d1\)/,
    );

    const notDrifted = await cli("profile", "freeze", "d1", "web/nginx", "--accept", "mount");
    expect(notDrifted.code).toBe(2);
    expect(notDrifted.stderr).toContain("mount did not drift in shop/Deployment/web/nginx");
    const before = await latestRevision("d1");
    const accepted = await cli("profile", "freeze", "d1", "web/nginx", "--accept", "mkdir");
    expect(accepted.code, accepted.stderr).toBe(0);
    expect(accepted.stderr).toContain(`${WORKLOAD}: took mkdir (`);
    expect(accepted.stderr).toContain(`into the frozen profile: revision ${before + 1}`);
    await eventually("the accepting revision", async () =>
      (await latestRevision("d1")) > before ? true : undefined,
    );
    expect(await profileSyscalls("d1")).toContain("mkdir");
    expect(await profileSyscalls("d1")).not.toContain("rmdir");
    await eventually("mkdir gone from the drift report", async () => {
      const r = await driftRows("d1");
      return !r.some((x) => x.syscall === "mkdir") && r.some((x) => x.syscall === "rmdir") ? true : undefined;
    });

    // Unfreezing d2 takes its drift, mkdir and rmdir, into its next revision.
    await eventually("drift in d2", async () =>
      (await driftRows("d2")).some((r) => r.syscall === "rmdir") ? true : undefined,
    );
    const unfrozen = await cli("profile", "unfreeze", "d2", "web/nginx");
    expect(unfrozen.code, unfrozen.stderr).toBe(0);
    expect(unfrozen.stderr).toContain("session d2: frozen nothing");
    await eventually(
      "d2's profile with its drift",
      async () => {
        const names = await profileSyscalls("d2");
        return names.includes("mkdir") && names.includes("rmdir") ? true : undefined;
      },
      60_000,
    );
    expect(await driftRows("d2")).toEqual([]);

    const active = await cli("session", "delete", "d1");
    expect(active.code).toBe(11);
    expect(active.stderr).toContain("SC_SESSION_ACTIVE");
    expect(active.stderr).toContain("session d1 is running");

    const stopped = await cli(
      "stop",
      "d1",
      "--timeout",
      "30s",
      "--output-dir",
      join(dir, "d1"),
      "--output",
      "json",
    );
    expect(stopped.code, stopped.stderr).toBe(0);
    expect(stopped.stderr).toMatch(
      /warning: shop\/Deployment\/web\/nginx drifted from its frozen profile: .*rmdir/,
    );
    expect(
      (JSON.parse(stopped.stdout) as { drift: Array<{ syscalls: string[] }> }).drift[0]!.syscalls,
    ).toContain("rmdir");
    // Drift outlives the session's end.
    expect((await driftRows("d1")).some((r) => r.syscall === "rmdir")).toBe(true);
  }, 300_000);

  it("deletes a stopped session everywhere, a running one only with --force, and the aggregator does not bring either back", async () => {
    const kvOf = async (bucket: string) => new Kvm(nc).open(bucket);
    const keysOf = async (session: string) => {
      const keys: string[] = [];
      for await (const k of await (await kvOf(BUCKET_PROFILES)).keys(`${session}.>`)) keys.push(k);
      return keys;
    };
    const objectsOf = async (session: string) =>
      (await (await new Objm(nc).open(OBJECT_STORE_PROFILES)).list()).filter((o) =>
        o.name.startsWith(`${session}.`),
      );
    expect((await keysOf("d1")).length).toBeGreaterThan(0);
    expect(await objectsOf("d1")).not.toEqual([]);
    await access(join(dir, "state-node-a", "sessions", "d1"));

    const deleted = await cli("session", "delete", "d1", "--output", "json");
    expect(deleted.code, deleted.stderr).toBe(0);
    const reply = JSON.parse(deleted.stdout) as {
      record: boolean;
      state: string;
      keys: number;
      objects: number;
      events: number;
    };
    expect(reply).toMatchObject({ record: true, state: "stopped" });
    expect(reply.keys).toBeGreaterThan(0);
    expect(reply.objects).toBeGreaterThan(0);
    expect(reply.events).toBeGreaterThan(0);
    // A purge leaves only its marker: no value, no history.
    expect((await (await kvOf(BUCKET_SESSIONS)).get("d1"))?.operation).toBe("PURGE");
    expect(
      await (await kvOf(BUCKET_SESSIONS)).history({ key: "d1" }).then(async (h) => {
        let n = 0;
        for await (const e of h) if (e.operation === "PUT") n++;
        return n;
      }),
    ).toBe(0);
    expect(await keysOf("d1")).toEqual([]);
    expect(await objectsOf("d1")).toEqual([]);
    expect((await cli("events", "d1", "--output", "json")).stdout).toBe("");
    await eventually("node-a to drop its record of d1", async () =>
      access(join(dir, "state-node-a", "sessions", "d1")).then(
        () => undefined,
        () => true,
      ),
    );
    const again = await cli("session", "delete", "d1");
    expect(again.code).toBe(10);
    expect(again.stderr).toContain("SC_SESSION_NOT_FOUND");

    const forced = await cli("session", "delete", "d2", "--force");
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stderr).toContain("deleted session d2: its record (running)");
    await eventually("node-a to stop recording d2", async () => {
      const [reply] = await gather(nc, "health", {}, { expected: 1 });
      return reply?.health !== undefined && !reply.health.activeSessions.includes("d2") ? true : undefined;
    });
    await eventually("node-a to drop its record of d2", async () =>
      access(join(dir, "state-node-a", "sessions", "d2")).then(
        () => undefined,
        () => true,
      ),
    );

    // A restarted aggregator restores its checkpoint: neither session is in it.
    await aggregator.kill();
    aggregator = await startAggregator();
    const status = (await nc.request("sc.agg.status", "{}", { timeout: 5000 })).json<AggregatorStatus>();
    expect(status.sessions.map((s) => s.session)).not.toContain("d1");
    expect(status.sessions.map((s) => s.session)).not.toContain("d2");
    expect(await keysOf("d2")).toEqual([]);
  }, 120_000);

  it("start refuses, writing nothing, while the aggregator is not consuming", async () => {
    await aggregator.kill();
    try {
      const r = await cli("start", "-n", "shop", "--id", "nope1", "--expect-agents", "node-a");
      expect(r.code).toBe(8);
      expect(r.stderr).toContain(
        "error [SC_AGGREGATOR_UNAVAILABLE]: the aggregator does not answer on sc.agg.status, so nothing was started",
      );
      expect(await (await new Kvm(nc).open(BUCKET_SESSIONS)).get("nope1")).toBeNull();
    } finally {
      aggregator = await startAggregator();
    }
    const r = await cli("start", "-n", "shop", "--id", "yes1", "--expect-agents", "node-a");
    expect(r.code, r.stderr).toBe(0);
    expect((await cli("stop", "yes1", "--timeout", "20s", "--output-dir", join(dir, "yes1"))).code).toBe(0);
  }, 120_000);
});
