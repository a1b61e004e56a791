import { randomBytes } from "node:crypto";
import { constants } from "node:fs";
import { lstat, open, rename, rm, type FileHandle } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { isSeccomposeError, SeccomposeError } from "./errors.ts";

export interface AtomicWriteOptions {
  /** Permission bits of the new file; default 0644. */
  mode?: number;
  /**
   * The directory must be a real directory that not everyone can write to (the agent writing as
   * root into the kubelet's seccomp directory): a symbolic link or a world-writable directory
   * would let someone else choose where the file lands.
   */
  trustedDirectory?: boolean;
}

const CREATE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
const CREATE_ATTEMPTS = 5;

/**
 * Writes through a temporary file in the same directory and a rename, so a reader (a user,
 * Falco, the kubelet) never sees half a file and concurrent writers each replace the whole file.
 * The temporary name is random and created exclusively without following links, so nobody can
 * pre-plant it; the data is synced before the rename and the rename synced after it. A target
 * that is a symbolic link is refused (SC_FILE_UNSAFE), never written through or silently
 * replaced. On failure the temporary file is removed and SC_FILE_WRITE names the path.
 */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  options: AtomicWriteOptions = {},
): Promise<void> {
  const dir = dirname(path);
  let tmp: string | undefined;
  try {
    if (options.trustedDirectory) await checkTrustedDirectory(dir);
    await refuseSymlink(path);
    const created = await createTemporary(dir, basename(path), options.mode ?? 0o644);
    tmp = created.path;
    let identity: { dev: number; ino: number };
    try {
      await created.handle.writeFile(data);
      await created.handle.sync();
      identity = await created.handle.stat();
    } finally {
      await created.handle.close();
    }
    // Someone who swapped the temporary name for a link meanwhile would have it renamed into place.
    const now = await lstat(tmp);
    if (!now.isFile() || now.dev !== identity.dev || now.ino !== identity.ino) {
      throw new SeccomposeError(
        "SC_FILE_UNSAFE",
        `the temporary file ${tmp} was replaced while being written`,
      );
    }
    await refuseSymlink(path);
    await rename(tmp, path);
    tmp = undefined;
    await syncDirectory(dir);
  } catch (err) {
    if (tmp !== undefined) await rm(tmp, { force: true });
    if (isSeccomposeError(err, "SC_FILE_UNSAFE")) throw err;
    throw new SeccomposeError("SC_FILE_WRITE", `cannot write ${path}: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/**
 * Checks that `writeFileAtomic(path)` would succeed, before work whose result would otherwise be
 * lost (`record` runs the command only after this): the path is not a directory or a symbolic
 * link, and a temporary file can really be created (and is removed) in its directory, which also
 * catches a read-only file system and root's permissions. SC_FILE_WRITE names what and where.
 */
export async function checkWritable(path: string, what: string): Promise<void> {
  try {
    await refuseSymlink(path);
    const st = await lstat(path).catch(() => undefined);
    if (st?.isDirectory()) throw new Error("it is a directory");
    const probe = await createTemporary(dirname(path), basename(path), 0o600);
    await probe.handle.close();
    await rm(probe.path, { force: true });
  } catch (err) {
    if (isSeccomposeError(err, "SC_FILE_UNSAFE")) throw err;
    const e = err as NodeJS.ErrnoException;
    const reason =
      e.code === "ENOENT"
        ? `directory ${dirname(path)} does not exist`
        : e.code === "ENOTDIR"
          ? `${dirname(path)} is not a directory`
          : e.code === "EACCES" || e.code === "EPERM"
            ? `no permission to create files in ${dirname(path)}`
            : e.code === "EROFS"
              ? `${dirname(path)} is on a read-only file system`
              : e.message;
    throw new SeccomposeError("SC_FILE_WRITE", `cannot write ${what} to ${path}: ${reason}`, { cause: err });
  }
}

/** Throws SC_FILE_UNSAFE unless `dir` is a directory (not a link to one) that not everyone can write to. */
export async function checkTrustedDirectory(dir: string): Promise<void> {
  const st = await lstat(dir);
  if (st.isSymbolicLink()) {
    throw new SeccomposeError("SC_FILE_UNSAFE", `${dir} is a symbolic link; refusing to write into it`);
  }
  if (!st.isDirectory()) throw new SeccomposeError("SC_FILE_UNSAFE", `${dir} is not a directory`);
  if ((st.mode & 0o002) !== 0) {
    throw new SeccomposeError(
      "SC_FILE_UNSAFE",
      `${dir} is writable by everyone (mode ${(st.mode & 0o7777).toString(8)}); refusing to write into it`,
    );
  }
}

async function refuseSymlink(path: string): Promise<void> {
  const st = await lstat(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") return undefined;
    throw err;
  });
  if (st?.isSymbolicLink()) {
    throw new SeccomposeError("SC_FILE_UNSAFE", `${path} is a symbolic link; refusing to replace it`);
  }
}

async function createTemporary(
  dir: string,
  base: string,
  mode: number,
): Promise<{ path: string; handle: FileHandle }> {
  for (let attempt = 1; ; attempt++) {
    const path = join(dir, `.${base}.${randomBytes(8).toString("hex")}.tmp`);
    try {
      return { path, handle: await open(path, CREATE_FLAGS, mode) };
    } catch (err) {
      // EEXIST: the random name is taken (planted, or a stale leftover): draw another.
      if ((err as NodeJS.ErrnoException).code !== "EEXIST" || attempt === CREATE_ATTEMPTS) throw err;
    }
  }
}

/** Makes a rename or an unlink in `dir` durable: without it a crash can bring back the old file. */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
