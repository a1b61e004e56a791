/**
 * The recorded Falco 0.44.1 alerts in shared/fixtures/falco (beside this repository), for tests and benchmarks:
 * reading them, and rendering a recorded JSON alert as the text line Falco writes for a compact
 * layout (there is no recording in the agent's own layout).
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { CompactLayout } from "../../services/agent/intake/compact-alert.ts";

/** The workplace keeps shared/ beside the repository, on developer machines and in CI alike. */
export const FALCO_FIXTURES_DIR = fileURLToPath(new URL("../../../shared/fixtures/falco", import.meta.url));

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
