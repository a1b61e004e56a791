/**
 * Start-up time of the CLI as installed (the built JS, `npm run build`'s output, compiled here into
 * .bench-out/ so it is never stale): `seccompose --version` and `seccompose record -- /bin/true`,
 * beside bare `node -e 0` on the same machine (target: each under 150 ms over it), and bare
 * `strace -f /bin/true` for what tracing itself costs. Runs are interleaved so a busy moment hits
 * every command alike; the load average is printed because the machine is shared.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const out = join(root, ".bench-out", "startup");
const build = spawnSync("npx", ["tsc", "-p", "tsconfig.build.json", "--outDir", out], {
  cwd: root,
  stdio: "inherit",
});
if (build.status !== 0) throw new Error("tsc failed");
const main = join(out, "cli", "main.js");
const work = mkdtempSync(join(tmpdir(), "seccompose-startup-"));
const node = process.execPath;

const commands: { label: string; argv: string[] }[] = [
  { label: "node -e 0", argv: [node, "-e", "0"] },
  { label: "seccompose --version", argv: [node, main, "--version"] },
  { label: "strace -f /bin/true", argv: ["strace", "-f", "-o", join(work, "trace"), "/bin/true"] },
  {
    label: "seccompose record -- /bin/true",
    argv: [node, main, "record", "--output-file", join(work, "true.json"), "--", "/bin/true"],
  },
];

const RUNS = 21;
const times = new Map<string, number[]>(commands.map((c) => [c.label, []]));
for (let i = 0; i < RUNS + 2; i++) {
  for (const { label, argv } of commands) {
    const start = performance.now();
    const r = spawnSync(argv[0]!, argv.slice(1), { cwd: work, stdio: "ignore" });
    const ms = performance.now() - start;
    if (r.status !== 0) throw new Error(`${label} exited ${r.status}`);
    // The first two rounds warm the page cache and are not counted.
    if (i >= 2) times.get(label)!.push(ms);
  }
}
rmSync(work, { recursive: true, force: true });

const q = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.round(p * (xs.length - 1))]!;
const median = (label: string) => q(times.get(label)!, 0.5);
console.log(`start-up, ${RUNS} runs each: median (p10–p90), min`);
for (const { label } of commands) {
  const xs = times.get(label)!;
  console.log(
    `  ${label.padEnd(32)} ${median(label).toFixed(0).padStart(5)} ms  (${q(xs, 0.1).toFixed(0)}–${q(xs, 0.9).toFixed(0)} ms), min ${q(xs, 0).toFixed(0)} ms`,
  );
}
// On a shared machine the minimum is the best estimate of the cost itself; the median is judged.
for (const cmd of ["seccompose --version", "seccompose record -- /bin/true"]) {
  const over = median(cmd) - median("node -e 0");
  const overMin = q(times.get(cmd)!, 0) - q(times.get("node -e 0")!, 0);
  console.log(
    `${cmd}: ${over.toFixed(0)} ms over node -e 0 (minimums: ${overMin.toFixed(0)} ms; target < 150 ms): ${over < 150 ? "met" : "NOT met"}`,
  );
}
console.log(
  `load average during the runs: ${loadavg()
    .map((l) => l.toFixed(1))
    .join(", ")} (2 cores)`,
);
