import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "./cli.ts";

let dir: string;
let env: NodeJS.ProcessEnv;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "seccompose-config-test-"));
  env = { ...process.env, SECCOMPOSE_CONFIG: join(dir, "config.yaml") };
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("seccompose config", () => {
  it("sets, gets, lists and unsets defaults in the user's config file", async () => {
    expect((await runCli(["config", "set", "natsUrl", "nats://127.0.0.1:4222"], { env })).code).toBe(0);
    expect((await runCli(["config", "set", "timeoutSeconds", "90"], { env })).code).toBe(0);
    expect((await runCli(["config", "get", "natsUrl"], { env })).stdout).toBe("nats://127.0.0.1:4222\n");
    expect(JSON.parse((await runCli(["config", "list", "--output", "json"], { env })).stdout)).toEqual({
      natsUrl: "nats://127.0.0.1:4222",
      timeoutSeconds: 90,
    });
    expect(await readFile(env.SECCOMPOSE_CONFIG!, "utf8")).toMatch(/timeoutSeconds: 90/);
    expect((await runCli(["config", "unset", "timeoutSeconds"], { env })).code).toBe(0);
    const missing = await runCli(["config", "get", "timeoutSeconds"], { env });
    expect(missing.code).toBe(1);
    expect(missing.stdout).toBe("");
  });

  it("rejects a value its schema does not allow, naming the key and the rule", async () => {
    const res = await runCli(["config", "set", "baseline", "docker"], { env });
    expect(res.code).toBe(3);
    expect(res.stderr).toMatch(/\[SC_CONFIG_INVALID\]: .*\/baseline must be one of \["runc","crun","none"\]/);
  });

  it("rejects an unknown key and lists the known ones", async () => {
    const res = await runCli(["config", "set", "colour", "blue"], { env });
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/unknown config key "colour"; known keys: baseline, context/);
  });

  it("reports a config file that is not valid YAML with its path", async () => {
    const path = join(dir, "broken.yaml");
    await writeFile(path, "natsUrl: [unclosed\n");
    const res = await runCli(["config", "list"], { env: { ...env, SECCOMPOSE_CONFIG: path } });
    expect(res.code).toBe(3);
    expect(res.stderr).toMatch(/broken\.yaml is not valid YAML/);
  });
});
