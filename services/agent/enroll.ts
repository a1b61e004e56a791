#!/usr/bin/env node
/**
 * Node enrollment, the agent image's second entry point (`node dist/services/agent/enroll.js`):
 * `seccompose install` runs it once per node in a pod pinned to the node, with the node's identity
 * directory mounted. It creates the node's NKey seed there, or keeps the valid one it finds, and
 * writes only the public key to the termination message, where install reads it. On failure the
 * message is `CODE: reason`, which install shows. Only wires; see lib/nats/node-identity.ts.
 */
import { writeFile } from "node:fs/promises";
import { Command, CommanderError } from "commander";
import { pino } from "pino";
import { SeccomposeError, isSeccomposeError } from "../../lib/errors.ts";
import { ensureNodeIdentity } from "../../lib/nats/node-identity.ts";

const DEFAULT_MESSAGE_FILE = "/dev/termination-log";

const logger = pino({ base: { component: "agent-enroll", node: process.env.NODE_NAME } });
const command = new Command("seccompose-agent-enroll")
  .description("creates this node's NATS NKey (or keeps it) and reports its public key")
  .option("--nkey-file <file>", "the seed file (env SECCOMPOSE_NATS_NKEY_FILE)")
  .option(
    "--message-file <file>",
    `where the public key goes, "-" for stdout (default ${DEFAULT_MESSAGE_FILE}, the pod's termination message)`,
  )
  .exitOverride();

async function report(messageFile: string, text: string): Promise<void> {
  if (messageFile === "-") process.stdout.write(`${text}\n`);
  else await writeFile(messageFile, `${text}\n`);
}

let messageFile = DEFAULT_MESSAGE_FILE;
try {
  const flags = command.parse(process.argv.slice(2), { from: "user" }).opts<{
    nkeyFile?: string;
    messageFile?: string;
  }>();
  messageFile = flags.messageFile ?? DEFAULT_MESSAGE_FILE;
  const seedFile = flags.nkeyFile ?? process.env.SECCOMPOSE_NATS_NKEY_FILE;
  if (seedFile === undefined || seedFile === "") {
    throw new SeccomposeError("SC_USAGE", "no seed file given: use --nkey-file or SECCOMPOSE_NATS_NKEY_FILE");
  }
  const { publicKey, created } = await ensureNodeIdentity(seedFile);
  await report(messageFile, publicKey);
  logger.info({ publicKey, created, seedFile }, created ? "node enrolled with a new key" : "node key kept");
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : 2);
  const code = isSeccomposeError(err) ? err.code : "SC_INTERNAL";
  const message = (err as Error).message;
  logger.fatal({ code }, message);
  await report(messageFile, `${code}: ${message}`).catch(() => {});
  process.exit(1);
}
