/**
 * Falco alert intake on one core, beside naive readers of the same lines measured in the same run.
 * Each figure is the median of 5 interleaved repetitions of 300,000 lines (cycling the recorded
 * fixture alerts), timed by CPU time of this process.
 *
 * Baselines: for JSON, the naive reader the issue measured (JSON.parse of each line plus a Map count
 * by cgroup and event type, no validation) and JSON.parse alone (the floor of any JSON.parse-based
 * reader); for compact lines, the naive `split("|")` reader with the same Map count.
 *
 *   npx node bench/falco-intake.bench.ts
 */
import type { FalcoAlert } from "../services/agent/intake/alert.ts";
import {
  COMPACT_LAYOUT,
  FIXTURE_COMPACT_LAYOUT,
  createCompactParser,
} from "../services/agent/intake/compact-alert.ts";
import { parseJsonAlert } from "../services/agent/intake/json-alert.ts";
import { readFixtureLines, renderCompactLine } from "../test/helpers/falco-fixtures.ts";
import { cpuSeconds, formatSpread, interleave, ratio } from "./stats.ts";

const LINES = 300_000;
const RUNS = 5;

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

type Reader = (lines: readonly string[], count: number) => number;

/** Lines per CPU second of one pass of `count` lines through `read`. */
function rate(read: Reader, lines: readonly string[]): () => number {
  return () => LINES / cpuSeconds(() => read(lines, LINES));
}

function parserReader(parse: (line: string) => FalcoAlert): Reader {
  return (lines, count) => {
    let syscalls = 0;
    for (let i = 0; i < count; i++) if (parse(lines[i % lines.length]!).kind === "syscall") syscalls++;
    return syscalls;
  };
}

/** The naive JSON reader: JSON.parse plus a count by cgroup and event type. */
const naiveJsonReader: Reader = (lines, count) => {
  const counts = new Map<string, number>();
  for (let i = 0; i < count; i++) {
    const alert = JSON.parse(lines[i % lines.length]!) as { output_fields?: Record<string, unknown> };
    const fields = alert.output_fields;
    if (fields === undefined) continue;
    const key = `${String(fields["thread.cgroup.cpu"])}|${String(fields["evt.type"])}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts.size;
};

const jsonParseOnly: Reader = (lines, count) => {
  let n = 0;
  for (let i = 0; i < count; i++) if (JSON.parse(lines[i % lines.length]!) !== null) n++;
  return n;
};

/** The same naive count over `|`-separated compact lines; `typeAt`/`cgroupAt` are field positions. */
function naiveSplitReader(typeAt: number, cgroupAt: number): Reader {
  return (lines, count) => {
    const counts = new Map<string, number>();
    for (let i = 0; i < count; i++) {
      const parts = lines[i % lines.length]!.split("|");
      const key = `${parts[cgroupAt]}|${parts[typeAt]}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    return counts.size;
  };
}

/** Positions of the event type and cgroup in a compact line, read off a line the parser understood. */
function fieldPositions(lines: readonly string[], parse: (line: string) => FalcoAlert): [number, number] {
  for (const line of lines) {
    const alert = parse(line);
    if (alert.kind !== "syscall" || alert.cgroup === null) continue;
    const parts = line.split("|");
    return [parts.indexOf(alert.falcoType), parts.findIndex((p) => p.includes(alert.cgroup!))];
  }
  throw new Error("no syscall alert with a cgroup in the compact fixture");
}

const agentCompact = createCompactParser(COMPACT_LAYOUT);
const fixtureCompact = createCompactParser(FIXTURE_COMPACT_LAYOUT);
const bytesPerLine = (lines: readonly string[]) => lines.reduce((n, l) => n + l.length + 1, 0) / lines.length;

console.log(
  `Falco alert intake, ${RUNS} × ${LINES.toLocaleString("en-US")} lines per reader, one thread, CPU time (Node ${process.version})`,
);

// Warm every reader up before any is measured.
for (const [read, lines] of [
  [parserReader(parseJsonAlert), jsonLinesWithoutOutput],
  [naiveJsonReader, jsonLinesWithoutOutput],
  [jsonParseOnly, jsonLinesWithoutOutput],
  [parserReader(agentCompact), agentCompactLines],
  [parserReader(fixtureCompact), fixtureCompactLines],
] as const)
  read(lines, 100_000);

for (const [label, lines] of [
  ["JSON, agent config (no output text)", jsonLinesWithoutOutput],
  ["JSON, fixture lines (with output text)", jsonLines],
] as const) {
  const [parser, naive, floor] = await interleave(RUNS, [
    rate(parserReader(parseJsonAlert), lines),
    rate(naiveJsonReader, lines),
    rate(jsonParseOnly, lines),
  ]);
  console.log(`${label}, ${bytesPerLine(lines).toFixed(0)} B/line`);
  console.log(`  seccompose JSON parser   ${formatSpread(parser!, "lines/s")}`);
  console.log(`  naive JSON reader        ${formatSpread(naive!, "lines/s")}`);
  console.log(`  JSON.parse alone         ${formatSpread(floor!, "lines/s")}`);
  console.log(
    `  parser / naive reader: ${ratio(parser!, naive!)}; parser / JSON.parse alone: ${ratio(parser!, floor!)}`,
  );
}

for (const [label, lines, parse] of [
  ["compact, agent layout (sc1, the default)", agentCompactLines, agentCompact],
  ["compact, fixture layout (sc)", fixtureCompactLines, fixtureCompact],
] as const) {
  const [typeAt, cgroupAt] = fieldPositions(lines, parse);
  const [parser, naive] = await interleave(RUNS, [
    rate(parserReader(parse), lines),
    rate(naiveSplitReader(typeAt, cgroupAt), lines),
  ]);
  console.log(`${label}, ${bytesPerLine(lines).toFixed(0)} B/line`);
  console.log(`  seccompose compact parser ${formatSpread(parser!, "lines/s")}`);
  console.log(`  naive split("|") reader   ${formatSpread(naive!, "lines/s")}`);
  console.log(`  parser / naive reader: ${ratio(parser!, naive!, { atLeast: 1 })}`);
}
