/**
 * Enforce a seccomp profile on a real command, for tests: the profile is loaded into a libseccomp
 * filter the way runc does it, by the loader `seccompose run` uses (cli/run/run-under-profile.py says
 * what matches runc and what does not).
 */
import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loaderArgv } from "../../cli/run/loader.ts";

export {
  SYSTEM_PYTHON,
  LOADER_SCRIPT as RUNNER_SCRIPT,
  LOADER_SYSCALLS_AFTER_LOAD as RUNNER_SYSCALLS_AFTER_LOAD,
} from "../../cli/run/loader.ts";

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

export interface RunResult {
  /** The command's exit status; 2 with a stderr message when the runner rejected the profile. */
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

/**
 * Run `cmd` under `profile`: an OCI `linux.seccomp` object or the path of one. Values in an object may
 * be bigints, written as exact JSON integers (above 2^53 a JS number would lose bits).
 */
export async function runUnderProfile(
  profile: object | string,
  cmd: string[],
  opts: RunOptions = {},
): Promise<RunResult> {
  if (typeof profile === "string") return spawnRunner(profile, cmd, opts);
  const dir = await mkdtemp(join(tmpdir(), "seccompose-enforce-"));
  try {
    const path = join(dir, "profile.json");
    await writeFile(path, profileJson(profile));
    return await spawnRunner(path, cmd, opts);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function profileJson(profile: object): string {
  // JSON.rawJSON (Node 21+) is not in TypeScript's ES2023 lib yet.
  const { rawJSON } = JSON as unknown as { rawJSON(text: string): unknown };
  return JSON.stringify(profile, (_key, value: unknown) =>
    typeof value === "bigint" ? rawJSON(value.toString()) : value,
  );
}

function spawnRunner(profilePath: string, cmd: string[], opts: RunOptions): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const [file, args] = loaderArgv(profilePath, cmd);
    const child = spawn(file, args, {
      cwd: opts.cwd,
      env: opts.env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}
