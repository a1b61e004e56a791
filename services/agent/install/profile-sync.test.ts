import { mkdtemp, readFile, readdir, rm, writeFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { InstalledProfileMark } from "../../../lib/contracts/types.ts";
import { profileSha256, type MarkEntry } from "../../../lib/nats/installed-marks.ts";
import { createProfileInstaller, createProfileRemover } from "./profile-installer.ts";
import { syncInstalledProfiles } from "./profile-sync.ts";

const logger = pino({ level: "silent" });
const AT = new Date("2025-01-15T10:00:00.000Z");

function mark(name: string, profile: string): MarkEntry {
  const value: InstalledProfileMark = {
    schemaVersion: 1,
    name,
    profile,
    sha256: profileSha256(profile),
    session: "s1",
    workload: { namespace: "shop", kind: "Deployment", name: "web", container: "nginx" },
    mode: "enforce",
    markedAt: AT.toISOString(),
  };
  return { name, state: "installed", mark: value };
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "seccompose-sync-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("syncInstalledProfiles", () => {
  it("installs marked profiles, removes unmarked ones, leaves other files alone and reports each", async () => {
    const seccompDir = join(dir, "seccompose");
    await mkdir(seccompDir);
    const enforce = '{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[]}\n';
    await writeFile(join(seccompDir, "same.json"), enforce);
    await writeFile(join(seccompDir, "old.json"), enforce);
    await writeFile(join(seccompDir, "by-hand.json"), enforce);
    const target = {
      install: createProfileInstaller("node-c", seccompDir),
      remove: createProfileRemover("node-c", seccompDir),
    };
    const report = await syncInstalledProfiles(
      [
        mark("new", '{"defaultAction":"SCMP_ACT_LOG","syscalls":[]}\n'),
        mark("same", enforce),
        { name: "old", state: "uninstalled" },
        { name: "never-here", state: "uninstalled" },
        { name: "bad", state: "invalid", error: "KV sc_installed key bad is not JSON" },
        mark("broken", "not a profile"),
      ],
      target,
      logger,
      () => AT,
    );
    expect(report).toEqual({
      at: AT.toISOString(),
      installed: ["new"],
      unchanged: ["same"],
      removed: ["old"],
      errors: [
        { name: "bad", code: "SC_MESSAGE_INVALID", message: "KV sc_installed key bad is not JSON" },
        { name: "broken", code: "SC_MESSAGE_INVALID", message: expect.stringContaining("is not JSON") },
      ],
    });
    expect((await readdir(seccompDir)).sort()).toEqual(["by-hand.json", "new.json", "same.json"]);
    expect(await readFile(join(seccompDir, "new.json"), "utf8")).toBe(
      '{"defaultAction":"SCMP_ACT_LOG","syscalls":[]}\n',
    );
  });
});
