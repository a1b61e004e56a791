/**
 * The layering rules of .dependency-cruiser.json (run by `npm run lint`) hold for the tree today,
 * and each rule catches the import it forbids, shown on a throw-away tree in a temporary directory.
 */
import { execFile } from "node:child_process";
import { copyFile, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
const ROOT = new URL("../..", import.meta.url).pathname;
const CRUISER = join(ROOT, "node_modules/dependency-cruiser/bin/dependency-cruiser.mjs");

async function cruise(cwd: string, ...paths: string[]): Promise<{ code: number; output: string }> {
  try {
    const { stdout } = await run(
      process.execPath,
      [CRUISER, "--config", ".dependency-cruiser.json", ...paths],
      {
        cwd,
      },
    );
    return { code: 0, output: stdout };
  } catch (err) {
    const e = err as { code: number; stdout: string };
    return { code: e.code, output: e.stdout };
  }
}

describe("dependency rules", () => {
  let tree: string;
  beforeAll(async () => {
    tree = await mkdtemp(join(tmpdir(), "sc-layering-"));
    await copyFile(join(ROOT, ".dependency-cruiser.json"), join(tree, ".dependency-cruiser.json"));
    await writeFile(
      join(tree, "tsconfig.json"),
      JSON.stringify({ compilerOptions: { allowImportingTsExtensions: true } }),
    );
  });
  afterAll(() => rm(tree, { recursive: true, force: true }));

  /** `from` imports `to` (both paths relative to the tree). */
  async function write(from: string, to: string): Promise<void> {
    for (const file of [from, to]) await mkdir(join(tree, dirname(file)), { recursive: true });
    await writeFile(join(tree, to), "export const x = 1;\n");
    const specifier = relative(dirname(from), to);
    await writeFile(
      join(tree, from),
      `export * from "${specifier.startsWith(".") ? specifier : `./${specifier}`}";\n`,
    );
  }

  it("the repository as it is follows them", async () => {
    const { code, output } = await cruise(ROOT, "cli", "services", "lib");
    expect(output).toContain("no dependency violations found");
    expect(code).toBe(0);
  }, 60_000);

  it.each([
    ["lib/a/probe.ts", "services/agent/agent.ts", "lib-is-shared-domain-code"],
    ["cli/b/probe.ts", "services/aggregator/aggregator.ts", "cli-talks-to-services-over-nats"],
    ["services/agent/c/probe.ts", "services/aggregator/state.ts", "agent-and-aggregator-are-independent"],
    [
      "services/aggregator/d/probe.ts",
      "services/agent/supervisor.ts",
      "aggregator-and-agent-are-independent",
    ],
    ["services/agent/e/probe.ts", "cli/program.ts", "services-do-not-use-the-cli"],
  ])(
    "an import from %s to %s breaks %s",
    async (from, to, rule) => {
      await write(from, to);
      const { code, output } = await cruise(tree, from);
      expect(output).toContain(`error ${rule}: ${from} → ${to}`);
      expect(code).not.toBe(0);
    },
    60_000,
  );

  it("an import cycle breaks no-cycles", async () => {
    await write("lib/cycle/one.ts", "lib/cycle/two.ts");
    await writeFile(join(tree, "lib/cycle/two.ts"), `export * from "./one.ts";\n`);
    const { code, output } = await cruise(tree, "lib/cycle");
    expect(output).toContain("error no-cycles");
    expect(code).not.toBe(0);
  }, 60_000);
});
