import { chmod, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clusterSettings, type ClusterFlags } from "../../cli/cluster/options.ts";
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

describe("secrets in the user config", () => {
  it("keeps the file readable by its owner only and never prints a password", async () => {
    const home = join(dir, "xdg");
    const own = { ...process.env, SECCOMPOSE_CONFIG: undefined, XDG_CONFIG_HOME: home };
    const set = await runCli(["config", "set", "natsPassword", "s3cret-pw"], { env: own });
    expect(set.code).toBe(0);
    expect(set.stderr).toMatch(/natsPasswordFile or natsCreds/);
    const path = join(home, "seccompose", "config.yaml");
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect((await stat(join(home, "seccompose"))).mode & 0o777).toBe(0o700);
    expect((await runCli(["config", "set", "natsUser", "alice"], { env: own })).code).toBe(0);
    expect((await stat(path)).mode & 0o777).toBe(0o600);

    const list = await runCli(["config", "list"], { env: own });
    expect(list.stdout).toBe("natsPassword=(set, not shown)\nnatsUser=alice\n");
    const json = await runCli(["config", "list", "--output", "json"], { env: own });
    expect(JSON.parse(json.stdout)).toEqual({ natsPassword: "(set, not shown)", natsUser: "alice" });
    const get = await runCli(["config", "get", "natsPassword"], { env: own });
    expect(get.stdout).toBe("(set, not shown)\n");
    for (const out of [list, json, get]) expect(out.stdout + out.stderr).not.toContain("s3cret-pw");
  });

  it("warns about a file that holds a password and others can read, written before it was 0600", async () => {
    const path = join(dir, "old-config.yaml");
    await writeFile(path, "natsPassword: old-pw\n", { mode: 0o644 });
    await chmod(path, 0o644);
    const res = await runCli(["config", "list"], { env: { ...env, SECCOMPOSE_CONFIG: path } });
    expect(res.code).toBe(0);
    expect(res.stderr).toContain(
      `${path} holds a password and is readable by others (mode 0644): run chmod 600`,
    );
    await chmod(path, 0o600);
    expect((await runCli(["config", "list"], { env: { ...env, SECCOMPOSE_CONFIG: path } })).stderr).toBe("");
  });

  it("reads the NATS password from a file: flag, then environment, then config", async () => {
    const file = (name: string, text: string) => writeFile(join(dir, name), text).then(() => join(dir, name));
    const fromConfig = await file("pw-config", "from-config\n");
    const fromEnv = await file("pw-env", "from-env\n");
    const fromFlag = await file("pw-flag", "from-flag\r\nsecond line ignored\n");
    const configPath = join(dir, "pw.yaml");
    await writeFile(configPath, `natsPasswordFile: ${fromConfig}\n`);
    const saved = process.env.SECCOMPOSE_CONFIG;
    process.env.SECCOMPOSE_CONFIG = configPath;
    try {
      const at = (flags: ClusterFlags, env: NodeJS.ProcessEnv) =>
        clusterSettings(flags, env).then((s) => s.nats.password);
      expect(await at({}, {})).toBe("from-config");
      expect(await at({}, { SECCOMPOSE_NATS_PASSWORD_FILE: fromEnv })).toBe("from-env");
      expect(await at({ natsPasswordFile: fromFlag }, { SECCOMPOSE_NATS_PASSWORD_FILE: fromEnv })).toBe(
        "from-flag",
      );
      await expect(at({ natsPasswordFile: join(dir, "missing") }, {})).rejects.toMatchObject({
        code: "SC_FILE_READ",
      });
    } finally {
      process.env.SECCOMPOSE_CONFIG = saved;
    }
  });
});
