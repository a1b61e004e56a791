/**
 * Falco alert intake throughput on one core: 1,000,000 lines, cycling the recorded fixture
 * alerts, through the JSON parser and the compact parsers. Run: npx node bench/falco-intake.bench.ts
 */
import {
  createCompactParser,
  COMPACT_LAYOUT,
  FIXTURE_COMPACT_LAYOUT,
} from "../services/agent/intake/compact-alert.ts";
import type { FalcoAlert } from "../services/agent/intake/alert.ts";
import { readFixtureLines, renderCompactLine } from "../test/helpers/falco-fixtures.ts";
import { parseJsonAlert } from "../services/agent/intake/json-alert.ts";

const LINES = 1_000_000;
const WARMUP_LINES = 200_000;

const jsonLines = readFixtureLines("node-a.alerts.jsonl");
// What the agent's Falco config writes: JSON without the redundant `output` text.
const jsonLinesWithoutOutput = jsonLines.map((line) => {
  const alert = JSON.parse(line) as Record<string, unknown>;
  delete alert["output"];
  // Keep evt.time exact: re-insert the recorded digits instead of a rounded double.
  return JSON.stringify(alert).replace(/"evt\.time":\d+/, /"evt\.time":\d+/.exec(line)![0]);
});
const fixtureCompactLines = readFixtureLines("node-a.alerts.compact.txt");
const agentCompactLines = jsonLines.map((line) => renderCompactLine(line, COMPACT_LAYOUT));

function measure(name: string, lines: readonly string[], parse: (line: string) => FalcoAlert): void {
  const run = (count: number): number => {
    let syscalls = 0;
    for (let i = 0; i < count; i++) if (parse(lines[i % lines.length]!).kind === "syscall") syscalls++;
    return syscalls;
  };
  run(WARMUP_LINES);
  const bytes = lines.reduce((sum, line) => sum + line.length + 1, 0) / lines.length;
  const start = process.hrtime.bigint();
  const syscalls = run(LINES);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const rate = LINES / seconds;
  console.log(
    `${name.padEnd(34)} ${Math.round(rate).toLocaleString("en-US").padStart(10)} lines/s` +
      `  ${((rate * bytes) / 1e6).toFixed(0).padStart(4)} MB/s` +
      `  (${bytes.toFixed(0)} B/line, ${seconds.toFixed(2)} s, ${syscalls} syscall records)`,
  );
}

console.log(
  `Falco alert intake, ${LINES.toLocaleString("en-US")} lines per parser, one thread (Node ${process.version})`,
);
measure("JSON (fixture lines)", jsonLines, parseJsonAlert);
measure("JSON (fixture lines, no output)", jsonLinesWithoutOutput, parseJsonAlert);
measure("compact (fixture layout)", fixtureCompactLines, createCompactParser(FIXTURE_COMPACT_LAYOUT));
measure("compact (agent layout)", agentCompactLines, createCompactParser(COMPACT_LAYOUT));
