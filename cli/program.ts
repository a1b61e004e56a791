import { Command } from "commander";
import { registerConfig } from "./config/config-command.ts";
import { registerInstall } from "./install/install-command.ts";
import { registerMerge } from "./merge/merge-command.ts";
import { registerProfile } from "./profile/profile-command.ts";
import { registerRecord } from "./record/record-command.ts";
import { registerRun } from "./run/run-command.ts";
import { registerEvents } from "./session/events-command.ts";
import { registerStart } from "./session/start-command.ts";
import { registerStatus } from "./session/status-command.ts";
import { registerStop } from "./session/stop-command.ts";

export const VERSION = "0.1.0";

/**
 * The `seccompose` command tree. `setExitCode` lets `record` pass the traced command's status
 * through, and the cluster commands report a partial result (exit-codes.ts).
 */
export function createProgram(setExitCode: (code: number) => void): Command {
  const program = new Command("seccompose")
    .description("Least-privilege seccomp profiles recorded from what workloads really do")
    .version(VERSION)
    .showHelpAfterError("(run seccompose help for usage)")
    .exitOverride();
  registerRecord(program, setExitCode);
  registerMerge(program);
  registerRun(program, setExitCode);
  registerStart(program, setExitCode);
  registerStatus(program);
  registerStop(program, setExitCode);
  registerEvents(program);
  registerProfile(program, setExitCode);
  registerInstall(program);
  registerConfig(program);
  return program;
}
