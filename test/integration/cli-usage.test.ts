/**
 * How `seccompose` reads its command line: parser errors carry SC_USAGE and a hint, `-o` is the
 * output format on every command (a path given to it is refused with the option to use), `record`
 * traces what follows it, with the user's PATH rather than the one npm put in front of it.
 */
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "./cli.ts";

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "seccompose-usage-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("parser errors", () => {
  it("carry SC_USAGE, exit 2, and tell record's users where the command goes", async () => {
    const res = await runCli(["record", "--no-such-flag", "ls"], { cwd: dir });
    expect(res.code).toBe(2);
    expect(res.stderr).toContain("seccompose: error [SC_USAGE]: unknown option '--no-such-flag'");
    expect(res.stderr).toContain(
      "the command after --, e.g. seccompose record --output-file ls.json -- ls -l",
    );
  });

  it("carry SC_USAGE for a missing argument and an unknown command, with a suggestion", async () => {
    const missing = await runCli(["record"], { cwd: dir });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("error [SC_USAGE]: missing required argument 'cmd'");
    const typo = await runCli(["stauts"], { cwd: dir });
    expect(typo.code).toBe(2);
    expect(typo.stderr).toMatch(/error \[SC_USAGE\]: unknown command 'stauts'[\s\S]*Did you mean status\?/);
  });
});

describe("-o is the output format, never a path", () => {
  const profile = (names: string[]) =>
    JSON.stringify({
      defaultAction: "SCMP_ACT_ERRNO",
      architectures: ["SCMP_ARCH_X86_64"],
      syscalls: [{ names, action: "SCMP_ACT_ALLOW" }],
    });

  it.each([
    [["record", "-o", "ls.json", "--", "ls"], "the profile with --output-file ls.json"],
    [["record", "--output", "ls.json", "ls", "-l"], "the profile with --output-file ls.json"],
    [["merge", "-o", "ls.json", "a.json", "b.json"], "the merged file with --output-file ls.json"],
    [["stop", "s1", "-o", "profiles/"], "the profiles with --output-dir profiles/"],
    [["profile", "get", "s1", "web/nginx", "-o", "ls.json"], "the profile with --output-file ls.json"],
  ])("refuses the old %j with SC_USAGE, exit 2 and the option that writes it", async (args, hint) => {
    const cwd = await mkdtemp(join(dir, "old-o-"));
    const res = await runCli(args, { cwd });
    expect(res.code).toBe(2);
    expect(res.stderr).toContain("seccompose: error [SC_USAGE]: -o selects the output format (text|json)");
    expect(res.stderr).toContain(`write ${hint}`);
    // Refused before anything ran: nothing traced, nothing written.
    expect(res.stdout).toBe("");
    expect(await readdir(cwd)).toEqual([]);
  });

  it("says which formats there are when -o is given something else", async () => {
    const res = await runCli(["status", "-o", "xml"], { cwd: dir });
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('error [SC_USAGE]: -o/--output must be text or json, not "xml"');
  });

  it("selects JSON as -o json on profile diff and config list, and record writes --output-file", async () => {
    await writeFile(join(dir, "narrow.json"), profile(["read"]));
    await writeFile(join(dir, "wide.json"), profile(["read", "write"]));
    const diff = await runCli(["profile", "diff", "-o", "json", "narrow.json", "wide.json"], { cwd: dir });
    expect(diff.code, diff.stderr).toBe(0);
    expect(JSON.parse(diff.stdout)).toMatchObject({ added: ["write"], rightAllowsMore: true });

    const env = { ...process.env, SECCOMPOSE_CONFIG: join(dir, "config.yaml") };
    expect((await runCli(["config", "set", "format", "spo"], { env })).code).toBe(0);
    const list = await runCli(["config", "list", "-o", "json"], { env });
    expect(JSON.parse(list.stdout)).toEqual({ format: "spo" });

    const rec = await runCli(["record", "--output-file", "true.json", "--", "/bin/true"], { cwd: dir });
    expect(rec.code, rec.stderr).toBe(0);
    expect(rec.stderr).toContain(`profile written to true.json`);
    expect(JSON.parse(await readFile(join(dir, "true.json"), "utf8"))).toHaveProperty("syscalls");
  });
});

describe("record checks its outputs before it runs the command", () => {
  it("exits 5 at once, naming the output, when a directory is missing or the file is a directory; the command never ran", async () => {
    const marker = join(dir, "ran");
    const run = ["sh", "-c", `touch ${marker}`];
    const missing = await runCli(["record", "--observations", "/nonexistent/x.json", "--", ...run], {
      cwd: dir,
    });
    expect(missing.code).toBe(5);
    expect(missing.stderr).toContain(
      "error [SC_FILE_WRITE]: cannot write the observations to /nonexistent/x.json: directory /nonexistent does not exist",
    );
    // The default profile path <cmd>.seccomp.json, taken by a directory.
    const cwd = join(dir, "taken");
    await mkdir(join(cwd, "sh.seccomp.json"), { recursive: true });
    const taken = await runCli(["record", "--", ...run], { cwd });
    expect(taken.code).toBe(5);
    expect(taken.stderr).toContain(
      `error [SC_FILE_WRITE]: cannot write the profile to sh.seccomp.json: it is a directory`,
    );
    await expect(readFile(marker)).rejects.toMatchObject({ code: "ENOENT" });
  });
});

describe("record", () => {
  it("traces the command and its own options when they follow it without --", async () => {
    const out = join(dir, "ls.json");
    const res = await runCli(["record", "--output-file", out, "ls", "-l", "/"], { cwd: dir });
    expect(res.code).toBe(0);
    // -l reached ls: the long listing has a permissions column.
    expect(res.stdout).toMatch(/^[d-][rwx-]{9}/m);
    const profile = JSON.parse(await readFile(out, "utf8")) as { syscalls: { names: string[] }[] };
    expect(profile.syscalls.flatMap((s) => s.names)).toContain("getdents64");
  });

  it("runs the traced command with the user's PATH, not the one npx/npm run put in front", async () => {
    // Under npx, PATH is <package>/node_modules/.bin …, npm's node-gyp-bin, then the user's PATH.
    const npmBin = join(dir, "pkg", "node_modules", ".bin");
    const gyp = join(dir, "npm", "node_modules", "@npmcli", "run-script", "lib", "node-gyp-bin");
    const userBin = join(dir, "user-bin");
    for (const [bin, who] of [
      [npmBin, "npm's"],
      [userBin, "the user's"],
    ] as const) {
      await mkdir(bin, { recursive: true });
      await writeFile(join(bin, "which-tool"), `#!/bin/sh\necho "${who} which-tool; PATH=$PATH"\n`);
      await chmod(join(bin, "which-tool"), 0o755);
    }
    await mkdir(gyp, { recursive: true });
    const PATH = [npmBin, gyp, userBin, "/usr/bin", "/bin"].join(":");
    const res = await runCli(["record", "--output-file", join(dir, "tool.json"), "--", "which-tool"], {
      cwd: dir,
      env: { ...process.env, PATH },
    });
    expect(res.code).toBe(0);
    expect(res.stdout.trim()).toBe(`the user's which-tool; PATH=${[userBin, "/usr/bin", "/bin"].join(":")}`);
  });
});

describe("start-up", () => {
  // A resolve hook in the CLI's process reports every Kubernetes or NATS client module it loads.
  const hook = `data:text/javascript,${encodeURIComponent(`
    import { registerHooks } from "node:module";
    import { writeSync } from "node:fs";
    registerHooks({
      resolve(specifier, context, next) {
        const r = next(specifier, context);
        if (/@kubernetes|@nats-io/.test(r.url)) writeSync(2, "LOADED " + r.url + "\\n");
        return r;
      },
    });`)}`;
  const heavy = async (args: string[]) => {
    const res = await runCli(args, { cwd: dir, env: { ...process.env, NODE_OPTIONS: `--import=${hook}` } });
    return res.stderr.includes("LOADED ");
  };

  it("--help, record, merge, run and config never load the Kubernetes or NATS clients", async () => {
    expect(await heavy(["--help"])).toBe(false);
    expect(await heavy(["record", "--output-file", join(dir, "true.json"), "--", "/bin/true"])).toBe(false);
    expect(await heavy(["merge", "--help"])).toBe(false);
    expect(await heavy(["run", "--profile", join(dir, "true.json"), "--", "/bin/true"])).toBe(false);
    expect(await heavy(["config", "list"])).toBe(false);
    // The hook does see them where a command needs them.
    expect(await heavy(["status", "--help"])).toBe(true);
  });
});
