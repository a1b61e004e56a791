/**
 * This node's seccomp directory: installs a seccomp profile as `<seccompDir>/<name>.json`, where
 * the kubelet finds it as `localhostProfile: seccompose/<name>.json`, lists the profiles there, and
 * removes one. Written through a temporary file and a rename in the same directory, so a container
 * starting meanwhile reads the old or the new profile, never half of one. The agent runs as root on
 * the host, so nothing in that directory is followed: a symbolic link as the directory, the target
 * or a temporary name is refused (SC_FILE_UNSAFE), and only regular files named like a profile are
 * listed or removed.
 */
import { createHash } from "node:crypto";
import { constants } from "node:fs";
import { lstat, mkdir, open, readdir, unlink } from "node:fs/promises";
import { join } from "node:path";
import type {
  InstalledProfile,
  InstallProfileRequest,
  UninstalledProfile,
} from "../../../lib/contracts/types.ts";
import { isSeccomposeError, SeccomposeError } from "../../../lib/errors.ts";
import { checkTrustedDirectory, syncDirectory, writeFileAtomic } from "../../../lib/atomic-file.ts";

export type ProfileInstaller = (
  request: Pick<InstallProfileRequest, "name" | "profile">,
) => Promise<InstalledProfile>;
export type ProfileLister = () => Promise<InstalledProfile[]>;
export type ProfileRemover = (name: string) => Promise<UninstalledProfile>;

/** The schema's upper bound on a profile's text, plus room for multi-byte characters. */
const MAX_PROFILE_BYTES = 4_000_000;

/** Same rule as the schema's ProfileFileName; checked again because it becomes a path. */
const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** Throws SC_MESSAGE_INVALID unless `name` is one safe path component. */
export function checkProfileName(name: string): string {
  if (!SAFE_NAME.test(name)) {
    throw new SeccomposeError(
      "SC_MESSAGE_INVALID",
      `profile name "${name}" is not a safe file name: use letters, digits, '.', '_' and '-', starting with a letter or digit, at most 128 characters`,
    );
  }
  return name;
}

/** Throws SC_MESSAGE_INVALID unless `text` is JSON shaped like an OCI seccomp profile. */
function checkProfileText(text: string, name: string): void {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new SeccomposeError(
      "SC_MESSAGE_INVALID",
      `profile "${name}" is not JSON: ${(err as Error).message}`,
    );
  }
  const profile = value as { defaultAction?: unknown; syscalls?: unknown } | null;
  if (
    typeof profile !== "object" ||
    profile === null ||
    typeof profile.defaultAction !== "string" ||
    (profile.syscalls !== undefined && !Array.isArray(profile.syscalls))
  ) {
    throw new SeccomposeError(
      "SC_MESSAGE_INVALID",
      `profile "${name}" is not an OCI seccomp profile: it needs a string defaultAction and a syscalls list`,
    );
  }
}

function requireSeccompDir(node: string, seccompDir: string | undefined, what: string): string {
  if (seccompDir === undefined) {
    throw new SeccomposeError(
      "SC_CONFIG_INVALID",
      `the agent on node ${node} has no seccomp directory configured (--seccomp-dir or SECCOMPOSE_SECCOMP_DIR), so it cannot ${what} profiles`,
    );
  }
  return seccompDir;
}

/**
 * The installer of a node whose profiles go to `seccompDir`; without one configured, every
 * request fails with SC_CONFIG_INVALID naming the setting.
 */
export function createProfileInstaller(node: string, configured: string | undefined): ProfileInstaller {
  return async (request) => {
    const seccompDir = requireSeccompDir(node, configured, "install");
    const name = checkProfileName(request.name);
    checkProfileText(request.profile, name);
    const path = join(seccompDir, `${name}.json`);
    const bytes = Buffer.from(request.profile, "utf8");
    const sha256 = createHash("sha256").update(bytes).digest("hex");
    const installed: InstalledProfile = { name, path, bytes: bytes.length, sha256 };
    try {
      await mkdir(seccompDir, { recursive: true, mode: 0o755 });
      await checkTrustedDirectory(seccompDir);
      const current = await readCurrent(path);
      if (current !== undefined && current.equals(bytes)) return { ...installed, unchanged: true };
      await writeFileAtomic(path, bytes, { trustedDirectory: true });
    } catch (err) {
      // writeFileAtomic's errors already name the path.
      if (isSeccomposeError(err, "SC_FILE_UNSAFE") || isSeccomposeError(err, "SC_FILE_WRITE")) {
        throw new SeccomposeError(err.code, `node ${node}: ${err.message}`, { cause: err });
      }
      throw new SeccomposeError(
        "SC_FILE_WRITE",
        `node ${node} cannot write ${path}: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
    return installed;
  };
}

/**
 * The installed file's bytes, undefined when there is none (or, with `maxBytes`, when it is larger);
 * a link is refused, not read through.
 */
async function readCurrent(path: string, maxBytes?: number): Promise<Buffer | undefined> {
  let handle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return undefined;
    if (code === "ELOOP") {
      throw new SeccomposeError("SC_FILE_UNSAFE", `${path} is a symbolic link; refusing to replace it`);
    }
    throw err;
  }
  try {
    if (maxBytes !== undefined && (await handle.stat()).size > maxBytes) return undefined;
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}

/** Lists the profiles installed in `seccompDir`: regular files named `<profile name>.json`, sorted by name. */
export function createProfileLister(node: string, configured: string | undefined): ProfileLister {
  return async () => {
    const seccompDir = requireSeccompDir(node, configured, "list");
    let entries;
    try {
      entries = await readdir(seccompDir, { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw new SeccomposeError(
        "SC_FILE_READ",
        `node ${node} cannot read ${seccompDir}: ${(err as Error).message}`,
        { cause: err },
      );
    }
    const profiles: InstalledProfile[] = [];
    for (const entry of entries) {
      const name = entry.name.endsWith(".json") ? entry.name.slice(0, -".json".length) : "";
      // Temporary files start with a dot; links and directories are not profiles we wrote.
      if (!SAFE_NAME.test(name) || !entry.isFile()) continue;
      const path = join(seccompDir, entry.name);
      const bytes = await readCurrent(path, MAX_PROFILE_BYTES).catch(() => undefined);
      if (bytes === undefined) continue;
      profiles.push({
        name,
        path,
        bytes: bytes.length,
        sha256: createHash("sha256").update(bytes).digest("hex"),
      });
    }
    return profiles.sort((a, b) => a.name.localeCompare(b.name));
  };
}

/**
 * Removes `<seccompDir>/<name>.json`. The name is one safe file name (never a path), the directory
 * must be trusted, and only a regular file is removed: a link or a directory under that name is
 * refused (SC_FILE_UNSAFE). A missing file is not an error (`removed: false`), so removal can be
 * repeated.
 */
export function createProfileRemover(node: string, configured: string | undefined): ProfileRemover {
  return async (requested) => {
    const seccompDir = requireSeccompDir(node, configured, "remove");
    const name = checkProfileName(requested);
    const path = join(seccompDir, `${name}.json`);
    try {
      const st = await lstat(path).catch((err: NodeJS.ErrnoException) => {
        if (err.code === "ENOENT") return undefined;
        throw err;
      });
      if (st === undefined) return { name, path, removed: false };
      await checkTrustedDirectory(seccompDir);
      if (!st.isFile()) {
        throw new SeccomposeError(
          "SC_FILE_UNSAFE",
          `${path} is not a regular file (a symbolic link or a directory); refusing to remove it`,
        );
      }
      // unlink never follows a link, so a file swapped for one meanwhile removes only the link.
      await unlink(path);
      await syncDirectory(seccompDir);
    } catch (err) {
      if (isSeccomposeError(err, "SC_FILE_UNSAFE")) {
        throw new SeccomposeError(err.code, `node ${node}: ${err.message}`, { cause: err });
      }
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return { name, path, removed: false };
      throw new SeccomposeError(
        "SC_FILE_WRITE",
        `node ${node} cannot remove ${path}: ${(err as Error).message}`,
        { cause: err },
      );
    }
    return { name, path, removed: true };
  };
}
