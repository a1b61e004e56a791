#!/usr/bin/env node
import { CommanderError } from "commander";
import { isSeccomposeError } from "../lib/errors.ts";
import { ExitCodes, exitCodeFor } from "./exit-codes.ts";
import { createProgram } from "./program.ts";

// A reader that went away (`seccompose events -f | head`) ends the output, not in a crash.
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code === "EPIPE") process.exit(process.exitCode ?? ExitCodes.OK);
  throw err;
});

let exitCode: number = ExitCodes.OK;
try {
  const program = await createProgram((code) => (exitCode = code), process.argv);
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // commander already printed its message (or the help/version text).
    exitCode = err.exitCode === 0 ? ExitCodes.OK : ExitCodes.USAGE;
  } else if (isSeccomposeError(err)) {
    process.stderr.write(`seccompose: error [${err.code}]: ${err.message}\n`);
    exitCode = exitCodeFor(err.code);
  } else {
    process.stderr.write(`seccompose: internal error: ${(err as Error)?.message ?? String(err)}\n`);
    exitCode = ExitCodes.FAILURE;
  }
}
// A command may have set its own status (e.g. `config get` of an unset key).
if (exitCode !== ExitCodes.OK || process.exitCode === undefined) process.exitCode = exitCode;
