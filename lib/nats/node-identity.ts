/**
 * The node's own NATS identity: an NKey user seed that is created on the node (enrollment) and
 * never leaves it; only its public key is handed out, for the NATS server's users.json. The agent
 * logs in with the seed (deploy/README.md, "NATS authentication and authorization").
 */
import { randomBytes } from "node:crypto";
import { constants } from "node:fs";
import { chmod, link, lstat, mkdir, open, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { createUser, fromPublic, fromSeed } from "@nats-io/nkeys";
import { SeccomposeError } from "../errors.ts";

export interface NodeIdentity {
  /** The encoded seed (`SU...`), as nkeyAuthenticator takes it. */
  seed: Uint8Array;
  /** The public key (`U...`) the NATS server knows the node by. */
  publicKey: string;
}

const identityError = (message: string, cause?: unknown): SeccomposeError =>
  new SeccomposeError("SC_NODE_IDENTITY", message, cause !== undefined ? { cause } : {});

/** A user seed's text, or undefined when `text` is not one (wrong prefix, bad checksum, not a seed). */
function userIdentity(text: string): NodeIdentity | undefined {
  if (!text.startsWith("SU")) return undefined;
  const seed = new TextEncoder().encode(text);
  try {
    const publicKey = fromSeed(seed).getPublicKey();
    return publicKey.startsWith("U") ? { seed, publicKey } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Reads the seed file the agent logs in with. Refuses (SC_NODE_IDENTITY) a file that is missing,
 * unreadable, a symbolic link, not a regular file, readable by group or others, or not an NKey
 * user seed, saying which.
 */
export async function readNodeIdentity(seedFile: string): Promise<NodeIdentity> {
  let text: string;
  try {
    const handle = await open(seedFile, constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      const st = await handle.stat();
      if (!st.isFile()) throw identityError(`the NKey seed file ${seedFile} is not a regular file`);
      if ((st.mode & 0o077) !== 0) {
        throw identityError(
          `the NKey seed file ${seedFile} is readable by group or others (mode ${(st.mode & 0o777).toString(8)}); it must be 0600`,
        );
      }
      text = (await handle.readFile("utf8")).trim();
    } finally {
      await handle.close();
    }
  } catch (err) {
    if (err instanceof SeccomposeError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") {
      throw identityError(
        `the NKey seed file ${seedFile} does not exist: this node has not been enrolled (\`seccompose install\` enrolls every node without a key; \`seccompose install --enroll <node>\` enrolls a node again that lost its identity directory)`,
        err,
      );
    }
    if (code === "ELOOP") throw identityError(`the NKey seed file ${seedFile} is a symbolic link`, err);
    throw identityError(`cannot read the NKey seed file ${seedFile}: ${(err as Error).message}`, err);
  }
  const identity = userIdentity(text);
  if (identity === undefined) {
    throw identityError(`${seedFile} does not hold an NKey user seed (one line starting with "SU")`);
  }
  return identity;
}

/**
 * Enrollment: makes sure `seedFile` holds this node's NKey user seed and returns its public key.
 * An existing valid seed is kept (so enrolling again gives the same key); otherwise a new seed is
 * written to a random temporary file created exclusively (0600, links not followed), synced, and
 * hard-linked to `seedFile`, which fails if the name exists: the seed file is never half written
 * and never replaced. Its directory is made 0700. A file that is there but is no seed is refused,
 * not overwritten: someone else put it there.
 */
export async function ensureNodeIdentity(seedFile: string): Promise<NodeIdentity & { created: boolean }> {
  const dir = dirname(seedFile);
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const st = await lstat(dir);
    if (st.isSymbolicLink()) throw identityError(`the identity directory ${dir} is a symbolic link`);
    if (!st.isDirectory()) throw identityError(`the identity directory ${dir} is not a directory`);
    await chmod(dir, 0o700);
  } catch (err) {
    if (err instanceof SeccomposeError) throw err;
    throw identityError(`cannot prepare the identity directory ${dir}: ${(err as Error).message}`, err);
  }
  if (await exists(seedFile)) {
    return { ...(await readNodeIdentity(seedFile)), created: false };
  }
  const seedText = new TextDecoder().decode(createUser().getSeed());
  const tmp = join(dir, `.${basename(seedFile)}.${randomBytes(8).toString("hex")}.tmp`);
  let created: boolean;
  try {
    const handle = await open(
      tmp,
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
      0o600,
    );
    try {
      await handle.writeFile(`${seedText}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      await link(tmp, seedFile);
      created = true;
    } catch (err) {
      // Another enrollment got there first: its seed is the node's.
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      created = false;
    }
    const dirHandle = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
    try {
      await dirHandle.sync();
    } finally {
      await dirHandle.close();
    }
  } catch (err) {
    throw identityError(`cannot create the NKey seed file ${seedFile}: ${(err as Error).message}`, err);
  } finally {
    await rm(tmp, { force: true });
  }
  return { ...(await readNodeIdentity(seedFile)), created };
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw identityError(`cannot inspect ${path}: ${(err as Error).message}`, err);
  }
}

/** Whether `key` is an NKey user public key (`U...` with a valid checksum), as an enrollment reports it. */
export function isUserPublicKey(key: string): boolean {
  if (!/^U[A-Z2-7]{55}$/.test(key)) return false;
  try {
    fromPublic(key);
    return true;
  } catch {
    return false;
  }
}
