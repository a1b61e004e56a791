/**
 * docs/outside-kubernetes.md works as written: its shell blocks run in order in one bash, with
 * only the ports and the work directory changed, `seccompose*` running this checkout, and `falco`
 * being the stand-in Falco (test/standin-falco/), which runs a real command under strace as if it
 * were the pods file's container. Blocks marked `<!-- test: skip ... -->` (docker) are not run; the
 * one marked `<!-- test: replace ... -->` becomes a wait for the stand-in's events. The profile the
 * quick start writes must let the command run under libseccomp and be the one installed through
 * the agent.
 */
import { spawn } from "node:child_process";
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { STANDIN_FALCO } from "../helpers/agent-process.ts";
import { runUnderProfile } from "../helpers/enforce.ts";
import { getFreePort } from "../helpers/nats.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const DOC_WORK = "/var/tmp/seccompose-demo";
const POD_UID = "3f0c1a2b-4d5e-4f60-8a9b-0c1d2e3f4a5b";
const CONTAINER_ID = "c0ffee".repeat(10) + "c0ff";
const WORKLOAD_CMD = ["ls", "-l", "/usr"];

/** The doc's ```sh blocks, each with the `<!-- test: ... -->` marker just before it, if any. */
function shellBlocks(doc: string): { marker: string | undefined; code: string }[] {
  return [...doc.matchAll(/(?:<!-- test: (\w+)[^\n]*-->\n\n)?```sh\n([\s\S]*?)```/g)].map((m) => ({
    marker: m[1],
    code: m[2]!,
  }));
}

let dir: string;
let work: string;
let script: string;
let result: { code: number | null; output: string };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "seccompose-outside-k8s-"));
  work = join(dir, "work");
  const bin = join(dir, "bin");
  await mkdir(bin);
  const wrappers = {
    seccompose: `"${process.execPath}" "${join(ROOT, "cli/main.ts")}"`,
    "seccompose-agent": `"${process.execPath}" "${join(ROOT, "services/agent/main.ts")}"`,
    "seccompose-aggregator": `"${process.execPath}" "${join(ROOT, "services/aggregator/main.ts")}"`,
    falco: `"${process.execPath}" "${STANDIN_FALCO}"`,
  };
  for (const [name, command] of Object.entries(wrappers)) {
    await writeFile(join(bin, name), `#!/bin/sh\nexec ${command} "$@"\n`);
    await chmod(join(bin, name), 0o755);
  }
  const commands = join(dir, "standin-commands.json");
  await writeFile(
    commands,
    JSON.stringify([{ cmd: WORKLOAD_CMD, podUid: POD_UID, containerId: CONTAINER_ID }]),
  );

  const ports = new Map<string, string>();
  for (const port of ["4222", "8080", "8081"]) ports.set(port, String(await getFreePort()));
  const wait = [
    "# the test: wait until the stand-in's events are stored and no more arrive",
    'last=-1; while :; do n=$(seccompose events demo-1 --output json | wc -l); [ "$n" -gt 0 ] && [ "$n" = "$last" ] && break; last=$n; sleep 2; done',
  ].join("\n");
  const doc = await readFile(join(ROOT, "docs/outside-kubernetes.md"), "utf8");
  const blocks = shellBlocks(doc);
  expect(blocks.filter((b) => b.marker === undefined).length).toBeGreaterThanOrEqual(5);
  script = [
    "set -euo pipefail",
    ...blocks.map((b) => (b.marker === "skip" ? "" : b.marker === "replace" ? wait : b.code)),
  ]
    .join("\n")
    .replaceAll(DOC_WORK, work)
    .replace(/\b(4222|8080|8081)\b/g, (p) => ports.get(p)!);

  const child = spawn("bash", ["-c", script], {
    cwd: dir,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...process.env,
      PATH: `${bin}:/usr/sbin:/sbin:${process.env.PATH}`,
      HOME: dir,
      KUBECONFIG: join(dir, "no-kubeconfig"),
      POD_UID,
      CONTAINER_ID,
      STANDIN_MODE: "strace",
      STANDIN_COMMANDS: commands,
    },
  });
  let output = "";
  child.stdout.on("data", (c: Buffer) => (output += c.toString()));
  child.stderr.on("data", (c: Buffer) => (output += c.toString()));
  const timer = setTimeout(() => process.kill(-child.pid!, "SIGKILL"), 150_000);
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  clearTimeout(timer);
  // Whatever the script left running (it failed before its clean-up), in its process group.
  try {
    process.kill(-child.pid!, "SIGTERM");
  } catch {
    // the group is gone: the script cleaned up after itself
  }
  result = { code, output };
}, 180_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("docs/outside-kubernetes.md", () => {
  it("runs from start to clean-up without an error", () => {
    expect(result.code, `${result.output}\n--- script ---\n${script}`).toBe(0);
    // stop printed the profile's path, profile get --install the securityContext to use.
    expect(result.output).toContain(join(work, "profiles", "demo.deployment.web.nginx.json"));
    expect(result.output).toMatch(/localhostProfile: \S*demo\.deployment\.web\.nginx\.json/);
  });

  it("writes the workload's profile, which lets the command run under libseccomp", async () => {
    const profile = JSON.parse(
      await readFile(join(work, "profiles", "demo.deployment.web.nginx.json"), "utf8"),
    ) as {
      syscalls: { names: string[] }[];
    };
    expect(profile.syscalls.flatMap((s) => s.names)).toContain("getdents64");
    const run = await runUnderProfile(profile, WORKLOAD_CMD);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
  });

  it("installs the same profile into --seccomp-dir through the agent", async () => {
    const installed = await readFile(join(work, "seccomp", "demo.deployment.web.nginx.json"), "utf8");
    expect(installed).toBe(await readFile(join(work, "profiles", "demo.deployment.web.nginx.json"), "utf8"));
  });
});
