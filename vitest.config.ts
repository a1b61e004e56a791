import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["**/*.test.ts"],
    exclude: ["node_modules/**", "dist/**", ".bench-out/**"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: "forks",
    // Measured by `npm test` over the whole suite (scripts/test.ts passes --coverage); a subset run
    // (`npx vitest run FILE`) measures nothing, so its thresholds cannot fail it.
    coverage: {
      provider: "v8",
      include: ["cli/**/*.ts", "lib/**/*.ts", "services/**/*.ts"],
      exclude: ["**/*.test.ts", "lib/contracts/types.generated.ts"],
      reporter: ["text-summary", "json-summary"],
      reportsDirectory: "coverage",
      // Today's figures for the whole suite, from `bash .ci/run` in a fresh clone on 2026-12-06
      // (statements 74.7 %, branches 66.0 %, functions 74.0 %, lines 76.6 %), set 2–3 points lower
      // because a clone without the real Falco skips its tests: coverage may rise, not fall.
      // Processes the tests spawn (CLI, agent, aggregator) are not measured.
      thresholds: { lines: 74, statements: 72, functions: 71, branches: 63 },
    },
  },
});
