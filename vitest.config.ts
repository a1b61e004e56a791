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
      // The whole suite with the real Falco on 2026-12-06, second session: statements 71.3 %,
      // branches 63.9 %, functions 70.6 %, lines 73.5 %, set about 1.5 points lower for a clone
      // without the real Falco. Lower than the first session's figures (74.7/66.0/74.0/76.6): most
      // code added since (replicas, partitions, apply, drift, enrollment) is exercised through the
      // processes the tests spawn (CLI, agent, aggregator), which are not measured.
      thresholds: { lines: 72, statements: 70, functions: 69, branches: 62 },
    },
  },
});
