/** Printing for the cluster commands: results on stdout (text or JSON), notes and warnings on stderr. */
import { SeccomposeError } from "../lib/errors.ts";

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function printLines(lines: readonly string[]): void {
  if (lines.length > 0) process.stdout.write(`${lines.join("\n")}\n`);
}

export function warn(message: string): void {
  process.stderr.write(`seccompose: warning: ${message}\n`);
}

export function note(message: string): void {
  process.stderr.write(`${message}\n`);
}

/** Left-aligned columns separated by two spaces, as kubectl prints them. */
export function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

/** "3s ago", "5m ago", "2h ago" for a timestamp, relative to `now`. */
export function ago(iso: string | undefined, now = Date.now()): string {
  if (iso === undefined) return "-";
  const seconds = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (seconds < 90) return `${seconds}s ago`;
  if (seconds < 90 * 60) return `${Math.round(seconds / 60)}m ago`;
  if (seconds < 36 * 3600) return `${Math.round(seconds / 3600)}h ago`;
  return `${Math.round(seconds / 86400)}d ago`;
}

/** "60s", "5m", "1h30m" or a bare number of seconds, as milliseconds. */
export function parseDuration(value: string, flag: string): number {
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const re = /(\d+)(ms|s|m|h)/g;
  let total = 0;
  let consumed = 0;
  for (const m of text.matchAll(re)) {
    if (m.index !== consumed) break;
    consumed += m[0].length;
    const n = Number(m[1]);
    total += m[2] === "ms" ? n : m[2] === "s" ? n * 1000 : m[2] === "m" ? n * 60_000 : n * 3_600_000;
  }
  if (consumed !== text.length || consumed === 0 || total <= 0) {
    throw new SeccomposeError(
      "SC_USAGE",
      `${flag} must be a duration such as 60s, 5m or 1h30m, not "${value}"`,
    );
  }
  return total;
}
