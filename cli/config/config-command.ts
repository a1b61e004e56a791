import type { Command } from "commander";
import { outputOption } from "../output-option.ts";
import {
  CLI_CONFIG_KEYS,
  REDACTED,
  SECRET_CONFIG_KEYS,
  readUserConfig,
  redacted,
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
      `User defaults, kept in ${userConfigPath()} (override with $SECCOMPOSE_CONFIG), readable by you only. ` +
        `Keys: ${CLI_CONFIG_KEYS.join(", ")}. Secrets are never printed; keep the NATS password in a file ` +
        `(natsPasswordFile) or use a .creds file (natsCreds) rather than setting natsPassword.`,
    );

  config
    .command("list")
    .description('print every default that is set (secrets as "(set, not shown)")')
    .addOption(outputOption(["text", "json"]))
    .action(async (flags: OutputFlag) => {
      const stored = await readUserConfig();
      const values = redacted(stored);
      if ((flags.output ?? stored.output) === "json")
        process.stdout.write(`${JSON.stringify(values, null, 2)}\n`);
      else for (const [k, v] of Object.entries(values)) process.stdout.write(`${k}=${String(v)}\n`);
    });

  config
    .command("get")
    .description('print one default (nothing, and exit 1, if it is not set; a secret as "(set, not shown)")')
    .argument("<key>")
    .addOption(outputOption(["text", "json"]))
    .action(async (key: string, flags: OutputFlag) => {
      const stored = await readUserConfig();
      const value = stored[key as keyof typeof stored];
      if (value === undefined) {
        process.exitCode = 1;
        return;
      }
      const shown = SECRET_CONFIG_KEYS.includes(key as (typeof SECRET_CONFIG_KEYS)[number])
        ? REDACTED
        : value;
      process.stdout.write(
        (flags.output ?? stored.output) === "json" ? `${JSON.stringify(shown)}\n` : `${String(shown)}\n`,
      );
    });

  config
    .command("set")
    .description("set a default; the value is checked against the config schema")
    .argument("<key>")
    .argument("<value>")
    .action(async (key: string, value: string) => {
      await setUserConfig(key, value);
      if (SECRET_CONFIG_KEYS.includes(key as (typeof SECRET_CONFIG_KEYS)[number])) {
        process.stderr.write(
          `seccompose: note: ${key} is stored in ${userConfigPath()} (mode 0600), and the value you typed is in your shell history; natsPasswordFile or natsCreds keep it in a file of your own\n`,
        );
      }
    });

  config
    .command("unset")
    .description("remove a default")
    .argument("<key>")
    .action(async (key: string) => {
      await unsetUserConfig(key);
    });
}
