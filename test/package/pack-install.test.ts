/**
 * The published package stands on its own: `npm pack` (which builds first), installed from the
 * tarball into an empty prefix as a user would, runs `seccompose --version` and `seccompose record`
 * with nothing from this repository beside it, and the tarball holds only what runs.
 */
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const pkg = JSON.parse(await readFile(join(ROOT, "package.json"), "utf8")) as { version: string };

let dir: string;
let files: string[];
let bin: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "seccompose-pack-"));
  const { stdout } = await run("npm", ["pack", "--json", "--pack-destination", dir], {
    cwd: ROOT,
    maxBuffer: 64 * 1024 * 1024,
  });
  // npm prints the build's output before the JSON report.
  const report = JSON.parse(stdout.slice(stdout.indexOf("[\n"))) as {
    filename: string;
    files: { path: string }[];
  }[];
  files = report[0]!.files.map((f) => f.path);
  const prefix = join(dir, "prefix");
  await run(
    "npm",
    [
      "install",
      "--global",
      "--prefix",
      prefix,
      "--no-audit",
      "--no-fund",
      "--prefer-offline",
      join(dir, report[0]!.filename),
    ],
    { cwd: dir, maxBuffer: 64 * 1024 * 1024 },
  );
  bin = join(prefix, "bin", "seccompose");
}, 300_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("the npm package", () => {
  it("holds the built CLI and services, schemas, manifests and docs, and nothing for development", () => {
    for (const f of [
      "dist/cli/main.js",
      "dist/services/agent/main.js",
      "dist/services/aggregator/main.js",
      "dist/lib/syscalls/tables.json",
      "schemas/profile-document.schema.json",
      "deploy/manifests/default.yaml",
      "deploy/nats-permissions.json",
      "docs/cli.md",
      "docs/outside-kubernetes.md",
      "README.md",
    ]) {
      expect(files).toContain(f);
    }
    const stray = files.filter(
      (f) =>
        /\.test\.(ts|js)$/.test(f) ||
        /^(test|bench|scripts|tools|\.ci|cli|services)\//.test(f) ||
        (/^lib\//.test(f) && f !== "lib/syscalls/ATTRIBUTION.md") ||
        /\.seccomp\.(json|yaml)$/.test(f) ||
        /\.ts$/.test(f) ||
        /\.map$/.test(f),
    );
    expect(stray).toEqual([]);
  });

  it("installed from the tarball, prints its version", async () => {
    const { stdout } = await run(bin, ["--version"], { cwd: dir });
    expect(stdout.trim()).toBe(pkg.version);
  });

  it("installed from the tarball, records a command into a working profile", async () => {
    const out = join(dir, "true.json");
    const { stderr } = await run(bin, ["record", "--output-file", out, "--", "/bin/true"], { cwd: dir });
    expect(stderr).toMatch(/recorded \d+ syscalls/);
    const profile = JSON.parse(await readFile(out, "utf8")) as {
      defaultAction: string;
      syscalls: { names: string[]; action: string }[];
    };
    expect(profile.defaultAction).toBe("SCMP_ACT_ERRNO");
    const allowed = profile.syscalls.flatMap((s) => s.names);
    expect(allowed).toContain("execve");
    expect(allowed).toContain("exit_group");
  });

  it("installed from the tarball, runs the command under that profile (the loader ships with it)", async () => {
    const out = join(dir, "true.json");
    const { stderr } = await run(bin, ["run", "--profile", out, "--", "/bin/true"], { cwd: dir });
    expect(stderr).toBe("");
  });
});
