import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { FALCO_FIXTURES_DIR } from "../../../test/helpers/falco-fixtures.ts";
import type { FalcoAlert, FalcoSyscallAlert } from "../intake/alert.ts";
import { COMPACT_LAYOUT, createCompactParser } from "../intake/compact-alert.ts";
import { parseJsonAlert } from "../intake/json-alert.ts";
import type { FalcoState } from "../ports.ts";
import { cleanLogLine, isErrorLine, parseFalcoVersion } from "./falco-log.ts";
import { handover, unseenProcesses } from "./handover.ts";
import { FalcoSupervisor, type FalcoSupervisorDeps, type SpawnFunction } from "./supervisor.ts";
import { FakeFalcoProcess } from "../../../test/helpers/fake-falco-process.ts";
import { sessionInNamespaces } from "../../../test/helpers/session-record.ts";

const STANDIN = fileURLToPath(new URL("../../../test/standin-falco/standin-falco.ts", import.meta.url));
const POD_A = "5d0c8a3e-1f2b-4a6c-9d7e-0b1a2c3d4e5f";
const POD_B = "8e7f6a5b-4c3d-4e2f-8a1b-9c0d1e2f3a4b";
const CONTAINER_A = "4f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff01";
const CONTAINER_B = "9a8b7c6d5e4f30211203f4e5d6c7b8a99a8b7c6d5e4f30211203f4e5d6c7b8a9";
const CONTAINER_PLUGIN = [{ name: "container", libraryPath: "libcontainer.so" }];

interface Harness {
  supervisor: FalcoSupervisor;
  configDir: string;
  lines: string[];
  states: FalcoState[];
  failures: string[];
  logs: Array<{ msg?: string; event?: string; line?: string }>;
}

const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function harness(deps: Partial<FalcoSupervisorDeps> = {}): Promise<Harness> {
  const configDir = await mkdtemp(join(tmpdir(), "falco-supervisor-"));
  const lines: string[] = [];
  const states: FalcoState[] = [];
  const failures: string[] = [];
  const logs: Harness["logs"] = [];
  const logger = pino({ level: "debug" }, { write: (entry: string) => logs.push(JSON.parse(entry)) });
  const supervisor = new FalcoSupervisor({
    binary: process.execPath,
    extraArgs: [STANDIN],
    configDir,
    alertFormat: "compact",
    backoffMs: [50, 100, 200],
    onLine: (line) => lines.push(line),
    onStateChange: (status) => states.push(status.state),
    onFailure: (reason) => failures.push(reason),
    logger,
    ...deps,
  });
  cleanups.push(async () => {
    await supervisor.stop();
    await rm(configDir, { recursive: true, force: true });
  });
  return { supervisor, configDir, lines, states, failures, logs };
}

async function commandsFile(specs: unknown[]): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "falco-commands-"));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, "commands.json");
  await writeFile(file, JSON.stringify(specs));
  return file;
}

async function waitFor(what: string, condition: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

function syscallsOf(alerts: FalcoAlert[], podUid: string): Set<string> {
  return new Set(
    alerts
      .filter((alert): alert is FalcoSyscallAlert => alert.kind === "syscall" && alert.podUid === podUid)
      .map((alert) => alert.syscall),
  );
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("FalcoSupervisor with the stand-in Falco", () => {
  it("starts Falco on the first apply and passes each alert line to onLine, where the compact parser reads it", async () => {
    const commands = await commandsFile([
      { cmd: ["ls", "/"], podUid: POD_A, containerId: CONTAINER_A },
      {
        cmd: ["sh", "-c", "echo hi | cat"],
        podUid: POD_B,
        containerId: CONTAINER_B,
        cgroupLayout: "systemd",
      },
    ]);
    const h = await harness({
      env: { ...process.env, STANDIN_MODE: "strace", STANDIN_COMMANDS: commands, STANDIN_DROPS: "1" },
    });
    expect(h.supervisor.status()).toMatchObject({ state: "stopped", restarts: 0 });

    await h.supervisor.apply({ sessions: [sessionInNamespaces("s1")] });
    const parse = createCompactParser(COMPACT_LAYOUT);
    const alerts: FalcoAlert[] = [];
    // The drop alert comes after the last command's events. The commands run at once, so on a
    // loaded machine they may all be done before the agent's probe has come back: wait for both.
    await waitFor("the drop alert and the probe", () => {
      for (const line of h.lines.slice(alerts.length)) alerts.push(parse(line));
      return alerts.some((alert) => alert.kind === "drop") && h.supervisor.status().state === "running";
    });

    const status = h.supervisor.status();
    expect(status).toMatchObject({ state: "running", version: "0.44.1", restarts: 0 });
    expect(h.states).toEqual(["starting", "running"]);
    for (const pod of [POD_A, POD_B]) {
      const syscalls = syscallsOf(alerts, pod);
      expect(syscalls).toContain("execve");
      expect(syscalls).toContain("openat");
      expect(syscalls).not.toContain("exit_group");
    }
    expect(syscallsOf(alerts, POD_B)).toContain("pipe2");
    const containers = alerts.flatMap((alert) => (alert.kind === "syscall" ? [alert.containerId] : []));
    expect(new Set(containers)).toEqual(new Set([CONTAINER_A, CONTAINER_B]));
    expect(alerts.some((alert) => alert.kind === "non-syscall" && alert.falcoType === "procexit")).toBe(true);

    const pid = status.pid!;
    await h.supervisor.stop();
    expect(h.supervisor.status()).toMatchObject({ state: "stopped", version: "0.44.1", restarts: 0 });
    expect(isAlive(pid)).toBe(false);
    // Falco's rule statistics at exit are logged, not passed on as alerts.
    expect(h.lines.some((line) => line.startsWith("Events detected"))).toBe(false);
    expect(h.logs.some((entry) => entry.line?.startsWith("Events detected") === true)).toBe(true);
    expect(h.failures).toEqual([]);
  });

  it("runs Falco with JSON alerts carrying container and k8s fields when the container plugin is loaded", async () => {
    const commands = await commandsFile([
      { cmd: ["ls", "/"], podUid: POD_A, containerId: CONTAINER_A, namespace: "payments", podName: "api-0" },
    ]);
    const h = await harness({
      alertFormat: "json",
      plugins: CONTAINER_PLUGIN,
      env: { ...process.env, STANDIN_MODE: "strace", STANDIN_COMMANDS: commands, STANDIN_DROPS: "1" },
    });
    await h.supervisor.apply({ sessions: [sessionInNamespaces("s1")] });
    await waitFor("the drop alert", () =>
      h.lines.some((line) => line.includes("Falco internal: syscall event drop")),
    );

    const alerts = h.lines.map(parseJsonAlert);
    const execve = alerts.find((alert): alert is FalcoSyscallAlert => alert.kind === "syscall")!;
    expect(execve).toMatchObject({
      syscall: "execve",
      podUid: POD_A,
      containerId: CONTAINER_A,
      container: { id: CONTAINER_A.slice(0, 12), podUid: POD_A, namespace: "payments", podName: "api-0" },
    });
    expect(syscallsOf(alerts, POD_A)).not.toContain("exit_group");
    // `--version` answers in JSON when the config asks for JSON output.
    expect(h.supervisor.status().version).toBe("0.44.1");
  });

  it("swaps Falco when its configuration changes: a second Falco on the other slot's files takes over without a state change", async () => {
    const h = await harness({ alertFormat: "json", plugins: CONTAINER_PLUGIN, narrowToNamespaces: true });
    await h.supervisor.apply({ sessions: [sessionInNamespaces("s1", ["a"])] });
    await waitFor("capture proven", () => h.supervisor.status().state === "running");
    const pid = h.supervisor.status().pid!;
    expect(await readFile(join(h.configDir, "seccompose_rules.yaml"), "utf8")).toContain(
      "k8s.ns.name in (a)",
    );

    await h.supervisor.apply({
      sessions: [sessionInNamespaces("s1", ["a"]), sessionInNamespaces("s2", ["b"])],
    });
    // apply returns after the cutover; the new Falco runs from the other slot's files.
    expect(await readFile(join(h.configDir, "seccompose_rules-b.yaml"), "utf8")).toContain(
      "k8s.ns.name in (a, b)",
    );
    expect(await readFile(join(h.configDir, "falco-b.yaml"), "utf8")).toContain("seccompose_rules-b.yaml");
    const status = h.supervisor.status();
    expect(status).toMatchObject({ state: "running", restarts: 0 });
    expect(status.pid).not.toBe(pid);
    expect(status.driverSet).toMatchObject({ swaps: 1, swapFailures: 0, swapping: false });
    expect(status.driverSet.lastSwapAt).toBeGreaterThan(0);
    expect(h.states).toEqual(["starting", "running"]);
    expect(h.failures).toEqual([]);
    await waitFor("the old Falco gone", () => !isAlive(pid));
    expect(await h.supervisor.barrier(10_000)).toBe(true);

    // The same targets again: nothing changed, so no swap.
    await h.supervisor.apply({
      sessions: [sessionInNamespaces("s2", ["b"]), sessionInNamespaces("s1", ["a"])],
    });
    expect(h.supervisor.status().driverSet.swaps).toBe(1);
  });

  it.each([
    ["the new one learns the process only at its next execve", { STANDIN_LEARN_AT_EXEC: "1" }],
    // An overloaded Falco drops events, probes included: a single cutover probe rarely comes
    // back through both.
    ["each Falco drops half of the probes", { STANDIN_PROBE_LOSS: "0.5" }],
  ])(
    "hands on every syscall made around each of several swaps exactly once, also when the old Falco came in by a swap, and when %s",
    async (_, env) => {
      const h = await harness({
        env: { ...process.env, STANDIN_POD_OPENS: `${POD_A}/${CONTAINER_A}`, ...env },
      });
      await h.supervisor.apply({ sessions: [sessionInNamespaces("s1")] });
      await waitFor("capture", () => h.supervisor.status().state === "running");

      // Thread n of a pod process makes one syscall, every 20th an execve (the process re-executes
      // itself about every 100 ms): each stand-in running sees it as each Falco sees a syscall, and
      // a stand-in started meanwhile sees none of the process's calls before its next execve.
      let made = 0;
      let making = true;
      const maker = (async () => {
        while (making) {
          made += 1;
          await writeFile(join(h.configDir, `pod-${made % 20 === 1 ? "exec" : "open"}-${made}`), "");
          await sleep(5);
        }
      })();
      const sets = [["read"], ["read", "write"], ["pread64", "read", "write"]];
      for (const excludeSyscalls of sets) {
        await h.supervisor.apply({ sessions: [sessionInNamespaces("s1")], excludeSyscalls });
      }
      making = false;
      await maker;
      expect(h.supervisor.status().driverSet).toMatchObject({ swaps: 3, swapFailures: 0 });
      expect(await h.supervisor.barrier(10_000)).toBe(true);

      const parse = createCompactParser(COMPACT_LAYOUT);
      const threads = h.lines
        .map(parse)
        .flatMap((alert) => (alert.kind === "syscall" && alert.podUid === POD_A ? [alert.tid!] : []))
        .sort((a, b) => a - b);
      const twice = threads.filter((tid, i) => threads[i - 1] === tid);
      const all = Array.from({ length: made }, (_, i) => i + 1);
      expect({ twice, lost: all.filter((tid) => !threads.includes(tid)) }).toEqual({ twice: [], lost: [] });
      expect(threads).toEqual(all);
    },
  );

  it("keeps the running Falco when a swap's second Falco fails, and reloads it in place when the change must capture more", async () => {
    const crashFile = join(await mkdtemp(join(tmpdir(), "falco-crash-")), "crash");
    cleanups.push(() => rm(crashFile, { force: true }));
    const h = await harness({
      swapRetryMs: [0],
      env: { ...process.env, STANDIN_CRASH_IF_EXISTS: crashFile },
    });
    await h.supervisor.apply({ sessions: [sessionInNamespaces("s1")], excludeSyscalls: ["read"] });
    await waitFor("capture", () => h.supervisor.status().state === "running");
    const pid = h.supervisor.status().pid!;
    expect(h.supervisor.status().driverSet.excluded).toEqual(["read"]);
    expect(await readFile(join(h.configDir, "falco.yaml"), "utf8")).toContain('- "!read"');

    await writeFile(crashFile, "");
    // Lowering further is optional: the old Falco simply goes on.
    await h.supervisor.apply({ sessions: [sessionInNamespaces("s1")], excludeSyscalls: ["read", "write"] });
    expect(h.supervisor.status()).toMatchObject({ state: "running", pid });
    expect(h.supervisor.status().driverSet).toMatchObject({
      excluded: ["read"],
      swaps: 0,
      swapFailures: 1,
      lastSwapFailure: expect.stringMatching(/^the second Falco exited before it captured/),
    });
    expect(h.failures[0]).toMatch(/^Falco swap failed: /);

    // Capturing `read` again cannot wait: the old Falco is reloaded in place (SIGHUP).
    await h.supervisor.apply({ sessions: [sessionInNamespaces("s1")], excludeSyscalls: [] });
    await waitFor("the reload", () => h.logs.some((entry) => entry.event === "falco.reloading"));
    await waitFor("capture again", () => h.supervisor.status().state === "running");
    expect(h.supervisor.status()).toMatchObject({ pid, restarts: 0 });
    expect(h.supervisor.status().driverSet).toMatchObject({ excluded: [], swapFailures: 2 });
    expect(await readFile(join(h.configDir, "falco.yaml"), "utf8")).not.toContain("!read");
    expect(await h.supervisor.barrier(10_000)).toBe(true);
  });

  it("restarts a crashing Falco with backoff, counts the restarts and reports each exit with Falco's last stderr lines", async () => {
    const h = await harness({ env: { ...process.env, STANDIN_MODE: "crash" } });
    await h.supervisor.apply({ sessions: [sessionInNamespaces("s1")] });
    await waitFor("two restarts", () => h.supervisor.status().restarts >= 2 && h.failures.length >= 3);

    // The cause, not Falco's generic "forcing termination" line; the whole log is kept.
    expect(h.failures[0]).toBe("exit code 1: Error: Initialization issues during scap_init");
    // It opened its source but never captured: never "running".
    expect(h.states.slice(0, 4)).toEqual(["starting", "backoff", "starting", "backoff"]);
    const status = h.supervisor.status();
    expect(status.lastExit).toMatch(/^exit code 1: /);
    expect(status.lastExitLog?.some((line) => line.includes("Opening 'syscall' source"))).toBe(true);

    await h.supervisor.stop();
    const restarts = h.supervisor.status().restarts;
    // Longer than the longest backoff: a pending restart would have happened by now.
    await sleep(400);
    expect(h.supervisor.status()).toMatchObject({ state: "stopped", restarts });
    expect(h.supervisor.status().pid).toBeUndefined();
  });

  it("stops Falco when no session is left", async () => {
    const h = await harness();
    await h.supervisor.apply({ sessions: [sessionInNamespaces("s1")] });
    await waitFor("Falco running", () => h.supervisor.status().state === "running");
    const pid = h.supervisor.status().pid!;
    await h.supervisor.apply({ sessions: [] });
    expect(h.supervisor.status().state).toBe("stopped");
    expect(isAlive(pid)).toBe(false);
    expect(h.failures).toEqual([]);
  });

  it("fails without retrying when the Falco binary cannot be started", async () => {
    const h = await harness({ binary: "/nonexistent/falco", extraArgs: [] });
    await h.supervisor.apply({ sessions: [sessionInNamespaces("s1")] });
    await waitFor("the failure", () => h.failures.length > 0);
    expect(h.supervisor.status()).toMatchObject({ state: "failed", restarts: 0 });
    expect(h.failures).toEqual([expect.stringMatching(/^cannot start \/nonexistent\/falco: .*ENOENT/)]);
    expect(h.supervisor.status().version).toBeUndefined();
  });
});

/** Answers the probes like Falco with the container plugin and records every Falco it runs. */
class FakeFalco {
  readonly runs: FakeFalcoProcess[] = [];
  #nextPid = 1000;

  readonly spawn: SpawnFunction = (_command, args) => {
    const child = new FakeFalcoProcess(this.#nextPid++);
    const probeOutput = args.includes("--version")
      ? "Falco version: 0.44.1\n"
      : args.includes("--list=syscall")
        ? "evt.type\ncontainer.id\nk8s.ns.name\nk8s.pod.name\nk8s.pod.uid\n"
        : undefined;
    if (probeOutput === undefined) {
      this.runs.push(child);
    } else {
      child.stdout.on("end", () => child.emit("close", 0, null));
      child.stdout.end(probeOutput);
    }
    return child.child;
  };
}

/** Lets stream events and promise continuations run. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Lets real I/O (the configuration written before a restart) finish while timers are fake. */
async function settleUntil(condition: () => boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!condition() && Date.now() < end) await settle();
  expect(condition()).toBe(true);
}

describe("FalcoSupervisor timing and signals", () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  async function fakeHarness(deps: Partial<FalcoSupervisorDeps> = {}) {
    const fake = new FakeFalco();
    const h = await harness({ spawnImpl: fake.spawn, stableAfterMs: 1000, stopGraceMs: 500, ...deps });
    return { ...h, fake };
  }

  it("waits the next backoff delay before each restart, repeats the last one and starts over after a stable run", async () => {
    const { supervisor, fake, failures } = await fakeHarness();
    await supervisor.apply({ sessions: [sessionInNamespaces("s1")] });
    expect(fake.runs).toHaveLength(1);

    const expectRestartAfter = async (delay: number) => {
      const before = fake.runs.length;
      fake.runs.at(-1)!.exit(1);
      await settleUntil(() => supervisor.status().state === "backoff");
      expect(supervisor.status().state).toBe("backoff");
      await vi.advanceTimersByTimeAsync(delay - 1);
      expect(fake.runs).toHaveLength(before);
      await vi.advanceTimersByTimeAsync(1);
      await settleUntil(() => fake.runs.length > before);
      expect(fake.runs).toHaveLength(before + 1);
      expect(supervisor.status().state).toBe("starting");
    };
    await expectRestartAfter(50);
    await expectRestartAfter(100);
    await expectRestartAfter(200);
    await expectRestartAfter(200);
    await vi.advanceTimersByTimeAsync(1000);
    await expectRestartAfter(50);
    expect(supervisor.status()).toMatchObject({
      restarts: 5,
      lastExit: "exit code 1",
      pid: fake.runs.at(-1)!.pid,
    });
    expect(failures).toEqual(Array(5).fill("exit code 1"));
  });

  it("starts Falco again on a configuration change before it captured, since nothing captured can be lost", async () => {
    const { supervisor, fake } = await fakeHarness({
      plugins: CONTAINER_PLUGIN,
      narrowToNamespaces: true,
    });
    await supervisor.apply({ sessions: [sessionInNamespaces("s1", ["a"])] });
    const first = fake.runs[0]!;
    first.opened();
    await settle();
    await supervisor.apply({ sessions: [sessionInNamespaces("s1", ["a", "b"])] });
    expect(first.signals).toEqual(["SIGTERM"]);
    expect(fake.runs).toHaveLength(2);
    expect(supervisor.status()).toMatchObject({ state: "starting", pid: fake.runs[1]!.pid, restarts: 0 });
  });

  it("stops Falco with SIGTERM, kills it after the grace period, and does not count that exit as a failure", async () => {
    const { supervisor, fake, failures } = await fakeHarness();
    await supervisor.apply({ sessions: [sessionInNamespaces("s1")] });
    const falco = fake.runs[0]!;
    falco.ignoreSigterm = true;

    const stopped = supervisor.stop();
    await settle();
    expect(falco.signals).toEqual(["SIGTERM"]);
    await vi.advanceTimersByTimeAsync(499);
    expect(falco.signals).toEqual(["SIGTERM"]);
    await vi.advanceTimersByTimeAsync(1);
    await stopped;
    expect(falco.signals).toEqual(["SIGTERM", "SIGKILL"]);
    expect(supervisor.status()).toMatchObject({ state: "stopped", version: "0.44.1", restarts: 0 });
    expect(failures).toEqual([]);
  });

  it("cancels a pending restart when the last session ends during the backoff", async () => {
    const { supervisor, fake, states } = await fakeHarness();
    await supervisor.apply({ sessions: [sessionInNamespaces("s1")] });
    fake.runs[0]!.exit(1);
    await settleUntil(() => supervisor.status().state === "backoff");
    await supervisor.apply({ sessions: [] });
    await vi.advanceTimersByTimeAsync(1000);
    expect(fake.runs).toHaveLength(1);
    expect(states).toEqual(["starting", "backoff", "stopped"]);
  });
});

describe("FalcoSupervisor capture probe and barrier (stand-in Falco)", () => {
  it("reports capture windows and proves with a barrier that the alerts before it were read", async () => {
    const h = await harness();
    const changes: Array<{ capturing: boolean; reason?: string }> = [];
    h.supervisor.onCaptureChange(({ capturing, reason }) => changes.push({ capturing, reason }));
    expect(await h.supervisor.barrier(1000)).toBe(false);
    await h.supervisor.apply({ sessions: [sessionInNamespaces("s1")] });
    await waitFor("capture", () => h.supervisor.status().state === "running");
    expect(h.supervisor.status().capturingSince).toBeGreaterThan(0);
    expect(await h.supervisor.barrier(10_000)).toBe(true);
    // Probe alerts are the supervisor's own, never passed on as alerts.
    expect(h.lines.filter((line) => line.includes("probe-"))).toEqual([]);
    process.kill(h.supervisor.status().pid!, "SIGKILL");
    await waitFor("capture again", () => changes.length >= 3);
    expect(changes[0]).toEqual({ capturing: true, reason: undefined });
    expect(changes[1]).toEqual({ capturing: false, reason: "Falco exited (signal SIGKILL)" });
    expect(changes[2]?.capturing).toBe(true);
  });
});

describe("the cause of a Falco failure (the last error line the supervisor kept)", () => {
  // What FalcoSupervisor keeps of each stderr line as `errors`, whose last names the cause.
  const failureCause = (tail: string[]) =>
    tail
      .flatMap((line) => cleanLogLine(line) ?? [])
      .filter(isErrorLine)
      .at(-1);

  it("names the first error line, not the verifier log that ends Falco's output", () => {
    const tail = [
      "Sun Dec  6 02:40:00 2026: [libs]: libpman: unable to bump RLIMIT_MEMLOCK to RLIM_INFINITY (ignored, local patch) (errno: 1 | message: Operation not permitted)",
      "Sun Dec  6 02:40:00 2026: Opening 'syscall' source with modern BPF probe.",
      "libbpf: prog 'sendmmsg_x': BPF program load failed: Permission denied",
      "libbpf: prog 'sendmmsg_x': -- BEGIN PROG LOAD LOG --",
      "596: (18) r1 = 0x9e",
      "597: (85) call bpf_probe_read_kernel#113",
      "R1 type=scalar expected=fp",
      "processed 1204 insns (limit 1000000) max_states_per_insn 4",
      "-- END PROG LOAD LOG --",
      "Sun Dec  6 02:40:01 2026: An error occurred in an event source, forcing termination...",
    ];
    expect(failureCause(tail)).toBe("libbpf: prog 'sendmmsg_x': BPF program load failed: Permission denied");
    expect(failureCause(["596: (18) r1 = 0x9e"])).toBeUndefined();
  });
});

describe("parseFalcoVersion", () => {
  it("reads the text and the JSON form of falco --version", async () => {
    const text = await readFile(join(FALCO_FIXTURES_DIR, "falco-version.txt"), "utf8");
    expect(parseFalcoVersion(text)).toBe("0.44.1");
    expect(
      parseFalcoVersion('{"engine_version":"62","falco_version":"0.44.1","libs_version":"0.25.4"}'),
    ).toBe("0.44.1");
    expect(parseFalcoVersion("something else")).toBeUndefined();
  });
});

describe("unseenProcesses", () => {
  const cgroup = `/kubepods/burstable/pod${POD_A}/${CONTAINER_A}`;
  const compact = (pid: number) =>
    `16:30:21.000000000: Debug sc1|1764000000000000000|read|1|${pid}|${pid}|0|${cgroup}`;
  const json = (pid: number) =>
    `{"output_fields":{"proc.pid":${pid},"thread.cgroup.cpu":"${cgroup}"},"rule":"seccompose_capture"}`;

  it("names a pod process the running Falco saw busy and the successor did not, in both formats", () => {
    for (const line of [compact, json]) {
      const old = [...Array(8).fill(line(10)), ...Array(8).fill(line(11)), ...Array(3).fill(line(12))];
      // 11 seen as often by both; 12 too quiet to tell; 10 unseen by the successor.
      const successor = [...Array(7).fill(line(11)), line(10)];
      expect(unseenProcesses(old, successor)).toEqual([`${cgroup} pid 10`]);
    }
  });

  it("does not count the running Falco's alerts of events the successor's driver is not asked for", () => {
    const line = (type: string) =>
      `16:30:21.000000000: Debug sc1|1764000000000000000|${type}|1|10|10|0|${cgroup}`;
    const old = [...Array(40).fill(line("read")), ...Array(8).fill(line("getsid"))];
    const successor = Array(8).fill(line("getsid"));
    expect(unseenProcesses(old, successor)).toEqual([`${cgroup} pid 10`]);
    expect(unseenProcesses(old, successor, new Set(["read"]))).toEqual([]);
    expect(unseenProcesses(old, [], new Set(["read"]))).toEqual([`${cgroup} pid 10`]);
  });

  it("leaves host processes and Falco's own alerts alone", () => {
    const host = Array(20).fill("16:30:21.000000000: Debug sc1|1|read|1|5|5|0|/");
    expect(unseenProcesses([...host, ...Array(20).fill("Falco internal: syscall event drop")], [])).toEqual(
      [],
    );
  });
});

describe("handover", () => {
  const cgroup = `/kubepods/burstable/pod${POD_A}/${CONTAINER_A}`;
  const compact = (pid: number, type: string, timeNs: bigint) =>
    `16:30:21.000000000: Debug sc1|${timeNs}|${type}|0|${pid}|${pid}|<NA>|<NA>|<NA>|<NA>|${cgroup}`;
  const json = (pid: number, type: string, timeNs: bigint) =>
    `{"output_fields":{"evt.rawres":0,"evt.time":${timeNs},"evt.type":"${type}","proc.pid":${pid},"thread.cgroup.cpu":"${cgroup}","thread.tid":${pid}},"rule":"seccompose_capture"}`;

  it("hands on the old Falco's calls of a process until the successor's first one, or to the span's end when it has none", () => {
    for (const line of [compact, json]) {
      const t = (ms: number) => 1_764_000_000_000_000_000n + BigInt(ms) * 1_000_000n;
      // 10: known to both from the cutover on. 11: the successor learns it at its execve (its
      // driver's time 300 ns later). 12: unseen by the successor; its call after the span is not handed on.
      const old = [
        line(10, "read", t(1)),
        line(11, "read", t(2)),
        line(12, "read", t(3)),
        line(11, "getsid", t(4)),
        line(11, "execve", t(5)),
        line(11, "read", t(6)),
        line(12, "read", t(7)),
        "Falco internal: syscall event drop",
      ];
      const successor = [
        line(10, "read", t(1) + 300n),
        line(11, "execve", t(5) + 300n),
        line(11, "read", t(6)),
      ];
      expect(handover(old, 7, successor)).toEqual([old[1], old[2], old[3], old[6]]);
      expect(handover(old, 6, successor)).toEqual([old[1], old[2], old[3]]);
    }
  });
});
