#!/usr/bin/env node
/**
 * seccompose-aggregator: reads its configuration, serves probes and metrics, runs the aggregator
 * until SIGTERM/SIGINT (then stores a last checkpoint) or a fatal error (exit 1).
 */
import { createLogger } from "../../lib/logger.ts";
import { isSeccomposeError } from "../../lib/errors.ts";
import { startProbeServer } from "../../lib/http/probe-server.ts";
import { startAggregator } from "./aggregator.ts";
import type { RunningAggregator } from "./aggregator.ts";
import { serviceHelp } from "../../lib/service-config.ts";
import { AGGREGATOR_SERVICE, DEFAULT_HTTP_PORT, loadAggregatorConfig } from "./config.ts";
import { createMetrics } from "./metrics.ts";

async function main(): Promise<number> {
  let config;
  try {
    config = await loadAggregatorConfig(process.argv.slice(2), process.env);
  } catch (err) {
    if (!isSeccomposeError(err)) throw err;
    process.stderr.write(`seccompose-aggregator: ${err.code}: ${err.message}\n`);
    return 2;
  }
  if (config === "help") {
    process.stdout.write(serviceHelp(AGGREGATOR_SERVICE));
    return 0;
  }
  const logger = createLogger("aggregator", { level: config.logLevel ?? "info" });
  const metrics = createMetrics();
  let aggregator: RunningAggregator | undefined;
  const probes = await startProbeServer({
    port: config.httpPort ?? DEFAULT_HTTP_PORT,
    registry: metrics.registry,
    logger,
    readiness: () =>
      aggregator?.ready()
        ? { ready: true, reasons: [] }
        : { ready: false, reasons: ["not consuming stream SC_EVENTS (starting, stopping or failed)"] },
  });
  try {
    aggregator = await startAggregator({ config, logger, metrics });
  } catch (err) {
    logger.fatal({ err }, "aggregator could not start");
    await probes.close();
    return 1;
  }
  const running = aggregator;
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    process.once(signal, () => {
      logger.info({ signal }, "stopping");
      void running.stop();
    });
  }
  try {
    await running.done;
    return 0;
  } catch {
    return 1;
  } finally {
    await probes.close();
  }
}

process.exitCode = await main();
