/**
 * Reading Falco's own output: its version, its log lines (the cause of a failure among the
 * kernel verifier's noise) and the statistics it prints at exit.
 */

/** The version from `falco --version`: text (`Falco version: 0.44.1`) or JSON (`falco_version`). */
export function parseFalcoVersion(output: string): string | undefined {
  const text = /^Falco version:\s*(\S+)/m.exec(output);
  if (text) return text[1];
  try {
    const json: unknown = JSON.parse(output);
    if (typeof json === "object" && json !== null && "falco_version" in json) {
      const version = json.falco_version;
      if (typeof version === "string" && version !== "") return version;
    }
  } catch {
    // Neither form.
  }
  return undefined;
}

/** Falco's log prefix, `Sun Dec  6 02:40:00 2026: `. */
const LOG_PREFIX = /^[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}: /;
const ERROR_WORDS =
  /\b(error|errors|failed|failure|fail|cannot|can't|unable|invalid|denied|not found|no such)\b/i;
/** The kernel verifier's program log that libbpf passes on: instructions, registers, summaries. */
const VERIFIER_NOISE =
  /^(\d+: |\d+: \(|;|R\d|from \d+ to \d+|processed \d+ insns|verification time|stack depth|-- (BEGIN|END) PROG LOAD LOG --|last_idx|regs=|parent didn't have|mark_precise|frame\d|\.\.\.)/;

/**
 * A cleaned log line that names an error Falco does not carry on from. The last such line is
 * the cause of a failure: the kernel verifier's log (hundreds of instruction lines that end the
 * output when the probe does not load) is cleaned away, and Falco's generic "forcing termination"
 * wrapper and problems it says it ignores are not errors here.
 */
export function isErrorLine(cleaned: string): boolean {
  return ERROR_WORDS.test(cleaned) && !isGenericOrIgnored(cleaned);
}

/** Falco's own wrapper around every event-source failure: it names no cause. */
const GENERIC_FAILURE = "An error occurred in an event source, forcing termination";
/** Problems Falco reports and carries on from (RLIMIT_MEMLOCK, TOCTOU mitigation tracepoints). */
const IGNORED = /\bignored\b|\bignoring\b|will continue to work/i;

function isGenericOrIgnored(line: string): boolean {
  return line.startsWith(GENERIC_FAILURE) || IGNORED.test(line);
}

/** The line without Falco's time prefix, or undefined for an empty line or the verifier's log. */
export function cleanLogLine(line: string): string | undefined {
  const cleaned = line.replace(LOG_PREFIX, "").trim();
  return cleaned === "" || VERIFIER_NOISE.test(cleaned) ? undefined : cleaned;
}

export function isRuleStatistics(line: string): boolean {
  return (
    line.startsWith(" ") ||
    line.startsWith("Events detected: ") ||
    line === "Rule counts by severity:" ||
    line === "Triggered rules by rule name:"
  );
}

export function describeExit(code: number | null, signal: NodeJS.Signals | null): string {
  return signal !== null ? `signal ${signal}` : `exit code ${code ?? "unknown"}`;
}
