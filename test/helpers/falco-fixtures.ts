/**
 * The recorded Falco 0.44.1 alerts in test/fixtures/falco (provenance in its README), for tests and benchmarks:
 * reading them, and rendering a recorded JSON alert as the text line Falco writes for a compact
 * layout (there is no recording in the agent's own layout).
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { CompactLayout } from "../../services/agent/intake/compact-alert.ts";

export const FALCO_FIXTURES_DIR = fileURLToPath(new URL("../fixtures/falco", import.meta.url));

/** The two traced pods of the fixtures (their README): pod UID and container ID of each. */
export const FIXTURE_PODS = {
  python: {
    uid: "5d0c8a3e-1f2b-4a6c-9d7e-0b1a2c3d4e5f",
    cid: "4f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff01",
  },
  pipeline: {
    uid: "8e7f6a5b-4c3d-4e2f-8a1b-9c0d1e2f3a4b",
    cid: "9a8b7c6d5e4f30211203f4e5d6c7b8a99a8b7c6d5e4f30211203f4e5d6c7b8a9",
  },
} as const;

/** Non-empty lines of a fixture file. */
export function readFixtureLines(name: string): string[] {
  return readFileSync(`${FALCO_FIXTURES_DIR}/${name}`, "utf8")
    .split("\n")
    .filter((line) => line.length > 0);
}

/**
 * The text line Falco would write (`json_output: false`, default time format) for a recorded
 * JSON syscall alert under `layout`: `HH:MM:SS.nnnnnnnnn: Debug <marker>|<value>|...`. Values
 * render as Falco renders them in text: numbers in decimal, strings as they are, missing as
 * `<NA>`; `evt.rawtime` is the recorded `evt.time`.
 */
export function renderCompactLine(jsonLine: string, layout: CompactLayout): string {
  const alert = JSON.parse(jsonLine) as { output_fields: Record<string, unknown> };
  const fields = alert.output_fields;
  const timeNs = BigInt(/"evt\.time":(\d+)/.exec(jsonLine)![1]!);
  const values = layout.fields.map((field) => {
    const value = field === "evt.rawtime" ? timeNs : fields[field];
    return value === undefined || value === null ? "<NA>" : String(value);
  });
  return `${timeOfDay(timeNs)}: Debug ${layout.marker}|${values.join("|")}`;
}

function timeOfDay(timeNs: bigint): string {
  const dayNs = timeNs % 86_400_000_000_000n;
  const seconds = Number(dayNs / 1_000_000_000n);
  const pad = (n: number) => String(n).padStart(2, "0");
  const hms = `${pad(Math.floor(seconds / 3600))}:${pad(Math.floor(seconds / 60) % 60)}:${pad(seconds % 60)}`;
  return `${hms}.${String(dayNs % 1_000_000_000n).padStart(9, "0")}`;
}
