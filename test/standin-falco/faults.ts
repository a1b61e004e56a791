/**
 * The faults a test can ask of the stand-in at start (see standin-falco.ts): a start that
 * crashes, and seconds of dropped events afterwards.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { log } from "./falco-log.ts";
import type { RunningFalco } from "./running-falco.ts";

/** Whether this start crashes, as `STANDIN_CRASH_TIMES` or `STANDIN_CRASH_IF_EXISTS` asks. */
export function crashesAtStart(): boolean {
  const crashFile = process.env["STANDIN_CRASH_IF_EXISTS"];
  return crashesLeft() || (crashFile !== undefined && existsSync(crashFile));
}

/**
 * `STANDIN_CRASH_TIMES=<n> STANDIN_CRASH_COUNTER=<file>`: the first n starts crash (the counter
 * file survives restarts), later ones run STANDIN_MODE: a Falco that fails, then recovers.
 */
function crashesLeft(): boolean {
  const times = Number(process.env["STANDIN_CRASH_TIMES"] ?? 0);
  const counter = process.env["STANDIN_CRASH_COUNTER"];
  if (times <= 0 || counter === undefined) return false;
  let starts = 0;
  try {
    starts = Number(readFileSync(counter, "utf8")) || 0;
  } catch {
    // first start: no counter yet
  }
  writeFileSync(counter, String(starts + 1));
  return starts < times;
}

/** A Falco that crashes at start (e.g. its probe does not load), after `STANDIN_CRASH_AFTER_MS`. */
export async function crash(): Promise<never> {
  await sleep(Number(process.env["STANDIN_CRASH_AFTER_MS"] ?? 0));
  log("An error occurred in an event source, forcing termination...");
  process.stderr.write("Error: Initialization issues during scap_init\n");
  process.exit(1);
}

/** `STANDIN_DROPS=<n>`: n seconds of one dropped event each. */
export function emitDrops(falco: RunningFalco): void {
  const seconds = Number(process.env["STANDIN_DROPS"] ?? 0);
  for (let i = 0; i < seconds; i++) falco.drop(1);
  falco.flush();
}
