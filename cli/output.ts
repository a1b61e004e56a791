/** Printing for the cluster commands: results on stdout (text or JSON), notes and warnings on stderr. */
import { SeccomposeError } from "../lib/errors.ts";

/**
 * Whether a character must not reach a terminal as is: C0 and C1 controls and DEL (escape
 * sequences can move the cursor, rewrite earlier lines, set the window title, or change the
 * terminal's state), line and paragraph separators, and the bidirectional marks and overrides,
 * which make text display in another order than it is.
 */
function unsafeForTerminal(cp: number): boolean {
  return (
    cp <= 0x1f ||
    (cp >= 0x7f && cp <= 0x9f) ||
    cp === 0x061c ||
    cp === 0x200e ||
    cp === 0x200f ||
    (cp >= 0x2028 && cp <= 0x202e) ||
    (cp >= 0x2066 && cp <= 0x2069)
  );
}

/**
 * The one escaping of strings that come from agents or the cluster (workload, pod and node names,
 * agents' error messages) before they are printed: every unsafe character becomes a visible
 * `\xHH` or `\uHHHH`, newlines and tabs included, so such a string can neither forge lines nor
 * drive the terminal. Idempotent: its output contains no unsafe character.
 */
export function terminalSafe(text: string): string {
  let out = "";
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    if (!unsafeForTerminal(cp)) out += ch;
    else
      out += cp <= 0xff ? `\\x${cp.toString(16).padStart(2, "0")}` : `\\u${cp.toString(16).padStart(4, "0")}`;
  }
  return out;
}

/** Our own multi-line text: the newlines stay, anything else unsafe is escaped. */
function safeText(text: string): string {
  return text.split("\n").map(terminalSafe).join("\n");
}

/**
 * JSON for a terminal or a pipe: JSON.stringify escapes C0 controls but leaves C1 controls and
 * the bidirectional overrides raw; they become \u escapes, which every JSON reader decodes back.
 */
export function jsonText(value: unknown, indent?: number): string {
  let out = "";
  for (const ch of JSON.stringify(value, null, indent)) {
    const cp = ch.codePointAt(0)!;
    out += unsafeForTerminal(cp) && cp > 0x1f ? `\\u${cp.toString(16).padStart(4, "0")}` : ch;
  }
  return out;
}

export function printJson(value: unknown): void {
  process.stdout.write(`${jsonText(value, 2)}\n`);
}

export function printLines(lines: readonly string[]): void {
  if (lines.length > 0) process.stdout.write(`${lines.map(terminalSafe).join("\n")}\n`);
}

export function warn(message: string): void {
  process.stderr.write(`seccompose: warning: ${safeText(message)}\n`);
}

export function note(message: string): void {
  process.stderr.write(`${safeText(message)}\n`);
}

/** Left-aligned columns separated by two spaces, as kubectl prints them; cells are escaped. */
export function table(header: readonly string[], input: ReadonlyArray<readonly string[]>): string[] {
  const rows = input.map((r) => r.map(terminalSafe));
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
