import { mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { InstallProfileRequest } from "../../../lib/contracts/types.ts";
import { isValid } from "../../../lib/contracts/validators.ts";
import { checkProfileName, createProfileInstaller } from "./profile-installer.ts";

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
