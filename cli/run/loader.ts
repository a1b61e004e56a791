/**
 * The profile loader: `run-under-profile.py`, beside this module, loads an OCI `linux.seccomp`
 * profile into a libseccomp filter the way runc does and execs the command (the script's docstring
 * says what matches runc and what does not). It needs Debian's libseccomp binding for Python.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { ErrorCodes, SeccomposeError } from "../../lib/errors.ts";

/** Debian's python, the one the `python3-seccomp` package installs the `seccomp` module for. */
export const SYSTEM_PYTHON = "/usr/bin/python3";
export const LOADER_SCRIPT = fileURLToPath(new URL("./run-under-profile.py", import.meta.url));
/** What the loader itself does once the filter is loaded: a profile must allow these for any command to start. */
export const LOADER_SYSCALLS_AFTER_LOAD: readonly string[] = ["execve"];

/** The argv that runs `cmd` under the profile at `profilePath`. -I: the caller's PYTHON* variables stay out of the loader. */
export function loaderArgv(profilePath: string, cmd: readonly string[]): [string, string[]] {
  return [SYSTEM_PYTHON, ["-I", LOADER_SCRIPT, profilePath, "--", ...cmd]];
}

/** Throws SC_LOADER_MISSING, saying what to install, when the loader cannot run on this machine. */
export function checkLoader(): void {
  if (process.platform !== "linux") {
    throw new SeccomposeError(
      ErrorCodes.SC_LOADER_MISSING,
      `seccompose run needs Linux (seccomp filters); this is ${process.platform}`,
    );
  }
  if (!existsSync(LOADER_SCRIPT)) {
    throw new SeccomposeError(
      ErrorCodes.SC_LOADER_MISSING,
      `the profile loader ${LOADER_SCRIPT} is missing: this seccompose installation is incomplete (reinstall it)`,
    );
  }
  const probe = spawnSync(SYSTEM_PYTHON, ["-I", "-c", "import seccomp"], { encoding: "utf8" });
  if (probe.error !== undefined || probe.status !== 0) {
    const why =
      probe.error !== undefined
        ? `${SYSTEM_PYTHON} cannot be started (${probe.error.message})`
        : `${SYSTEM_PYTHON} has no seccomp module`;
    throw new SeccomposeError(
      ErrorCodes.SC_LOADER_MISSING,
      `seccompose run loads profiles with libseccomp's Python binding, and ${why}: ` +
        "apt-get install python3-seccomp (Debian/Ubuntu) or dnf install python3-libseccomp (Fedora)",
    );
  }
}
