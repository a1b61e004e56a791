import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isSeccomposeError } from "../../lib/errors.ts";
import { resolveAgentConfig } from "./config.ts";
import type { ResolvedAgentConfig } from "./config.ts";

async function resolve(argv: string[], env: NodeJS.ProcessEnv): Promise<ResolvedAgentConfig> {
  const config = await resolveAgentConfig(argv, env);
  if (config === "help") throw new Error("asked for help");
  return config;
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "seccompose-agent-config-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function rejection(argv: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  try {
    await resolveAgentConfig(argv, env);
  } catch (err) {
    if (isSeccomposeError(err)) return `${err.code}: ${err.message}`;
    throw err;
  }
  throw new Error("config was accepted");
}

describe("agent configuration", () => {
  it("fills every default from flags alone", async () => {
    const config = await resolve(["--nats-url", "nats://127.0.0.1:4222", "--node-name", "node-a"], {});
    expect(config).toMatchObject({
      nodeName: "node-a",
      nats: { servers: ["nats://127.0.0.1:4222"] },
      stateDir: "/var/lib/seccompose",
      httpPort: 8080,
      falco: { binary: "/usr/bin/falco", alertFormat: "compact", configDir: "/var/lib/seccompose/falco" },
      batch: { flushIntervalMs: 2000 },
    });
  });

  it("lets the environment override the file and flags override the environment", async () => {
    const file = join(dir, "agent.yaml");
    await writeFile(
      file,
      "nodeName: from-file\nstateDir: /file\nhttpPort: 1\nnats: {servers: ['nats://file:4222']}\nfalco: {binary: /file/falco}\n",
    );
    const config = await resolve(["-c", file, "--http-port", "3"], {
      NODE_NAME: "from-env",
      SECCOMPOSE_HTTP_PORT: "2",
      SECCOMPOSE_NATS_URL: "nats://env-a:4222, nats://env-b:4222",
    });
    expect(config.nodeName).toBe("from-env");
    expect(config.stateDir).toBe("/file");
    expect(config.httpPort).toBe(3);
    expect(config.nats.servers).toEqual(["nats://env-a:4222", "nats://env-b:4222"]);
    expect(config.falco.binary).toBe("/file/falco");
    expect(config.falco.configDir).toBe("/file/falco");
  });

  it("says where NATS must be given when it is missing", async () => {
    expect(await rejection(["--node-name", "n"])).toMatch(
      /SC_CONFIG_INVALID: no NATS server given: use --nats-url/,
    );
  });

  it("names the field and rule of an invalid value", async () => {
    expect(await rejection(["--nats-url", "nats://x:1", "--alert-format", "xml"])).toMatch(
      /SC_CONFIG_INVALID: .*\/falco\/alertFormat must be one of \["json","compact"\]/,
    );
    expect(await rejection(["--nats-url", "nats://x:1", "--node-name", "Bad_Name"])).toMatch(
      /\/nodeName must match pattern/,
    );
    expect(await rejection(["--nats-url", "nats://x:1", "--http-port", "eighty"])).toMatch(
      /flag --http-port must be an integer/,
    );
  });

  it("takes a hot-syscall split from the config file and refuses a hot syscall the main Falco needs", async () => {
    const good = join(dir, "hot.yaml");
    await writeFile(good, "falco:\n  hotSyscalls:\n    enabled: true\n    syscalls: [read, write]\n");
    const config = await resolve(["--config", good, "--nats-url", "nats://x:1"], {});
    expect(config.falco.hotSyscalls).toEqual({ enabled: true, syscalls: ["read", "write"] });
    const bad = join(dir, "hot-bad.yaml");
    await writeFile(bad, "falco:\n  hotSyscalls:\n    enabled: true\n    syscalls: [read, openat, clone]\n");
    expect(await rejection(["--config", bad, "--nats-url", "nats://x:1"])).toMatch(
      /SC_CONFIG_INVALID: falco.hotSyscalls.syscalls in .*hot-bad.yaml names openat, clone: the probe's openat/,
    );
    await writeFile(bad, "falco:\n  hotSyscalls:\n    enabled: true\n    syscalls: [read, reed]\n");
    expect(await rejection(["--config", bad, "--nats-url", "nats://x:1"])).toMatch(
      /SC_CONFIG_INVALID: falco.hotSyscalls.syscalls in .*hot-bad.yaml names reed, not a syscall on SCMP_ARCH_/,
    );
    // The environment (the DaemonSet's way) replaces the file's setting.
    const base = ["--config", good, "--nats-url", "nats://x:1"];
    const on = await resolve(base, { SECCOMPOSE_FALCO_HOT_SYSCALLS: "on" });
    expect(on.falco.hotSyscalls).toEqual({ enabled: true });
    const off = await resolve(base, { SECCOMPOSE_FALCO_HOT_SYSCALLS: "off" });
    expect(off.falco.hotSyscalls).toEqual({ enabled: false });
    const listed = await resolve(base, { SECCOMPOSE_FALCO_HOT_SYSCALLS: "read, futex" });
    expect(listed.falco.hotSyscalls).toEqual({ enabled: true, syscalls: ["read", "futex"] });
    expect(await rejection(base, { SECCOMPOSE_FALCO_HOT_SYSCALLS: "read,clone" })).toMatch(
      /SC_CONFIG_INVALID: SECCOMPOSE_FALCO_HOT_SYSCALLS names clone: the probe's openat/,
    );
    expect(await rejection([...base, "--falco-hot-syscalls", "read,clone"])).toMatch(
      /SC_CONFIG_INVALID: --falco-hot-syscalls names clone: the probe's openat/,
    );
  });

  it("takes the node's NKey seed file from the environment, and refuses it beside a password", async () => {
    const config = await resolve(["--nats-url", "nats://x:1", "--node-name", "n"], {
      SECCOMPOSE_NATS_NKEY_FILE: "/var/lib/seccompose-identity/nats-user.nk",
    });
    expect(config.nats).toEqual({
      servers: ["nats://x:1"],
      nkeyFile: "/var/lib/seccompose-identity/nats-user.nk",
    });
    expect(
      await rejection(["--nats-url", "nats://x:1", "--nats-user", "agent-n"], {
        SECCOMPOSE_NATS_NKEY_FILE: "/seed.nk",
        SECCOMPOSE_NATS_PASS_FILE: "/pass",
      }),
    ).toMatch(/SC_CONFIG_INVALID: the NKey seed file .* cannot be combined with nats\.user, nats\.passFile/);
  });

  it("reports an unreadable or malformed config file with its path", async () => {
    expect(await rejection(["-c", join(dir, "missing.yaml")])).toMatch(
      /SC_FILE_READ: cannot read config file .*missing\.yaml/,
    );
    const bad = join(dir, "bad.yaml");
    await writeFile(bad, "nats: [unclosed");
    expect(await rejection(["-c", bad])).toMatch(/bad\.yaml is not valid YAML/);
    await writeFile(bad, "nodeName: n\nsurprise: 1\nnats: {servers: ['nats://x:1']}\n");
    expect(await rejection(["-c", bad])).toMatch(/has unknown field "surprise"/);
  });
});
