/**
 * `seccompose run`: a command recorded with `seccompose record` runs under its profile with its own
 * exit status; without one needed syscall it fails with EPERM; in complain mode it runs and the
 * syscall it would have lost is named, read back from the kernel log.
 */
import { execFileSync } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "./cli.ts";

const LS_AND_EXIT = ["sh", "-c", "ls / > /dev/null && exit 3"];

interface Profile {
  defaultAction: string;
  syscalls: { names: string[]; action: string }[];
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "seccompose-run-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function recorded(name: string, extra: string[] = [], cmd = LS_AND_EXIT, status = 3): Promise<Profile> {
  const path = join(dir, `${name}.json`);
  const res = await runCli(["record", "--output-file", path, ...extra, "--", ...cmd]);
  expect(res.code, res.stderr).toBe(status);
  return JSON.parse(await readFile(path, "utf8")) as Profile;
}

async function withoutSyscall(profile: Profile, name: string, file: string): Promise<string> {
  const allowed = profile.syscalls.find((r) => r.action === "SCMP_ACT_ALLOW" && r.names.includes(name));
  expect(allowed, `${name} is in the recorded profile`).toBeDefined();
  allowed!.names = allowed!.names.filter((n) => n !== name);
  const path = join(dir, file);
  await writeFile(path, JSON.stringify(profile));
  return path;
}

const kernelLogReadable = (() => {
  try {
    execFileSync("dmesg", [], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();

describe("seccompose run", () => {
  it("runs a recorded command under its profile with the command's own exit status", async () => {
    await recorded("ls");
    const res = await runCli(["run", "--profile", join(dir, "ls.json"), "--", ...LS_AND_EXIT]);
    expect(res.stderr).toBe("");
    expect(res.code).toBe(3);
  });

  it("makes the command fail with EPERM when the profile lacks a syscall it needs", async () => {
    const path = await withoutSyscall(await recorded("ls-enforce"), "getdents64", "no-getdents64.json");
    const res = await runCli(["run", "--profile", path, "--", "ls", "/"]);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(/Operation not permitted/);
  });

  it("in complain mode runs the command and names what the profile would have denied", async () => {
    const path = await withoutSyscall(
      await recorded("ls-complain", ["--complain"]),
      "getdents64",
      "complain.json",
    );
    let res = await runCli(["run", "--profile", path, "--", "ls", "/"]);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/\betc\b/);
    if (!kernelLogReadable) {
      expect(res.stderr).toMatch(/complain mode: .*kernel log, which cannot be read here/);
      return;
    }
    // The kernel rate-limits audit lines (10 per 5 s); one rerun outlasts a burst from elsewhere.
    if (!/getdents64/.test(res.stderr)) {
      await sleep(6000);
      res = await runCli(["run", "--profile", path, "--", "ls", "/"]);
    }
    expect(res.stderr).toMatch(
      /^seccompose: complain mode: the profile would have denied getdents64 \(\d+× by ls\)/m,
    );
  });

  it("passes a signal death through as 128 + the signal number", async () => {
    const killSelf = ["sh", "-c", "kill -TERM $$"];
    await recorded("kill", [], killSelf, 143);
    const res = await runCli(["run", "--profile", join(dir, "kill.json"), "--", ...killSelf]);
    expect(res.code).toBe(143);
  });

  it("refuses a profile libseccomp cannot load, naming the rule, before running anything", async () => {
    const path = join(dir, "bad.json");
    await writeFile(
      path,
      JSON.stringify({
        defaultAction: "SCMP_ACT_ERRNO",
        syscalls: [{ names: ["read"], action: "SCMP_ACT_NOPE" }],
      }),
    );
    const marker = join(dir, "ran");
    const res = await runCli(["run", "--profile", path, "--", "touch", marker]);
    expect(res.code).toBe(3);
    expect(res.stderr).toMatch(/error \[SC_PROFILE_INVALID\]: .*bad\.json: .*SCMP_ACT_NOPE/);
    await expect(readFile(marker)).rejects.toThrow();
  });

  it("names a missing profile file with its path", async () => {
    const res = await runCli(["run", "--profile", join(dir, "nope.json"), "--", "true"]);
    expect(res.code).toBe(5);
    expect(res.stderr).toMatch(/error \[SC_FILE_READ\]: .*nope\.json/);
  });
});
