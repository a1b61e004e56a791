/**
 * The stand-in's replay mode (see standin-falco.ts): recorded alert lines written as they are,
 * at full speed or at `STANDIN_RATE` lines a second.
 */
import { createReadStream } from "node:fs";
import { readFile } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import type { RunningFalco } from "./running-falco.ts";

export async function runReplayMode(
  falco: RunningFalco,
  file: string,
  rate: number | undefined,
): Promise<void> {
  if (rate === undefined || rate <= 0) {
    // Unthrottled: the file's bytes as they are, in large chunks, so the load generator costs
    // little CPU next to the agent it feeds (benchmarks share two cores). Each chunk ends at a
    // line end, as Falco's writes do: an alert of our own (the agent's probe) written between two
    // chunks must not split a replayed line.
    let carry: Buffer = Buffer.alloc(0);
    for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
      const data = carry.length > 0 ? Buffer.concat([carry, chunk as Buffer]) : (chunk as Buffer);
      const end = data.lastIndexOf(10) + 1;
      carry = data.subarray(end);
      if (end > 0) await falco.raw(data.subarray(0, end));
    }
    if (carry.length > 0) await falco.raw(carry);
    return;
  }
  const lines = (await readFile(file, "utf8")).split("\n").filter((line) => line.length > 0);
  const intervalMs = 1000 / rate;
  const started = Date.now();
  for (let i = 0; i < lines.length; i++) {
    if (intervalMs > 0) {
      const due = started + i * intervalMs - Date.now();
      if (due > 0) await sleep(due);
    }
    falco.line(lines[i]!);
  }
}
