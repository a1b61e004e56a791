/**
 * `npm test`: type-checks, runs every test with vitest, and ends with the plain summary line
 * `N passed, N failed` that CI reads. The exit status is non-zero if anything failed.
 * Arguments are passed to vitest (e.g. `npm test -- lib/profile`). The whole suite (no arguments)
 * also measures coverage against the thresholds of vitest.config.ts; a subset does not, as its
 * figures would be meaningless.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const npx = (args: string[]) => spawnSync("npx", args, { stdio: "inherit" }).status ?? 1;

const typecheck = npx(["tsc", "-p", "tsconfig.json", "--noEmit"]);
if (typecheck !== 0) console.error("typecheck failed");

const dir = mkdtempSync(join(tmpdir(), "seccompose-test-"));
const results = join(dir, "results.json");
const vitest = npx([
  "vitest",
  "run",
  "--reporter=default",
  "--reporter=json",
  `--outputFile.json=${results}`,
  ...(process.argv.length > 2 ? process.argv.slice(2) : ["--coverage"]),
]);
let passed = 0;
let failed = 0;
let skipped = 0;
try {
  const r = JSON.parse(readFileSync(results, "utf8")) as {
    numPassedTests: number;
    numFailedTests: number;
    numPendingTests: number;
    numTodoTests: number;
    testResults: { status: string; assertionResults: { status: string }[] }[];
  };
  // A file that fails outside its tests (a beforeAll, an import) fails no test but must count.
  const failedOutsideTests = r.testResults.filter(
    (f) => f.status === "failed" && !f.assertionResults.some((a) => a.status === "failed"),
  ).length;
  ({ numPassedTests: passed } = r);
  failed = r.numFailedTests + failedOutsideTests;
  skipped = r.numPendingTests + r.numTodoTests;
} catch {
  failed = Math.max(failed, 1);
}
rmSync(dir, { recursive: true, force: true });
if (typecheck !== 0) failed += 1;
if (vitest !== 0 && failed === 0) {
  console.error(
    "vitest failed without a failing test: coverage below its thresholds, or the run itself (see above)",
  );
  failed = 1;
}
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
process.exitCode = vitest !== 0 || typecheck !== 0 || failed > 0 ? 1 : 0;
