#!/usr/bin/env node
import { isSeccomposeError } from "../../lib/errors.ts";
import { createLogger } from "../../lib/logger.ts";
import { startAgent } from "./agent.ts";
import { serviceHelp } from "../../lib/service-config.ts";
import { AGENT_SERVICE, resolveAgentConfig } from "./config.ts";
import { ENROLL_COMMAND, runEnrollment } from "./enroll.ts";

// Only reads the configuration and wires the agent together; see agent.ts. `enroll` is the
// one-shot node enrollment `seccompose install` runs on each node (enroll.ts).
let logger = createLogger("agent");
if (process.argv[2] === ENROLL_COMMAND) {
  const enrollLogger = createLogger("agent-enroll", { base: { node: process.env.NODE_NAME } });
  process.exit(await runEnrollment(process.argv.slice(3), process.env, enrollLogger));
}
try {
  const config = await resolveAgentConfig(process.argv.slice(2), process.env);
  if (config === "help") {
    process.stdout.write(serviceHelp(AGENT_SERVICE));
    process.exit(0);
  }
  logger = createLogger("agent", { level: config.logLevel, base: { node: config.nodeName } });
  const agent = await startAgent(config, logger);
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "stopping");
    agent.shutdown().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, "unclean shutdown");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
} catch (err) {
  if (!isSeccomposeError(err)) {
    logger.fatal({ err }, "agent failed to start");
    process.exit(1);
  }
  logger.fatal({ code: err.code }, err.message);
  process.exit(err.code === "SC_USAGE" ? 2 : 1);
}
