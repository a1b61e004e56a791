/**
 * Node enrollment, `seccompose-agent enroll`: `seccompose install` runs it once per node in a pod
 * pinned to the node, with the node's identity directory mounted. It creates the node's NKey seed
 * there, or keeps the valid one it finds, and writes only the public key to the termination
 * message, where install reads it. On failure the message is `CODE: reason`, which install shows.
 * The seed itself never leaves the node (lib/nats/node-identity.ts).
 */
import { writeFile } from "node:fs/promises";
import { Command, CommanderError } from "commander";
import type { Logger } from "pino";
import { SeccomposeError, isSeccomposeError } from "../../lib/errors.ts";
import { ensureNodeIdentity } from "../../lib/nats/node-identity.ts";

export const ENROLL_COMMAND = "enroll";
const DEFAULT_MESSAGE_FILE = "/dev/termination-log";

function enrollCommand(): Command {
  return new Command(`seccompose-agent ${ENROLL_COMMAND}`)
    .description("creates this node's NATS NKey (or keeps the one there) and reports its public key")
    .option("--nkey-file <file>", "the seed file (env SECCOMPOSE_NATS_NKEY_FILE)")
    .option(
      "--message-file <file>",
      `where the public key goes, "-" for stdout (default ${DEFAULT_MESSAGE_FILE}, the pod's termination message)`,
    )
    .exitOverride();
}

async function report(messageFile: string, text: string): Promise<void> {
  if (messageFile === "-") process.stdout.write(`${text}\n`);
  else await writeFile(messageFile, `${text}\n`);
}

/** Runs the enrollment for `argv` (the arguments after `enroll`); resolves with the exit code. */
export async function runEnrollment(argv: string[], env: NodeJS.ProcessEnv, logger: Logger): Promise<number> {
  let messageFile = DEFAULT_MESSAGE_FILE;
  try {
    const flags = enrollCommand().parse(argv, { from: "user" }).opts<{
      nkeyFile?: string;
      messageFile?: string;
    }>();
    messageFile = flags.messageFile ?? DEFAULT_MESSAGE_FILE;
    const seedFile = flags.nkeyFile ?? env.SECCOMPOSE_NATS_NKEY_FILE;
    if (seedFile === undefined || seedFile === "") {
      throw new SeccomposeError(
        "SC_USAGE",
        "no seed file given: use --nkey-file or SECCOMPOSE_NATS_NKEY_FILE",
      );
    }
    const { publicKey, created } = await ensureNodeIdentity(seedFile);
    await report(messageFile, publicKey);
    logger.info({ publicKey, created, seedFile }, created ? "node enrolled with a new key" : "node key kept");
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    const code = isSeccomposeError(err) ? err.code : "SC_INTERNAL";
    const message = (err as Error).message;
    logger.fatal({ code }, message);
    await report(messageFile, `${code}: ${message}`).catch(() => {});
    return 1;
  }
}
