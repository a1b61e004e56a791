import { watch } from "node:fs";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { eventually } from "../../../test/helpers/eventually.ts";
import { CaptureProbes } from "./capture-probes.ts";
import type { FalcoRun } from "./falco-run.ts";

const silent = { warn: () => undefined };
const dirs: string[] = [];
afterEach(async () => {
  vi.useRealTimers();
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

/** Probes on fake timers whose touches are counted, not made. */
function countedProbes(isWatched: (run: FalcoRun) => boolean = () => true) {
  vi.useFakeTimers();
  const probes = new CaptureProbes({ configDir: "/cfg", intervalMs: 10, isWatched, logger: silent });
  const touched: number[] = [];
  vi.spyOn(probes, "touch").mockImplementation(async (seq) => {
    touched.push(seq);
  });
  return { probes, touched };
}

function openedRun(): FalcoRun {
  return { capturing: false, stopping: false, opened: true } as FalcoRun;
}

describe("CaptureProbes", () => {
  it("names probes in the configuration directory's absolute path with a nonce of this agent's own", () => {
    const a = new CaptureProbes({
      configDir: "rel/dir",
      intervalMs: 10,
      isWatched: () => true,
      logger: silent,
    });
    const b = new CaptureProbes({
      configDir: "rel/dir",
      intervalMs: 10,
      isWatched: () => true,
      logger: silent,
    });
    expect(a.tag).toMatch(/^probe-[0-9a-f]{32}-$/);
    expect(a.prefix).toBe(join(process.cwd(), "rel/dir", a.tag));
    expect(a.tag).not.toBe(b.tag);
  });

  it("creates each probe file and removes it again", async () => {
    const dir = await mkdtemp(join(tmpdir(), "capture-probes-"));
    dirs.push(dir);
    const probes = new CaptureProbes({
      configDir: dir,
      intervalMs: 10,
      isWatched: () => true,
      logger: silent,
    });
    const seen: string[] = [];
    const watcher = watch(dir, (_, name) => seen.push(String(name)));
    try {
      await probes.touch(probes.next());
      expect(await readdir(dir)).toEqual([]);
      // The watcher's events come when the event loop gets to them.
      await eventually("the probe file's event", () => seen.includes(`${probes.tag}1`), 10_000, 5);
    } finally {
      watcher.close();
    }
  });

  it("logs a probe it cannot make, naming its file", async () => {
    const warned: string[] = [];
    const probes = new CaptureProbes({
      configDir: "/nonexistent/seccompose-probes",
      intervalMs: 10,
      isWatched: () => true,
      logger: { warn: (entry: { path: string }) => warned.push(entry.path) },
    } as ConstructorParameters<typeof CaptureProbes>[0]);
    await probes.touch(probes.next());
    expect(warned).toEqual([`${probes.prefix}1`]);
  });

  it("probes a run at once and at each interval until it captures, and stops when it is no longer watched", () => {
    let watched = true;
    const { probes, touched } = countedProbes(() => watched);
    const run = openedRun();
    probes.start(run);
    expect(touched).toEqual([1]);
    vi.advanceTimersByTime(30);
    expect(touched).toEqual([1, 2, 3, 4]);
    run.capturing = true;
    vi.advanceTimersByTime(30);
    expect(touched).toEqual([1, 2, 3, 4]);
    expect(vi.getTimerCount()).toBe(0);

    run.capturing = false;
    probes.start(run);
    // Started again while probing: still one probe an interval.
    probes.start(run);
    vi.advanceTimersByTime(10);
    expect(touched).toEqual([1, 2, 3, 4, 5, 6, 7]);
    watched = false;
    vi.advanceTimersByTime(30);
    expect(touched).toHaveLength(7);
    expect(probes.last).toBe(7);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("stops probing a run when told", () => {
    const { probes, touched } = countedProbes();
    const run = openedRun();
    probes.start(run);
    probes.stop(run);
    vi.advanceTimersByTime(30);
    expect(touched).toEqual([1]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("passes a barrier once its probe or a later one came back through the Falco whose alerts are handed on, not an earlier one", async () => {
    const { probes, touched } = countedProbes();
    probes.next();
    const barrier = probes.barrier(5_000);
    let passed: boolean | undefined;
    void barrier.then((ok) => (passed = ok));
    await vi.advanceTimersByTimeAsync(0);
    expect(touched).toEqual([2]);
    probes.handedOn(1);
    await vi.advanceTimersByTimeAsync(0);
    expect(passed).toBeUndefined();
    probes.handedOn(2);
    expect(await barrier).toBe(true);
  });

  it("fails a barrier whose probes do not come back in time, repeating them meanwhile", async () => {
    const { probes, touched } = countedProbes();
    const barrier = probes.barrier(600);
    await vi.advanceTimersByTimeAsync(600);
    expect(await barrier).toBe(false);
    expect(touched).toEqual([1, 2, 3]);
    expect(vi.getTimerCount()).toBe(0);
  });
});
