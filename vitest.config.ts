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
      // A floor from a measured subset (lib, cli and the agent's intake, edge and pods tests, on
      // 2026-12-06: lines 40.7 %, statements 40.2 %, functions 36.2 %, branches 38.9 %), rounded
      // down: coverage may rise, not fall. Processes the tests spawn (CLI, agent, aggregator) are
      // not measured, so the integration tests add little.
      thresholds: { lines: 40, statements: 40, functions: 36, branches: 38 },
    },
  },
});
