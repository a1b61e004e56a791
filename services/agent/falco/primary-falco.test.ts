import { pino } from "pino";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { CaptureChange, FalcoState, FalcoTargets } from "../ports.ts";
import { AwaitedConditions } from "./awaited-conditions.ts";
import type { CaptureProbes } from "./capture-probes.ts";
import { CaptureWindows } from "./capture-windows.ts";
import { FalcoLauncher } from "./falco-launcher.ts";
import type { FalcoRun } from "./falco-run.ts";
import { PrimaryFalco, type PrimaryFalcoDeps } from "./primary-falco.ts";
import { RestartBackoff } from "./restart-backoff.ts";
import type { SlotFiles } from "./slot-files.ts";
import { FakeFalcoProcess } from "../../../test/helpers/fake-falco-process.ts";

const TAG = "probe-00ff-";

const tick = () => new Promise((resolve) => setImmediate(resolve));

/** Lets the fake child's streams and close event through until `condition` holds. */
async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !condition(); i++) await tick();
  expect(condition()).toBe(true);
}

function bench(options: { targets?: FalcoTargets; backoffMs?: number[] } = {}) {
  const children: FakeFalcoProcess[] = [];
  const states: FalcoState[] = [];
  const changes: CaptureChange[] = [];
  const failures: string[] = [];
  const probeCalls: string[] = [];
  const tasks: Array<() => Promise<void>> = [];
  let targets = options.targets ?? { sessions: [] as FalcoTargets["sessions"] };
  const logger = pino({ level: "silent" });
  const launcher = new FalcoLauncher({
    binary: "falco",
    spawn: () => {
      const child = new FakeFalcoProcess(100 + children.length);
      children.push(child);
      return child.child;
    },
    logger,
  });
  const files = {
    render: () => ({ configPath: "/cfg/falco.yaml" }),
    signature: () => "sig",
    threadOrigins: () => null,
    write: async () => undefined,
  } as unknown as SlotFiles;
  const probes = {
    tag: TAG,
    start: (run: FalcoRun) => probeCalls.push(`start ${run.pid}`),
    stop: (run: FalcoRun) => probeCalls.push(`stop ${run.pid}`),
    handedOn: () => undefined,
  } as unknown as CaptureProbes;
  const windows = new CaptureWindows(logger);
  windows.listen((change) => changes.push(change));
  const deps: PrimaryFalcoDeps = {
    launcher,
    files,
    probes,
    windows,
    backoff: new RestartBackoff(options.backoffMs ?? [1_000]),
    conditions: new AwaitedConditions(),
    swaps: {
      incoming: null,
      successorCaptures: () => undefined,
      successorExited: () => undefined,
      heldTooMany: () => undefined,
      stopRetiring: async () => undefined,
    },
    targets: () => targets,
    enqueue: (task) => tasks.push(task),
    onLine: () => undefined,
    onFailure: (reason) => failures.push(reason),
    stateChanged: () => states.push(primary.state),
    clock: () => 1_000,
    stopGraceMs: 1_000,
    logger,
  };
  const primary = new PrimaryFalco(deps);
  return {
    primary,
    children,
    states,
    changes,
    failures,
    probeCalls,
    tasks,
    setTargets: (next: FalcoTargets) => (targets = next),
  };
}

const oneSession: FalcoTargets = { sessions: [{ id: "s1" } as FalcoTargets["sessions"][number]] };

afterEach(() => {
  vi.useRealTimers();
});

describe("PrimaryFalco", () => {
  it("is starting until a probe comes back through it once it opened its source, then running and capturing", async () => {
    const b = bench({ targets: oneSession });
    b.primary.start("a");
    expect(b.states).toEqual(["starting"]);
    const child = b.children[0]!;
    // A probe before the source is open proves nothing yet.
    child.stdout.write(`1 probe /cfg/${TAG}1\n`);
    await tick();
    expect(b.primary.state).toBe("starting");
    child.opened();
    await tick();
    expect(b.probeCalls).toEqual(["start 100"]);
    child.stdout.write(`2 probe /cfg/${TAG}2\n`);
    await tick();
    expect(b.states).toEqual(["starting", "running"]);
    expect(b.probeCalls).toEqual(["start 100", "stop 100"]);
    expect(b.changes).toEqual([{ capturing: true, at: 1_000 }]);
    expect(b.primary.run?.capturing).toBe(true);
  });

  it("books an exit with its cause, and starts Falco again after the backoff, counting the restart", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const b = bench({ targets: oneSession, backoffMs: [500] });
    b.primary.start("a");
    b.children[0]!.exit(1, null, "cannot open the driver");
    await until(() => b.primary.state === "backoff");
    expect(b.primary.run).toBeNull();
    expect(b.primary.lastExit).toMatch(/^exit code 1: .*cannot open the driver$/);
    expect(b.failures).toEqual([b.primary.lastExit]);
    expect(b.tasks).toHaveLength(0);
    vi.advanceTimersByTime(500);
    expect(b.tasks).toHaveLength(1);
    await b.tasks[0]!();
    expect(b.primary.restarts).toBe(1);
    expect(b.children).toHaveLength(2);
    expect(b.states).toEqual(["starting", "backoff", "starting"]);
  });

  it("stops on an exit when no session is left, without a restart", async () => {
    const b = bench({ targets: oneSession });
    b.primary.start("a");
    b.setTargets({ sessions: [] });
    b.children[0]!.exit(1, null);
    await until(() => b.primary.state === "stopped");
    expect(b.tasks).toHaveLength(0);
  });

  it("reloads with SIGHUP only once Falco opened its source, and ends the capture window meanwhile", async () => {
    const b = bench({ targets: oneSession });
    b.primary.start("a");
    const child = b.children[0]!;
    const run = b.primary.run!;
    b.primary.reload(run);
    expect(child.signals).toEqual([]);
    expect(run.reloadPending).toBe(true);
    child.opened();
    await tick();
    expect(child.signals).toEqual(["SIGHUP"]);
    expect(run.reloading).toBe(true);
    expect(run.opened).toBe(false);
    expect(b.probeCalls).toEqual(["stop 100"]);
  });

  it("stops Falco with SIGTERM and books the stop, not a failure", async () => {
    const b = bench({ targets: oneSession });
    b.primary.start("a");
    await b.primary.terminate();
    expect(b.children[0]!.signals).toEqual(["SIGTERM"]);
    expect(b.primary.run).toBeNull();
    expect(b.failures).toEqual([]);
    expect(b.primary.lastExit).toBeUndefined();
  });
});
