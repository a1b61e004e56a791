import { describe, expect, it, vi } from "vitest";
import { AwaitedConditions } from "./awaited-conditions.ts";

describe("AwaitedConditions", () => {
  it("resolves true at once when the condition holds already", async () => {
    expect(await new AwaitedConditions().waitFor(() => true, 1_000)).toBe(true);
  });

  it("re-checks at each wake and resolves true once the condition holds, checking it no more", async () => {
    const conditions = new AwaitedConditions();
    let checks = 0;
    let ready = false;
    const waiting = conditions.waitFor(() => {
      checks += 1;
      return ready;
    }, 10_000);
    conditions.wake();
    ready = true;
    conditions.wake();
    conditions.wake();
    expect(await waiting).toBe(true);
    expect(checks).toBe(3);
  });

  it("resolves false after the timeout when no wake found the condition true", async () => {
    vi.useFakeTimers();
    try {
      const conditions = new AwaitedConditions();
      let resolved: boolean | undefined;
      void conditions.waitFor(() => false, 500).then((ok) => (resolved = ok));
      await vi.advanceTimersByTimeAsync(499);
      expect(resolved).toBeUndefined();
      await vi.advanceTimersByTimeAsync(1);
      expect(resolved).toBe(false);
    } finally {
      vi.useRealTimers();
    }
  });
});
