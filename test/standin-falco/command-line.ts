/** The stand-in's command line, Falco's (see standin-falco.ts). */
import { ConfigError } from "./config.ts";

export interface CommandLine {
  configPath: string | undefined;
  version: boolean;
  list: boolean;
  dryRun: boolean;
  unbuffered: boolean;
  overrides: string[];
}

export function parseCommandLine(argv: readonly string[]): CommandLine {
  const line: CommandLine = {
    configPath: undefined,
    version: false,
    list: false,
    dryRun: false,
    unbuffered: false,
    overrides: [],
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "-c") line.configPath = argv[++i];
    else if (arg === "-o") line.overrides.push(argv[++i] ?? "");
    else if (arg === "--version") line.version = true;
    else if (arg === "--list" || arg.startsWith("--list=")) line.list = true;
    else if (arg === "--dry-run") line.dryRun = true;
    else if (arg === "-U" || arg === "--unbuffered") line.unbuffered = true;
    else throw new ConfigError(`Unrecognized option '${arg}'`);
  }
  return line;
}
