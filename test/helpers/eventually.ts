import { setTimeout as sleep } from "node:timers/promises";

/**
 * Retries `attempt` until it yields a value (neither undefined nor false): elections, catch-up,
 * flushes and restarts take a moment. Fails naming `what`, with the last error as the cause.
 */
export async function eventually<T>(
  what: string,
  attempt: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 30_000,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await attempt();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      lastError = err;
    }
    await sleep(intervalMs);
  }
  throw new Error(`${what} did not happen within ${timeoutMs} ms`, { cause: lastError });
}
