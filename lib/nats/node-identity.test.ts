import { chmod, mkdir, mkdtemp, readFile, readdir, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createAccount, createUser, fromSeed } from "@nats-io/nkeys";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isSeccomposeError } from "../errors.ts";
import { ensureNodeIdentity, isUserPublicKey, readNodeIdentity } from "./node-identity.ts";

let dir: string;
let n = 0;
const fresh = () => join(dir, `case-${++n}`);
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "seccompose-identity-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function refusal(call: Promise<unknown>): Promise<string> {
  try {
    await call;
  } catch (err) {
    if (isSeccomposeError(err)) return `${err.code}: ${err.message}`;
    throw err;
  }
  throw new Error("it was accepted");
}

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

describe("enrollment (ensureNodeIdentity)", () => {
  it("creates a user seed readable only by its owner, in a directory only its owner may enter, and keeps it", async () => {
    const identityDir = fresh();
    const seedFile = join(identityDir, "nats-user.nk");
    const first = await ensureNodeIdentity(seedFile);
    expect(first.created).toBe(true);
    expect(first.publicKey).toMatch(/^U[A-Z2-7]{55}$/);
    expect((await stat(seedFile)).mode & 0o777).toBe(0o600);
    expect((await stat(identityDir)).mode & 0o777).toBe(0o700);
    // The file holds the seed of exactly that public key, and nothing else is left behind.
    const seedText = (await readFile(seedFile, "utf8")).trim();
    expect(seedText).toMatch(/^SU/);
    expect(fromSeed(new TextEncoder().encode(seedText)).getPublicKey()).toBe(first.publicKey);
    expect(await readdir(identityDir)).toEqual(["nats-user.nk"]);

    const again = await ensureNodeIdentity(seedFile);
    expect(again).toMatchObject({ created: false, publicKey: first.publicKey });
    expect(text(again.seed)).toBe(seedText);
  });

  it("closes a directory the kubelet created open (0755) to its owner", async () => {
    const identityDir = fresh();
    await mkdir(identityDir, { mode: 0o755 });
    await chmod(identityDir, 0o755);
    await ensureNodeIdentity(join(identityDir, "nats-user.nk"));
    expect((await stat(identityDir)).mode & 0o777).toBe(0o700);
  });

  it("gives concurrent enrollments one key: exactly one creates it", async () => {
    const seedFile = join(fresh(), "nats-user.nk");
    const results = await Promise.all(Array.from({ length: 6 }, () => ensureNodeIdentity(seedFile)));
    expect(new Set(results.map((r) => r.publicKey)).size).toBe(1);
    expect(results.filter((r) => r.created)).toHaveLength(1);
  });

  it("refuses, and leaves alone, a file in its place that is no user seed", async () => {
    const identityDir = fresh();
    await mkdir(identityDir, { mode: 0o700 });
    const seedFile = join(identityDir, "nats-user.nk");
    const account = text(createAccount().getSeed());
    await writeFile(seedFile, `${account}\n`, { mode: 0o600 });
    expect(await refusal(ensureNodeIdentity(seedFile))).toMatch(
      /^SC_NODE_IDENTITY: .*nats-user\.nk does not hold an NKey user seed/,
    );
    expect(await readFile(seedFile, "utf8")).toBe(`${account}\n`);
  });

  it("refuses an identity directory that is a symbolic link", async () => {
    const real = fresh();
    await mkdir(real);
    const linked = fresh();
    await symlink(real, linked);
    expect(await refusal(ensureNodeIdentity(join(linked, "nats-user.nk")))).toMatch(
      /^SC_NODE_IDENTITY: the identity directory .* is a symbolic link/,
    );
    expect(await readdir(real)).toEqual([]);
  });
});

describe("the agent's login (readNodeIdentity)", () => {
  it("reads the seed enrollment wrote", async () => {
    const seedFile = join(fresh(), "nats-user.nk");
    const { publicKey } = await ensureNodeIdentity(seedFile);
    expect((await readNodeIdentity(seedFile)).publicKey).toBe(publicKey);
  });

  it("says the node was not enrolled when the file is missing", async () => {
    expect(await refusal(readNodeIdentity(join(fresh(), "nats-user.nk")))).toMatch(
      /^SC_NODE_IDENTITY: the NKey seed file .*nats-user\.nk does not exist: this node has not been enrolled/,
    );
  });

  it("refuses a seed others can read, a symbolic link, a directory, and what is not a user seed", async () => {
    const d = fresh();
    await mkdir(d);
    const user = text(createUser().getSeed());

    await writeFile(join(d, "open.nk"), user, { mode: 0o644 });
    await chmod(join(d, "open.nk"), 0o644);
    expect(await refusal(readNodeIdentity(join(d, "open.nk")))).toMatch(
      /^SC_NODE_IDENTITY: .*open\.nk is readable by group or others \(mode 644\); it must be 0600/,
    );

    await writeFile(join(d, "target.nk"), user, { mode: 0o600 });
    await symlink(join(d, "target.nk"), join(d, "link.nk"));
    expect(await refusal(readNodeIdentity(join(d, "link.nk")))).toMatch(
      /^SC_NODE_IDENTITY: the NKey seed file .*link\.nk is a symbolic link/,
    );

    await mkdir(join(d, "dir.nk"), { mode: 0o700 });
    expect(await refusal(readNodeIdentity(join(d, "dir.nk")))).toMatch(/^SC_NODE_IDENTITY: .*dir\.nk/);

    const broken = `${user.slice(0, -4)}AAAA`;
    for (const [name, content] of [
      ["account.nk", text(createAccount().getSeed())],
      ["public.nk", createUser().getPublicKey()],
      ["checksum.nk", broken],
      ["empty.nk", ""],
    ] as const) {
      await writeFile(join(d, name), content, { mode: 0o600 });
      expect(await refusal(readNodeIdentity(join(d, name)))).toMatch(
        new RegExp(`^SC_NODE_IDENTITY: .*${name.replace(".", "\\.")} does not hold an NKey user seed`),
      );
    }
  });
});

describe("isUserPublicKey", () => {
  it("accepts a user public key only", () => {
    const key = createUser().getPublicKey();
    expect(isUserPublicKey(key)).toBe(true);
    expect(isUserPublicKey(createAccount().getPublicKey())).toBe(false);
    expect(isUserPublicKey(`${key.slice(0, -1)}${key.endsWith("A") ? "B" : "A"}`)).toBe(false);
    expect(isUserPublicKey(text(createUser().getSeed()))).toBe(false);
    expect(isUserPublicKey(`${key}\n`)).toBe(false);
  });
});
