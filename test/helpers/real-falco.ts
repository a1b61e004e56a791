/**
 * The real Falco in tests: where it is (SECCOMPOSE_TEST_FALCO), kubelet-style pod cgroups to run
 * workloads in, and the real agent supervising it. Real Falco needs root and BPF, so every Falco
 * this helper's agents start is killed, and every cgroup it creates is removed, even when a test
 * fails or the test process exits early (`process.on("exit")` clean-up, synchronous).
 *
 * Falco tells containers apart by cgroup, and its process table takes a thread's cgroups from
 * clone and execve events. A workload is therefore moved into its cgroup by a shell that then
 * execs it (`echo $$ > cgroup.procs; exec cmd`), as runc joins the cgroup before it execs: Falco
 * attributes everything from that execve on, exactly the syscalls strace records for `cmd`.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { startAgentProcess, type AgentProcess } from "./agent-process.ts";

/** Path of the real Falco binary, or undefined (tests then skip). */
export const REAL_FALCO = process.env.SECCOMPOSE_TEST_FALCO || undefined;
const CPU_HIERARCHY = "/sys/fs/cgroup/cpu";
/** The only cgroups these tests ever create or remove live below this one. */
const KUBEPODS = `${CPU_HIERARCHY}/kubepods`;

/** Why real-Falco tests cannot run here, or undefined when they can. */
export function realFalcoSkipReason(): string | undefined {
  if (REAL_FALCO === undefined) {
    return "SECCOMPOSE_TEST_FALCO is not set (path of a real Falco binary; .ci/run sets it when the CI machine has the project's test Falco)";
  }
  if (!existsSync(REAL_FALCO)) return `SECCOMPOSE_TEST_FALCO=${REAL_FALCO} does not exist`;
  if (process.getuid?.() !== 0) return "real Falco needs root (BPF) and these tests create cgroups";
  if (!existsSync(`${CPU_HIERARCHY}/cgroup.procs`)) {
    return `no cgroup v1 cpu hierarchy at ${CPU_HIERARCHY} for kubelet-style pod cgroups`;
  }
  return undefined;
}

/** A skip message printed once per file, so a skipped suite says why. */
export function announceSkip(file: string): boolean {
  const reason = realFalcoSkipReason();
  if (reason !== undefined) console.warn(`${file}: real-Falco tests skipped: ${reason}`);
  return reason !== undefined;
}

export interface PodContainer {
  podUid: string;
  containerId: string;
  /** /sys/fs/cgroup/cpu/kubepods/burstable/pod<uid>/<id> */
  path: string;
}

/** Everything created so far, removed (deepest first) by cleanUp and at process exit. */
const createdDirs: string[] = [];
/** Falco config directories of agents started here: a Falco naming one is ours. */
const falcoConfigDirs = new Set<string>();

/** Creates a kubelet-style container cgroup (cgroupfs driver, burstable QoS). */
export function createContainerCgroup(podUid: string, containerId: string): PodContainer {
  const parts = ["burstable", `pod${podUid}`, containerId];
  let dir = KUBEPODS;
  if (!existsSync(dir)) {
    mkdirSync(dir);
    createdDirs.push(dir);
  }
  for (const part of parts) {
    dir = `${dir}/${part}`;
    if (!existsSync(dir)) {
      mkdirSync(dir);
      createdDirs.push(dir);
    }
  }
  return { podUid, containerId, path: dir };
}

/**
 * The environment workloads run with, recorded, traced and enforced alike: the fixtures' (see
 * test/fixtures/falco/README.md) plus a locale. Without one, the libseccomp runner (Python)
 * coerces the C locale and exports LC_CTYPE=C.UTF-8 to the command, which then loads locale
 * files and makes syscalls (futex) that the recorded run never made.
 */
export function workloadEnv(cwd: string): NodeJS.ProcessEnv {
  return { PATH: "/usr/bin:/bin", HOME: "/tmp", PWD: cwd, LC_ALL: "C.UTF-8" };
}

export interface WorkloadRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `cmd` inside `container`'s cgroup (joined before the exec) and waits for it to end. */
export function runInContainer(
  container: PodContainer,
  cmd: readonly string[],
  cwd = "/tmp",
): Promise<WorkloadRun> {
  const launcher = 'echo $$ > "$0/cgroup.procs" && exec "$@"';
  return new Promise((resolve, reject) => {
    const child = spawn("/bin/sh", ["-c", launcher, container.path, ...cmd], {
      cwd,
      env: workloadEnv(cwd),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (c: string) => (stdout += c));
    child.stderr.setEncoding("utf8").on("data", (c: string) => (stderr += c));
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/**
 * Kills what still runs in our cgroups and every Falco started for our agents, then removes the
 * cgroups. Synchronous, so it also runs from the exit handler.
 */
export function cleanUpRealFalco(): void {
  for (const pid of ourFalcoPids()) killQuietly(pid);
  for (const dir of [...createdDirs].reverse()) {
    for (const pid of pidsIn(dir)) killQuietly(pid);
  }
  for (let i = createdDirs.length - 1; i >= 0; i--) {
    const dir = createdDirs[i]!;
    if (removeCgroup(dir)) createdDirs.splice(i, 1);
  }
}

process.on("exit", cleanUpRealFalco);

function removeCgroup(dir: string): boolean {
  // A killed process leaves its cgroup a moment after the signal.
  for (let attempt = 0; attempt < 50; attempt++) {
    try {
      rmdirSync(dir);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return true;
      if ((err as NodeJS.ErrnoException).code !== "EBUSY") throw err;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    }
  }
  return false;
}

function pidsIn(dir: string): number[] {
  try {
    return readFileSync(`${dir}/cgroup.procs`, "utf8").split("\n").filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

const FALCO_CONFIG_FILES = new Set(["/falco.yaml", "/falco-b.yaml"]);

/** Processes whose command line names one of our agents' Falco config directories. */
export function ourFalcoPids(): number[] {
  if (falcoConfigDirs.size === 0) return [];
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${entry}/cmdline`, "utf8");
    } catch {
      continue;
    }
    const args = cmdline.split("\0");
    // Either slot's falco.yaml: a swap runs a second Falco on falco-b.yaml.
    if (
      args.some((a) =>
        [...falcoConfigDirs].some((d) => FALCO_CONFIG_FILES.has(a.slice(d.length)) && a.startsWith(d)),
      )
    ) {
      pids.push(Number(entry));
    }
  }
  return pids;
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // Already gone.
  }
}

export interface RealFalcoAgentOptions {
  node: string;
  natsUrls: string[];
  stateDir: string;
  podsFile: string;
  alertFormat?: "json" | "compact";
  /** Environment for the agent (and so for Falco). */
  env?: NodeJS.ProcessEnv;
  /** A config file for settings without a flag (e.g. the restart backoff). */
  configFile?: Record<string, unknown>;
  /** Run this instead of the real Falco (e.g. a wrapper that execs it). */
  falcoBinary?: string;
}

export interface RealFalcoAgent extends AgentProcess {
  readonly falcoConfigDir: string;
  /** SIGTERM (the agent stops Falco), then kill whatever of ours is left. */
  dispose(): Promise<void>;
}

/** The real agent (services/agent/main.ts) supervising the real Falco. */
export async function startRealFalcoAgent(options: RealFalcoAgentOptions): Promise<RealFalcoAgent> {
  if (REAL_FALCO === undefined) throw new Error(realFalcoSkipReason());
  const falcoConfigDir = join(options.stateDir, "falco");
  falcoConfigDirs.add(falcoConfigDir);
  await mkdir(options.stateDir, { recursive: true });
  const extraArgs: string[] = [];
  if (options.configFile !== undefined) {
    const path = join(options.stateDir, "agent-config.json");
    await writeFile(path, JSON.stringify(options.configFile));
    extraArgs.push("--config", path);
  }
  const { configFile: _, falcoBinary, ...agentOptions } = options;
  const service = await startAgentProcess({
    ...agentOptions,
    falcoBinary: falcoBinary ?? REAL_FALCO,
    extraArgs,
  });
  const dispose = async () => {
    const stopped = service.stop();
    const timeout = new Promise<void>((resolve) => setTimeout(resolve, 20_000).unref());
    await Promise.race([stopped, timeout]);
    await service.kill().catch(() => {});
    for (const pid of ourFalcoPids()) killQuietly(pid);
  };
  return Object.assign(service, { falcoConfigDir, dispose });
}

/** A pods file (the agent's source of pods outside Kubernetes) for containers of one namespace. */
export async function writePodsFile(
  path: string,
  namespace: string,
  pods: ReadonlyArray<{ container: PodContainer; name: string; owner: string; containerName: string }>,
): Promise<string> {
  await writeFile(
    path,
    JSON.stringify({
      pods: pods.map((p) => ({
        uid: p.container.podUid,
        name: p.name,
        namespace,
        labels: { app: p.owner },
        owner: { kind: "Deployment", name: p.owner },
        containers: [{ name: p.containerName, id: p.container.containerId }],
      })),
    }),
  );
  return path;
}
