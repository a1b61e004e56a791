import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isSeccomposeError } from "../../lib/errors.ts";
import { loadAggregatorConfig } from "./config.ts";

async function rejection(promise: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await promise;
  } catch (err) {
    return err as Error & { code?: string };
  }
  throw new Error("was accepted");
}

describe("loadAggregatorConfig", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "sc-agg-config-"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("layers the file, then the environment, then flags", async () => {
    const file = join(dir, "aggregator.yaml");
    await writeFile(
      file,
      "nats:\n  servers: [nats://file:4222]\n  user: agg\nhttpPort: 9000\nstream:\n  maxAgeSeconds: 3600\n  maxBytes: 1000000\n",
    );
    const config = await loadAggregatorConfig(
      ["--config", file, "--stream-max-bytes=-1", "--http-port", "9100"],
      {
        SECCOMPOSE_NATS_URL: "nats://a:4222, nats://b:4222",
        SECCOMPOSE_NATS_PASS: "secret",
        SECCOMPOSE_HTTP_PORT: "9001",
        SECCOMPOSE_REPLICAS: "3",
      },
    );
    expect(config).toEqual({
      nats: { servers: ["nats://a:4222", "nats://b:4222"], user: "agg", pass: "secret" },
      httpPort: 9100,
      replicas: 3,
      stream: { maxAgeSeconds: 3600, maxBytes: -1 },
    });
  });

  it("takes several NATS URLs from repeated and comma-separated flags", async () => {
    const config = await loadAggregatorConfig(
      ["--nats-url", "nats://a:4222,nats://b:4222", "--nats-url", "nats://c:4222"],
      {},
    );
    expect(config).toEqual({ nats: { servers: ["nats://a:4222", "nats://b:4222", "nats://c:4222"] } });
  });

  it("takes the integrity limits from flags and the environment, and refuses a limit below 1", async () => {
    const config = await loadAggregatorConfig(
      ["--nats-url", "nats://a:4222", "--max-tuples-per-node", "5000", "--max-held-messages-per-node=8"],
      { SECCOMPOSE_MAX_WORKLOADS_PER_SESSION: "100" },
    );
    expect(config).toEqual({
      nats: { servers: ["nats://a:4222"] },
      limits: { maxTuplesPerNode: 5000, maxHeldMessagesPerNode: 8, maxWorkloadsPerSession: 100 },
    });
    const err = await rejection(
      loadAggregatorConfig(["--nats-url", "nats://a:4222", "--max-batches-per-node", "0"], {}),
    );
    expect(err.code).toBe("SC_CONFIG_INVALID");
    expect(err.message).toMatch(/maxBatchesPerNode/);
  });

  it("takes the pod ownership mode, kubeconfig and limits, and refuses an unknown mode", async () => {
    const config = await loadAggregatorConfig(
      ["--nats-url", "nats://a:4222", "--pod-ownership", "required", "--ownership-wait-ms", "1500"],
      {
        SECCOMPOSE_KUBECONFIG: "/etc/kube/config",
        SECCOMPOSE_MAX_OWNERSHIP_WAIT_EVENTS_PER_NODE: "500",
        SECCOMPOSE_MAX_ENDED_PODS: "20",
      },
    );
    expect(config).toEqual({
      nats: { servers: ["nats://a:4222"] },
      podOwnership: "required",
      kubeconfig: "/etc/kube/config",
      limits: { ownershipWaitMs: 1500, maxOwnershipWaitEventsPerNode: 500, maxEndedPods: 20 },
    });
    const err = await rejection(
      loadAggregatorConfig(["--nats-url", "nats://a:4222", "--pod-ownership", "sometimes"], {}),
    );
    expect(err.code).toBe("SC_CONFIG_INVALID");
    expect(err.message).toMatch(/podOwnership/);
  });

  it("reads the config file named by SECCOMPOSE_CONFIG_FILE, in JSON too", async () => {
    const file = join(dir, "aggregator.json");
    await writeFile(file, JSON.stringify({ nats: { servers: ["nats://x:4222"] }, kvValueMaxBytes: 65536 }));
    expect(await loadAggregatorConfig([], { SECCOMPOSE_CONFIG_FILE: file })).toEqual({
      nats: { servers: ["nats://x:4222"] },
      kvValueMaxBytes: 65536,
    });
  });

  it("names the setting that breaks the schema", async () => {
    const err = await rejection(loadAggregatorConfig(["--nats-url", "nats://x:4222", "--replicas", "7"], {}));
    expect(isSeccomposeError(err, "SC_CONFIG_INVALID")).toBe(true);
    expect(err.message).toBe(
      "invalid aggregatorConfig from configuration (flags): /replicas must be <= 5 (rule: maximum)",
    );
  });

  it("names the flag or variable whose value is not an integer", async () => {
    const err = await rejection(
      loadAggregatorConfig([], {
        SECCOMPOSE_NATS_URL: "nats://x:4222",
        SECCOMPOSE_CHECKPOINT_INTERVAL_MS: "1s",
      }),
    );
    expect(err.code).toBe("SC_CONFIG_INVALID");
    expect(err.message).toBe(
      'environment variable SECCOMPOSE_CHECKPOINT_INTERVAL_MS must be an integer, got "1s"',
    );
  });

  it("requires the NATS servers", async () => {
    const err = await rejection(loadAggregatorConfig([], {}));
    expect(err.message).toMatch(/from configuration \(defaults\): \(root\) is missing required field "nats"/);
  });

  it("rejects unknown flags as a usage error and answers --help", async () => {
    const err = await rejection(loadAggregatorConfig(["--nats-servers", "x"], {}));
    expect(err.code).toBe("SC_USAGE");
    expect(err.message).toMatch(/--nats-servers/);
    expect(await loadAggregatorConfig(["--help"], {})).toBe("help");
  });

  it("reports a config file that is not YAML with its path", async () => {
    const file = join(dir, "broken.yaml");
    await writeFile(file, "nats: [unclosed\n");
    const err = await rejection(loadAggregatorConfig(["--config", file], {}));
    expect(err.code).toBe("SC_CONFIG_INVALID");
    expect(err.message).toContain(`config file ${file} is not valid YAML`);
  });
});
