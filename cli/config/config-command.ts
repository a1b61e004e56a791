import type { Command } from "commander";
import {
  CLI_CONFIG_KEYS,
  readUserConfig,
  setUserConfig,
  unsetUserConfig,
  userConfigPath,
} from "./user-config.ts";

interface OutputFlag {
  output?: string;
}

export function registerConfig(program: Command): void {
  const config = program
    .command("config")
    .summary("show or change your defaults")
    .description(
      `User defaults, kept in ${userConfigPath()} (override with $SECCOMPOSE_CONFIG). Keys: ${CLI_CONFIG_KEYS.join(", ")}.`,
    );

  config
    .command("list")
    .description("print every default that is set")
    .option("--output <format>", "text or json", "text")
    .action(async (flags: OutputFlag) => {
      const values = await readUserConfig();
      if (flags.output === "json") process.stdout.write(`${JSON.stringify(values, null, 2)}\n`);
      else for (const [k, v] of Object.entries(values)) process.stdout.write(`${k}=${String(v)}\n`);
    });

  config
    .command("get")
    .description("print one default (nothing, and exit 1, if it is not set)")
    .argument("<key>")
    .option("--output <format>", "text or json", "text")
    .action(async (key: string, flags: OutputFlag) => {
      const value = (await readUserConfig())[key as keyof Awaited<ReturnType<typeof readUserConfig>>];
      if (value === undefined) {
        process.exitCode = 1;
        return;
      }
      process.stdout.write(flags.output === "json" ? `${JSON.stringify(value)}\n` : `${String(value)}\n`);
    });

  config
    .command("set")
    .description("set a default; the value is checked against the config schema")
    .argument("<key>")
    .argument("<value>")
    .action(async (key: string, value: string) => {
      await setUserConfig(key, value);
    });

  config
    .command("unset")
    .description("remove a default")
    .argument("<key>")
    .action(async (key: string) => {
      await unsetUserConfig(key);
    });
}
