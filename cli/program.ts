import { Command } from "commander";
import { registerConfig } from "./config/config-command.ts";
import { registerMerge } from "./merge/merge-command.ts";
import { registerRecord } from "./record/record-command.ts";

export const VERSION = "0.1.0";

/** The `seccompose` command tree. `setExitCode` lets `record` pass the traced command's status through. */
export function createProgram(setExitCode: (code: number) => void): Command {
  const program = new Command("seccompose")
    .description("Least-privilege seccomp profiles recorded from what workloads really do")
    .version(VERSION)
    .showHelpAfterError("(run seccompose help for usage)")
    .exitOverride();
  registerRecord(program, setExitCode);
  registerMerge(program);
  registerConfig(program);
  return program;
}
