import { mkdir } from "node:fs/promises";
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

/** `$SECCOMPOSE_CONFIG`, else `$XDG_CONFIG_HOME/seccompose/config.yaml`, else `~/.config/seccompose/config.yaml`. */
export function userConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.SECCOMPOSE_CONFIG) return env.SECCOMPOSE_CONFIG;
  const base = env.XDG_CONFIG_HOME || join(homedir(), ".config");
  return join(base, "seccompose", "config.yaml");
}

export async function readUserConfig(path = userConfigPath()): Promise<CliConfig> {
  const value = await readYamlFile(path, "config", { missingOk: true });
  return value === undefined ? {} : assertValid("cliConfig", value, path, "SC_CONFIG_INVALID");
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
  await mkdir(dirname(path), { recursive: true });
  await writeFileAtomic(path, toYaml(valid));
  return valid;
}

export async function unsetUserConfig(key: string, path = userConfigPath()): Promise<CliConfig> {
  const next: Record<string, unknown> = { ...(await readUserConfig(path)) };
  delete next[key];
  await mkdir(dirname(path), { recursive: true });
  await writeFileAtomic(path, toYaml(next));
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
