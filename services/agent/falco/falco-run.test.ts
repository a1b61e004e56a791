import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { FalcoRun, MAX_CUTOVER_LINES, type LineMode, type RunEvents } from "./falco-run.ts";
import { FakeFalcoProcess } from "../../../test/helpers/fake-falco-process.ts";

const TAG = "probe-00ff-";
const ALERT = "16:30:21.000000000: Debug seccompose openat";
const DROP = '{"rule":"Falco internal: syscall event drop","output":"syscall event drop"}';

const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

function startRun(
  mode: LineMode = "forward",
  onLine?: (line: string) => void,
  overrides: Partial<RunEvents> = {},
) {
  const child = new FakeFalcoProcess();
  const lines: string[] = [];
  const events: string[] = [];
  const logs: Array<{ msg: string }> = [];
  const record: RunEvents = {
    opened: () => events.push("opened"),
    probeReturned: (_, seq) => events.push(`probe:${seq}`),
    reloadFailed: (_, line) => events.push(`reloadFailed:${line}`),
    heldTooMany: () => events.push("heldTooMany"),
    closed: (_, code) => events.push(`closed:${code}`),
    afterClosed: () => events.push("afterClosed"),
    ...overrides,
  };
  const run = new FalcoRun({
    child: child.child,
    pid: 42,
    slot: "a",
    targets: { sessions: [], excludeSyscalls: ["read", "write", "pread64"] },
    signature: "sig",
    mode,
    probeTag: TAG,
    threadOrigins: () => null,
    onLine: onLine ?? ((line) => lines.push(line)),
    logger: pino({ level: "debug" }, { write: (entry: string) => logs.push(JSON.parse(entry)) }),
    events: record,
  });
  return { run, child, lines, events, logs };
}

describe("FalcoRun", () => {
  it("forwards alert lines, and keeps Falco's rule statistics and the probes' own alerts back", async () => {
    const { child, lines, events } = startRun();
    child.stdout.write(`${ALERT}\nEvents detected: 3\nRule counts by severity:\n   DEBUG: 3\n`);
    child.stdout.write(`${ALERT} /cfg/${TAG}7\n{"output":"json"}\n`);
    await settle();
    expect(lines).toEqual([ALERT, '{"output":"json"}']);
    expect(events).toEqual(["probe:7"]);
  });

  it("passes nothing on while discarding and only drop alerts once handed over", async () => {
    const { run, child, lines } = startRun("discard");
    child.stdout.write(`${ALERT}\n${DROP}\n`);
    await settle();
    expect(lines).toEqual([]);
    run.capturing = true;
    run.handedOver();
    expect(run).toMatchObject({ mode: "drops", held: [], capturing: false, stopping: true });
    child.stdout.write(`${ALERT}\n${DROP}\n`);
    await settle();
    expect(lines).toEqual([DROP]);
  });

  it("holds lines from its cutover probe on, marks each later probe, and hands the held lines on when it forwards again", async () => {
    const { run, child, lines } = startRun();
    run.cutoverSeq = 5;
    child.stdout.write(
      `a1\n${ALERT} /cfg/${TAG}4\nb2\n${ALERT} /cfg/${TAG}5\nc3\nd4\n${ALERT} /cfg/${TAG}6\ne5\n`,
    );
    await settle();
    // Up to the cutover probe's line it forwards.
    expect(lines).toEqual(["a1", "b2"]);
    expect(run.mode).toBe("hold");
    expect(run.held).toEqual(["c3", "d4", "e5"]);
    expect([...run.marks]).toEqual([
      [5, 0],
      [6, 2],
    ]);

    run.rebaseHeld(6);
    expect(run.held).toEqual(["e5"]);
    expect([...run.marks]).toEqual([[6, 0]]);

    run.resumeForwarding();
    expect(run).toMatchObject({ mode: "forward", cutoverSeq: undefined, passedCutover: false, held: [] });
    expect(run.marks.size).toBe(0);
    child.stdout.write("f6\n");
    await settle();
    expect(lines).toEqual(["a1", "b2", "e5", "f6"]);
  });

  it("tells when it holds more lines than a cutover may", async () => {
    const { run, child, events } = startRun("hold");
    child.stdout.write(`${ALERT}\n`.repeat(MAX_CUTOVER_LINES + 1));
    await settle();
    expect(run.held).toHaveLength(MAX_CUTOVER_LINES + 1);
    expect(events).toEqual(["heldTooMany"]);
  });

  it("keeps Falco's last log lines and error lines, and reads its driver set and when it opened its source", async () => {
    const { run, child, events } = startRun();
    child.stderr.write("Thu Nov 27 16:30:20 2026: Error: cannot load plugin\n");
    for (let i = 0; i < 60; i++) child.stderr.write(`Thu Nov 27 16:30:20 2026: line ${i}\n`);
    child.stderr.write("Thu Nov 27 16:30:20 2026: (137) syscalls selected in total\n");
    child.stderr.write("Thu Nov 27 16:30:20 2026: +(2) repaired syscalls: read, pread, procexit\n");
    child.stderr.write("Thu Nov 27 16:30:20 2026: Opening 'syscall' source with modern BPF probe.\n");
    child.stderr.write("Thu Nov 27 16:30:20 2026: Opening 'syscall' source with modern BPF probe.\n");
    await settle();
    expect(run.stderrTail).toHaveLength(50);
    expect(run.stderrTail.at(-1)).toContain("Opening 'syscall' source");
    expect(run.errors).toEqual(["Error: cannot load plugin"]);
    expect(run.driverSyscalls).toBe(137);
    // Kernel names, without the events that are no syscalls.
    expect(run.repaired).toEqual(["read", "pread64"]);
    expect(run.leftOut()).toEqual(["write"]);
    expect(run.opened).toBe(true);
    expect(events).toEqual(["opened"]);
    // Once it captures, the error lines of its start name no cause of a later exit.
    run.provedCapture();
    expect(run).toMatchObject({ capturing: true, errors: [] });
  });

  it("reports a failed hot restart only while it reloads, and clears the reload when Falco opens its source again", async () => {
    const { run, child, events, lines } = startRun();
    const failure = "16:30:21.000000000: Critical Falco internal: hot restart failure";
    child.stdout.write(`${failure}\n`);
    await settle();
    run.reloading = true;
    run.opened = false;
    child.stdout.write(`${failure}\n`);
    child.stderr.write("Thu Nov 27 16:30:20 2026: Opening 'syscall' source with modern BPF probe.\n");
    await settle();
    expect(events).toEqual([`reloadFailed:${failure}`, "opened"]);
    expect(run).toMatchObject({ reloading: false, opened: true });
    expect(lines).toEqual([failure, failure]);
  });

  it("logs a failing alert consumer and goes on with the next line", async () => {
    const seen: string[] = [];
    const { child, logs } = startRun("forward", (line) => {
      seen.push(line);
      throw new Error("consumer broke");
    });
    child.stdout.write("1 a\n2 b\n");
    await settle();
    expect(seen).toEqual(["1 a", "2 b"]);
    expect(logs.filter((entry) => entry.msg === "alert consumer failed on a Falco line")).toHaveLength(2);
  });

  it("abandons a successor: its held lines go, it discards the rest and is killed", async () => {
    const { run, child, lines } = startRun("hold");
    run.capturing = true;
    child.stdout.write("1 a\n");
    await settle();
    run.marks.set(3, 1);
    run.abandon();
    child.stdout.write("2 b\n");
    await settle();
    expect(run).toMatchObject({ capturing: false, stopping: true, mode: "discard", held: [] });
    expect(run.marks.size).toBe(0);
    expect(child.signals).toEqual(["SIGKILL"]);
    expect(lines).toEqual([]);
  });

  it("reports its exit after its output, then counts as closed, then reports that", async () => {
    const { run, child, lines, events } = startRun();
    let closed = false;
    void run.closed.then(() => (closed = true));
    child.stdout.write("1 last alert");
    child.exit(1);
    await settle();
    await settle();
    expect(lines).toEqual(["1 last alert"]);
    expect(events).toEqual(["closed:1", "afterClosed"]);
    expect(closed).toBe(true);
  });

  it("resolves closed before afterClosed, so what awaits it runs before what is woken there", async () => {
    const order: string[] = [];
    let wake: () => void = () => undefined;
    const woken = new Promise<void>((resolve) => (wake = resolve));
    void woken.then(() => order.push("woken"));
    const { run, child } = startRun("forward", undefined, { afterClosed: () => wake() });
    void run.closed.then(() => order.push("closed"));
    child.exit(0);
    await settle();
    expect(order).toEqual(["closed", "woken"]);
  });
});
