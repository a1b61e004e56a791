import { rm, rename, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { SeccomposeError } from "./errors.ts";

/**
 * Writes through a temporary file in the same directory and a rename, so a reader (a user,
 * Falco, the kubelet) never sees half a file. On failure the temporary file is removed and
 * SC_FILE_WRITE names the path.
 */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  opts: { mode?: number } = {},
): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  try {
    // The file is always new, so the mode (0644 unless told, e.g. 0600 for secrets) is exact.
    await writeFile(tmp, data, { mode: opts.mode ?? 0o644 });
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw new SeccomposeError("SC_FILE_WRITE", `cannot write ${path}: ${(err as Error).message}`, {
      cause: err,
    });
  }
}
