import { watch } from "node:fs";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import { CaptureProbes } from "./capture-probes.ts";
import type { FalcoRun } from "./falco-run.ts";

const silent = { warn: () => undefined };
const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

/** Probes whose failed writes (into a directory that does not exist) name each probe's path. */
function failingProbes(isWatched: (run: FalcoRun) => boolean = () => true) {
  const warned: string[] = [];
  const probes = new CaptureProbes({
    configDir: "/nonexistent/seccompose-probes",
    intervalMs: 10,
    isWatched,
    logger: { warn: (entry: { path: string }) => warned.push(entry.path) },
  } as ConstructorParameters<typeof CaptureProbes>[0]);
  const touched = () => warned.map((path) => Number(path.slice(probes.prefix.length)));
  return { probes, touched };
}

function openedRun(): FalcoRun {
  return { capturing: false, stopping: false, opened: true, probeTimer: undefined } as unknown as FalcoRun;
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
    await probes.touch(probes.next());
    await sleep(50);
    watcher.close();
    expect(seen).toContain(`${probes.tag}1`);
    expect(await readdir(dir)).toEqual([]);
  });

  it("probes a run at once and at each interval until it captures, and stops when it is no longer watched", async () => {
    let watched = true;
    const { probes, touched } = failingProbes(() => watched);
    const run = openedRun();
    probes.start(run);
    await sleep(35);
    const whileProbing = touched().length;
    expect(whileProbing).toBeGreaterThanOrEqual(2);
    expect(touched()).toEqual(Array.from({ length: whileProbing }, (_, i) => i + 1));
    run.capturing = true;
    await sleep(30);
    expect(touched()).toHaveLength(whileProbing);

    run.capturing = false;
    probes.start(run);
    await sleep(5);
    watched = false;
    const before = touched().length;
    await sleep(30);
    expect(touched()).toHaveLength(before);
    expect(probes.last).toBe(before);
  });

  it("passes a barrier once its probe or a later one came back through the Falco whose alerts are handed on, not an earlier one", async () => {
    const { probes } = failingProbes();
    probes.next();
    const barrier = probes.barrier(5_000);
    await sleep(0);
    let passed: boolean | undefined;
    void barrier.then((ok) => (passed = ok));
    probes.handedOn(1);
    await sleep(0);
    expect(passed).toBeUndefined();
    probes.handedOn(probes.last);
    expect(await barrier).toBe(true);
  });

  it("fails a barrier whose probes do not come back in time, repeating them meanwhile", async () => {
    const { probes, touched } = failingProbes();
    expect(await probes.barrier(600)).toBe(false);
    expect(touched().length).toBeGreaterThanOrEqual(3);
  });
});
