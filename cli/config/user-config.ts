import { mkdir, readFile, stat } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { stringify as toYaml } from "yaml";
import type { CliConfig } from "../../lib/contracts/types.ts";
import { assertValid } from "../../lib/contracts/validators.ts";
import { SeccomposeError } from "../../lib/errors.ts";
import { writeFileAtomic } from "../../lib/atomic-file.ts";
import schema from "../../schemas/cli-config.schema.json" with { type: "json" };
import { readYamlFile } from "../../lib/structured-file.ts";

export type CliConfigKey = keyof CliConfig;
export const CLI_CONFIG_KEYS = Object.keys(schema.properties).sort() as CliConfigKey[];

/** Keys whose value is a secret: `config list/get` never print it. */
export const SECRET_CONFIG_KEYS: readonly CliConfigKey[] = ["natsPassword"];

/** What `config list/get` show for a secret. */
export const REDACTED = "(set, not shown)";

export function redacted(config: CliConfig): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(config).map(([k, v]) => [
      k,
      SECRET_CONFIG_KEYS.includes(k as CliConfigKey) ? REDACTED : v,
    ]),
  );
}

/**
 * The password in `file` (its first line, as `echo secret > file` leaves it), or undefined when no
 * file is named.
 */
export async function readPasswordFile(file: string | undefined): Promise<string | undefined> {
  if (file === undefined) return undefined;
  try {
    return (await readFile(file, "utf8")).split(/\r?\n/)[0];
  } catch (err) {
    throw new SeccomposeError(
      "SC_FILE_READ",
      `cannot read the NATS password file ${file}: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
}

/** Only the user may read the file: it may hold a password (0600, in a 0700 directory if we create it). */
async function writeUserConfig(path: string, config: CliConfig): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await writeFileAtomic(path, toYaml(config), { mode: 0o600 });
}

/** `$SECCOMPOSE_CONFIG`, else `$XDG_CONFIG_HOME/seccompose/config.yaml`, else `~/.config/seccompose/config.yaml`. */
export function userConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.SECCOMPOSE_CONFIG) return env.SECCOMPOSE_CONFIG;
  const base = env.XDG_CONFIG_HOME || join(homedir(), ".config");
  return join(base, "seccompose", "config.yaml");
}

export async function readUserConfig(path = userConfigPath()): Promise<CliConfig> {
  const value = await readYamlFile(path, "config", { missingOk: true });
  if (value === undefined) return {};
  const config = assertValid("cliConfig", value, path, "SC_CONFIG_INVALID");
  await warnIfSecretExposed(path, config);
  return config;
}

/**
 * Files written before seccompose made them 0600 may still be readable by others; their owner is
 * told how to fix it rather than having the mode changed behind their back.
 */
async function warnIfSecretExposed(path: string, config: CliConfig): Promise<void> {
  if (!SECRET_CONFIG_KEYS.some((k) => config[k] !== undefined)) return;
  const mode = (await stat(path)).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    process.stderr.write(
      `seccompose: warning: ${path} holds a password and is readable by others (mode ${mode.toString(8).padStart(4, "0")}): run chmod 600 ${path}\n`,
    );
  }
}

/** Parses a value given on the command line into the key's schema type, then validates the whole config. */
export async function setUserConfig(key: string, raw: string, path = userConfigPath()): Promise<CliConfig> {
  if (!(CLI_CONFIG_KEYS as string[]).includes(key)) {
    throw new SeccomposeError(
      "SC_USAGE",
      `unknown config key "${key}"; known keys: ${CLI_CONFIG_KEYS.join(", ")}`,
    );
  }
  const type = (schema.properties as Record<string, { type?: string }>)[key]?.type;
  const value: unknown = type === "integer" && /^-?\d+$/.test(raw) ? Number(raw) : raw;
  const next = { ...(await readUserConfig(path)), [key]: value };
  const valid = assertValid("cliConfig", next, `seccompose config set ${key}`, "SC_CONFIG_INVALID");
  await writeUserConfig(path, valid);
  return valid;
}

export async function unsetUserConfig(key: string, path = userConfigPath()): Promise<CliConfig> {
  const next: Record<string, unknown> = { ...(await readUserConfig(path)) };
  delete next[key];
  await writeUserConfig(path, next as CliConfig);
  return next as CliConfig;
}

/**
 * Flags override the session file, which overrides the user defaults. `undefined` means "not
 * given" at that level.
 */
export function layered<T>(
  flag: T | undefined,
  file: T | undefined,
  defaults: T | undefined,
  fallback: T,
): T {
  return flag ?? file ?? defaults ?? fallback;
}
