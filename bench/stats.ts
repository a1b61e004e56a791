/**
 * What every benchmark prints: each figure is the median of several repetitions with its spread,
 * beside a baseline measured in the same run on the same machine, and the ratio of the two. Absolute
 * figures move with the CPU and whatever else runs; a ratio against a baseline taken minutes apart
 * in the same process says what the code is worth (docs/benchmarks.md).
 */

export interface Spread {
  median: number;
  min: number;
  max: number;
  runs: number;
}

export function spread(samples: readonly number[]): Spread {
  if (samples.length === 0) throw new Error("spread of no samples");
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]!, runs: sorted.length };
}

/** Runs `measure` `runs` times, one after another (the async ones are awaited). */
export async function repeat(runs: number, measure: () => number | Promise<number>): Promise<Spread> {
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) samples.push(await measure());
  return spread(samples);
}

/**
 * Runs each measure `runs` times, interleaved (a, b, c, a, b, c, …), so that a figure and its
 * baselines see the same machine state, and returns their spreads in the same order.
 */
export async function interleave(
  runs: number,
  measures: readonly (() => number | Promise<number>)[],
): Promise<Spread[]> {
  const samples = measures.map(() => [] as number[]);
  for (let i = 0; i < runs; i++) {
    for (let m = 0; m < measures.length; m++) samples[m]!.push(await measures[m]!());
  }
  return samples.map((s) => spread(s));
}

const integer = (n: number): string => Math.round(n).toLocaleString("en-US");

/** `1,234,567 lines/s (median of 5: 1,200,000–1,250,000, ±1.6%)`; `digits` for small figures. */
export function formatSpread(s: Spread, unit: string, digits = 0): string {
  const f = (n: number) => (digits === 0 ? integer(n) : n.toFixed(digits));
  if (s.runs === 1) return `${f(s.median)} ${unit} (1 run)`;
  const pct = s.median === 0 ? 0 : (100 * (s.max - s.min)) / 2 / s.median;
  return `${f(s.median)} ${unit} (median of ${s.runs}: ${f(s.min)}–${f(s.max)}, ±${pct.toFixed(1)}%)`;
}

export interface RatioTarget {
  /** Met when the ratio is at least this (throughput). */
  atLeast?: number;
  /** Met when the ratio is at most this (latency, memory). */
  atMost?: number;
}

/** The ratio of two medians, `figure / baseline`, with the target it is held to. */
export function ratio(figure: Spread | number, baseline: Spread | number, target?: RatioTarget): string {
  const value =
    (typeof figure === "number" ? figure : figure.median) /
    (typeof baseline === "number" ? baseline : baseline.median);
  let text = `${value.toFixed(2)}×`;
  if (target?.atLeast !== undefined)
    text += `; target ≥ ${target.atLeast}×: ${value >= target.atLeast ? "met" : "NOT met"}`;
  if (target?.atMost !== undefined)
    text += `; target ≤ ${target.atMost}×: ${value <= target.atMost ? "met" : "NOT met"}`;
  return text;
}

/** CPU seconds (user + system) of this process spent in `work`: steadier than wall time on a shared machine. */
export function cpuSeconds(work: () => void): number {
  const start = process.cpuUsage();
  work();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1e6;
}

export function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
