import { mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { checkWritable, writeFileAtomic } from "./atomic-file.ts";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "seccompose-atomic-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("writeFileAtomic", () => {
  it("replaces a file whole and leaves no temporary file", async () => {
    const path = join(dir, "p.json");
    await writeFileAtomic(path, "old\n");
    await writeFileAtomic(path, "new\n");
    expect(await readFile(path, "utf8")).toBe("new\n");
    expect(await readdir(dir)).toEqual(["p.json"]);
  });

  it("refuses a target that is a symbolic link, leaving the link and what it points to alone", async () => {
    const outside = join(dir, "outside.txt");
    await writeFile(outside, "precious\n");
    await symlink(outside, join(dir, "p.json"));
    await expect(writeFileAtomic(join(dir, "p.json"), "x")).rejects.toMatchObject({ code: "SC_FILE_UNSAFE" });
    expect(await readFile(outside, "utf8")).toBe("precious\n");
    expect((await readdir(dir)).sort()).toEqual(["outside.txt", "p.json"]);
  });

  it("names the path when the directory does not exist", async () => {
    await expect(writeFileAtomic(join(dir, "missing", "p.json"), "x")).rejects.toMatchObject({
      code: "SC_FILE_WRITE",
      message: expect.stringContaining(join(dir, "missing", "p.json")),
    });
  });
});

describe("checkWritable", () => {
  it("passes for a new or existing file in a writable directory and leaves nothing behind", async () => {
    await checkWritable(join(dir, "new.json"), "the profile");
    await writeFile(join(dir, "old.json"), "kept\n");
    await checkWritable(join(dir, "old.json"), "the profile");
    expect(await readdir(dir)).toEqual(["old.json"]);
    expect(await readFile(join(dir, "old.json"), "utf8")).toBe("kept\n");
  });

  it("names what and where when the directory is missing, the target is a directory or a link", async () => {
    await expect(checkWritable(join(dir, "missing", "p.json"), "the profile")).rejects.toMatchObject({
      code: "SC_FILE_WRITE",
      message: `cannot write the profile to ${join(dir, "missing", "p.json")}: directory ${join(dir, "missing")} does not exist`,
    });
    await mkdir(join(dir, "p.json"));
    await expect(checkWritable(join(dir, "p.json"), "the profile")).rejects.toMatchObject({
      code: "SC_FILE_WRITE",
      message: `cannot write the profile to ${join(dir, "p.json")}: it is a directory`,
    });
    await symlink(join(dir, "elsewhere"), join(dir, "l.json"));
    await expect(checkWritable(join(dir, "l.json"), "the profile")).rejects.toMatchObject({
      code: "SC_FILE_UNSAFE",
    });
  });
});
