import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { FalcoRun } from "./falco-run.ts";
import { RestartBackoff } from "./restart-backoff.ts";

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

/** How long after `schedule` the restart came. */
async function delayOf(backoff: RestartBackoff): Promise<number> {
  const started = Date.now();
  let at: number | undefined;
  backoff.schedule(() => {
    at = Date.now();
    backoff.restarting();
  });
  expect(backoff.pending).toBe(true);
  await vi.advanceTimersByTimeAsync(10_000);
  expect(backoff.pending).toBe(false);
  return at! - started;
}

describe("RestartBackoff", () => {
  it("waits the next delay before each restart and repeats the last one", async () => {
    const backoff = new RestartBackoff([50, 100, 200]);
    const delays = [];
    for (let i = 0; i < 4; i++) delays.push(await delayOf(backoff));
    expect(delays).toEqual([50, 100, 200, 200]);
  });

  it("starts from the first delay again after a run that lasted the stable time, not after a shorter one", async () => {
    const backoff = new RestartBackoff([50, 100], 1_000);
    await delayOf(backoff);
    const short = {} as FalcoRun;
    backoff.started(short);
    await vi.advanceTimersByTimeAsync(999);
    backoff.ended(short);
    // Past its stable time, had it not ended.
    await vi.advanceTimersByTimeAsync(1_000);
    expect(await delayOf(backoff)).toBe(100);
    const stable = {} as FalcoRun;
    backoff.started(stable);
    await vi.advanceTimersByTimeAsync(1_000);
    backoff.ended(stable);
    expect(await delayOf(backoff)).toBe(50);
  });

  it("no longer counts a restart under way as pending, without calling it off", async () => {
    const backoff = new RestartBackoff([50]);
    let restarted = false;
    backoff.schedule(() => (restarted = true));
    backoff.restarting();
    expect(backoff.pending).toBe(false);
    await vi.advanceTimersByTimeAsync(100);
    expect(restarted).toBe(true);
  });

  it("calls off a pending restart", async () => {
    const backoff = new RestartBackoff([50]);
    let restarted = false;
    backoff.schedule(() => (restarted = true));
    backoff.cancel();
    expect(backoff.pending).toBe(false);
    await vi.advanceTimersByTimeAsync(100);
    expect(restarted).toBe(false);
  });
});
