import { watch } from "node:fs";
import {
  chmod,
  lstat,
  mkdir,
  mkdtemp,
  readFile,
  readdir,
  rm,
  symlink,
  unlink,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { InstallProfileRequest } from "../../../lib/contracts/types.ts";
import { isValid } from "../../../lib/contracts/validators.ts";
import {
  checkProfileName,
  createProfileInstaller,
  createProfileLister,
  createProfileRemover,
} from "./profile-installer.ts";

const PROFILE = `${JSON.stringify({ defaultAction: "SCMP_ACT_ERRNO", syscalls: [{ names: ["read"], action: "SCMP_ACT_ALLOW" }] })}\n`;

function request(name: string, profile = PROFILE): InstallProfileRequest {
  return {
    schemaVersion: 1,
    op: "install",
    requestId: "r1",
    replyToken: "test-reply-token-0001",
    name,
    profile,
  };
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "seccompose-install-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("profile installer", () => {
  it("writes <seccompDir>/<name>.json, and reports a second identical install as unchanged", async () => {
    const install = createProfileInstaller("node-a", join(dir, "seccompose"));
    const first = await install(request("shop-web-nginx"));
    expect(first).toMatchObject({
      name: "shop-web-nginx",
      path: join(dir, "seccompose", "shop-web-nginx.json"),
      bytes: PROFILE.length,
    });
    expect(first.unchanged).toBeUndefined();
    expect(await readFile(first.path, "utf8")).toBe(PROFILE);
    expect((await install(request("shop-web-nginx"))).unchanged).toBe(true);
    expect(await readdir(join(dir, "seccompose"))).toEqual(["shop-web-nginx.json"]);
  });

  it("refuses names that are not one safe path component, in the schema and in the installer", async () => {
    const install = createProfileInstaller("node-a", dir);
    for (const name of ["../etc/passwd", ".hidden", "a/b", "", "x".repeat(129)]) {
      expect(isValid("controlRequest", request(name)), name).toBe(false);
      expect(() => checkProfileName(name), name).toThrow(/not a safe file name/);
      await expect(install(request(name))).rejects.toMatchObject({ code: "SC_MESSAGE_INVALID" });
    }
    expect(isValid("controlRequest", request("shop-web-nginx.v2"))).toBe(true);
  });

  it("refuses text that is not an OCI seccomp profile", async () => {
    const install = createProfileInstaller("node-a", dir);
    await expect(install(request("p", "{not json"))).rejects.toThrow(/is not JSON/);
    await expect(install(request("p", '{"syscalls": []}'))).rejects.toThrow(/not an OCI seccomp profile/);
    expect(await readdir(dir)).toEqual([]);
  });

  it("says which setting is missing when the agent has no seccomp directory", async () => {
    await expect(createProfileInstaller("node-a", undefined)(request("p"))).rejects.toMatchObject({
      code: "SC_CONFIG_INVALID",
      message: expect.stringContaining("node node-a has no seccomp directory configured (--seccomp-dir"),
    });
  });
});

describe("listing and removing installed profiles", () => {
  it("lists the regular profile files with their size and digest, skipping temporaries, links and directories", async () => {
    const seccompDir = join(dir, "seccompose");
    const install = createProfileInstaller("node-a", seccompDir);
    const list = createProfileLister("node-a", seccompDir);
    expect(await list()).toEqual([]);
    const b = await install(request("b.deployment.web.nginx"));
    const a = await install(request("a.deployment.web.nginx", `${PROFILE} `));
    await writeFile(join(seccompDir, ".c.json.0123.tmp"), PROFILE);
    await writeFile(join(seccompDir, "notes.txt"), "x");
    await symlink(join(dir, "elsewhere.json"), join(seccompDir, "link.json"));
    await mkdir(join(seccompDir, "dir.json"));
    const { unchanged: _u, ...withoutFlag } = b;
    expect(await list()).toEqual([a, withoutFlag]);
    expect(a.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(a.sha256).not.toBe(b.sha256);
  });

  it("removes one profile file, says when there was none, and refuses a name that is not a file name", async () => {
    const seccompDir = join(dir, "seccompose");
    await createProfileInstaller("node-a", seccompDir)(request("p"));
    await createProfileInstaller("node-a", seccompDir)(request("q"));
    const remove = createProfileRemover("node-a", seccompDir);
    expect(await remove("p")).toEqual({ name: "p", path: join(seccompDir, "p.json"), removed: true });
    expect(await readdir(seccompDir)).toEqual(["q.json"]);
    expect(await remove("p")).toMatchObject({ removed: false });
    await writeFile(join(dir, "outside.json"), "precious\n");
    for (const name of ["../outside", "/etc/passwd", ".q", "a/b"]) {
      await expect(remove(name), name).rejects.toMatchObject({ code: "SC_MESSAGE_INVALID" });
    }
    expect(await readFile(join(dir, "outside.json"), "utf8")).toBe("precious\n");
    expect(await readdir(seccompDir)).toEqual(["q.json"]);
  });

  it("refuses to remove a link or a directory under a profile's name, and works only in a trusted directory", async () => {
    const seccompDir = join(dir, "seccompose");
    await mkdir(seccompDir);
    await writeFile(join(dir, "outside.json"), "precious\n");
    await symlink(join(dir, "outside.json"), join(seccompDir, "victim.json"));
    await mkdir(join(seccompDir, "sub.json"));
    const remove = createProfileRemover("node-a", seccompDir);
    for (const name of ["victim", "sub"]) {
      await expect(remove(name)).rejects.toMatchObject({
        code: "SC_FILE_UNSAFE",
        message: expect.stringContaining("not a regular file"),
      });
    }
    expect(await readFile(join(dir, "outside.json"), "utf8")).toBe("precious\n");
    expect((await lstat(join(seccompDir, "victim.json"))).isSymbolicLink()).toBe(true);

    const open = join(dir, "open");
    await mkdir(open);
    await writeFile(join(open, "p.json"), PROFILE);
    await chmod(open, 0o777);
    await expect(createProfileRemover("node-a", open)("p")).rejects.toMatchObject({ code: "SC_FILE_UNSAFE" });
    expect(await readdir(open)).toEqual(["p.json"]);
  });
});

/** A distinct valid profile per writer, so each install really writes. */
const profileOf = (writer: number, round: number) =>
  `${JSON.stringify({ defaultAction: "SCMP_ACT_ERRNO", syscalls: [{ names: ["read"], action: "SCMP_ACT_ALLOW" }], writer, round, pad: "x".repeat(64 * 1024) })}\n`;

describe("profile installer under attack", () => {
  it("four concurrent installs of one name leave one whole profile, in each of 40 rounds", async () => {
    const seccompDir = join(dir, "seccompose");
    const install = createProfileInstaller("node-a", seccompDir);
    const path = join(seccompDir, "shop.deployment.web.nginx.json");
    for (let round = 0; round < 40; round++) {
      const texts = [0, 1, 2, 3].map((w) => profileOf(w, round));
      let reading = true;
      // A reader like the kubelet, during the writes: the file is absent (first round) or whole.
      const reader = (async () => {
        while (reading) {
          const text = await readFile(path, "utf8").catch(() => undefined);
          if (text !== undefined) expect(() => JSON.parse(text), `round ${round}`).not.toThrow();
          await new Promise((r) => setImmediate(r));
        }
      })();
      const results = await Promise.all(texts.map((t) => install(request("shop.deployment.web.nginx", t))));
      reading = false;
      await reader;
      expect(results.every((r) => r.path === path)).toBe(true);
      expect(texts).toContain(await readFile(path, "utf8"));
    }
    // No temporary file is left behind.
    expect(await readdir(seccompDir)).toEqual(["shop.deployment.web.nginx.json"]);
  }, 60_000);

  it("never writes through a symbolic link planted at the target name", async () => {
    const seccompDir = join(dir, "seccompose");
    const outside = join(dir, "outside.txt");
    await mkdir(seccompDir);
    await writeFile(outside, "precious\n");
    await symlink(outside, join(seccompDir, "victim.json"));
    const install = createProfileInstaller("node-a", seccompDir);
    await expect(install(request("victim"))).rejects.toMatchObject({
      code: "SC_FILE_UNSAFE",
      message: expect.stringContaining("is a symbolic link"),
    });
    expect(await readFile(outside, "utf8")).toBe("precious\n");
    expect((await lstat(join(seccompDir, "victim.json"))).isSymbolicLink()).toBe(true);
    expect(await readdir(seccompDir)).toEqual(["victim.json"]);
  });

  it("ignores a symbolic link planted at the temporary name the agent used to use", async () => {
    const seccompDir = join(dir, "seccompose");
    const outside = join(dir, "outside.txt");
    await mkdir(seccompDir);
    await writeFile(outside, "precious\n");
    // The former temporary name was .<file>.<pid>.tmp: predictable by anyone who can list processes.
    await symlink(outside, join(seccompDir, `.p.json.${process.pid}.tmp`));
    const installed = await createProfileInstaller("node-a", seccompDir)(request("p"));
    expect(await readFile(installed.path, "utf8")).toBe(PROFILE);
    expect(await readFile(outside, "utf8")).toBe("precious\n");
  });

  it("never writes outside the directory while an attacker swaps every temporary file for a link", async () => {
    const seccompDir = join(dir, "seccompose");
    const outside = join(dir, "outside.txt");
    await mkdir(seccompDir);
    await writeFile(outside, "precious\n");
    let swapped = 0;
    // The attacker reacts to each new temporary name by putting a link to the outside file there.
    const watcher = watch(seccompDir, (_event, file) => {
      if (typeof file !== "string" || !file.endsWith(".tmp")) return;
      const tmp = join(seccompDir, file);
      void unlink(tmp)
        .then(() => symlink(outside, tmp))
        .then(() => swapped++)
        .catch(() => {});
    });
    const install = createProfileInstaller("node-a", seccompDir);
    const outcomes: string[] = [];
    try {
      for (let round = 0; round < 40; round++) {
        const text = profileOf(0, round);
        try {
          await install(request("victim", text));
          outcomes.push("installed");
          // Whatever the attacker did, a successful install left our bytes in a regular file.
          const target = join(seccompDir, "victim.json");
          expect((await lstat(target)).isFile()).toBe(true);
        } catch (err) {
          expect(["SC_FILE_UNSAFE", "SC_FILE_WRITE"]).toContain((err as { code?: string }).code);
          outcomes.push((err as { code: string }).code);
        }
        await new Promise((r) => setTimeout(r, 5));
      }
    } finally {
      watcher.close();
    }
    expect(await readFile(outside, "utf8")).toBe("precious\n");
    expect(outcomes).toHaveLength(40);
    const target = await lstat(join(seccompDir, "victim.json")).catch(() => undefined);
    if (target !== undefined) expect(target.isSymbolicLink()).toBe(false);
    // The attack really ran (at least one swap), so the assertions above were exercised.
    expect(swapped).toBeGreaterThan(0);
  }, 60_000);

  it("refuses a seccomp directory that is a symbolic link or writable by everyone", async () => {
    const elsewhere = join(dir, "elsewhere");
    await mkdir(elsewhere);
    await symlink(elsewhere, join(dir, "linked"));
    await expect(createProfileInstaller("node-a", join(dir, "linked"))(request("p"))).rejects.toMatchObject({
      code: "SC_FILE_UNSAFE",
    });
    expect(await readdir(elsewhere)).toEqual([]);

    const open = join(dir, "open");
    await mkdir(open);
    await chmod(open, 0o777);
    await expect(createProfileInstaller("node-a", open)(request("p"))).rejects.toMatchObject({
      code: "SC_FILE_UNSAFE",
      message: expect.stringContaining("writable by everyone"),
    });
    expect(await readdir(open)).toEqual([]);
  });
});
