/** Runs the real aggregator (services/aggregator/main.ts) as a separate process, for integration tests and benchmarks. */
import { fileURLToPath } from "node:url";
import { getFreePort } from "./nats.ts";
import { startServiceProcess, type ServiceProcess } from "./service-process.ts";

export const AGGREGATOR_MAIN = fileURLToPath(new URL("../../services/aggregator/main.ts", import.meta.url));

export interface AggregatorProcess extends ServiceProcess {
  readonly httpPort: number;
}

export async function startAggregatorProcess(opts: {
  natsUrls: string[];
  extraArgs?: string[];
  env?: NodeJS.ProcessEnv;
  /** Ready once the replica runs, even holding no partition (a standby); default: once consuming. */
  standby?: boolean;
}): Promise<AggregatorProcess> {
  const httpPort = await getFreePort();
  const args = [
    AGGREGATOR_MAIN,
    ...opts.natsUrls.flatMap((u) => ["--nats-url", u]),
    "--http-port",
    String(httpPort),
    "--replicas",
    "1",
    ...(opts.extraArgs ?? []),
  ];
  const { service } = await startServiceProcess(
    "aggregator",
    args,
    opts.env ?? {},
    (e) => e.event === (opts.standby === true ? "replica.running" : "aggregator.consuming"),
  );
  return Object.assign(service, { httpPort });
}
