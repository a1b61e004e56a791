/**
 * Installs a seccomp profile on this node: `<seccompDir>/<name>.json`, where the kubelet finds it
 * as `localhostProfile: seccompose/<name>.json`. Written through a temporary file and a rename in
 * the same directory, so a container starting meanwhile reads the old or the new profile, never
 * half of one. The agent runs as root on the host, so nothing in that directory is followed: a
 * symbolic link as the directory, the target or a temporary name is refused (SC_FILE_UNSAFE).
 */
import { createHash } from "node:crypto";
import { constants } from "node:fs";
import { mkdir, open } from "node:fs/promises";
import { join } from "node:path";
import type { InstalledProfile, InstallProfileRequest } from "../../../lib/contracts/types.ts";
import { isSeccomposeError, SeccomposeError } from "../../../lib/errors.ts";
import { checkTrustedDirectory, writeFileAtomic } from "../../../lib/atomic-file.ts";

export type ProfileInstaller = (request: InstallProfileRequest) => Promise<InstalledProfile>;

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

/**
 * The installer of a node whose profiles go to `seccompDir`; without one configured, every
 * request fails with SC_CONFIG_INVALID naming the setting.
 */
export function createProfileInstaller(node: string, seccompDir: string | undefined): ProfileInstaller {
  return async (request) => {
    if (seccompDir === undefined) {
      throw new SeccomposeError(
        "SC_CONFIG_INVALID",
        `the agent on node ${node} has no seccomp directory configured (--seccomp-dir or SECCOMPOSE_SECCOMP_DIR), so it cannot install profiles`,
      );
    }
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

/** The installed file's bytes, undefined when there is none; a link is refused, not read through. */
async function readCurrent(path: string): Promise<Buffer | undefined> {
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
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}
