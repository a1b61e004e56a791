import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isSeccomposeError } from "./errors.ts";
import { optionTable, readLayeredConfig, serviceHelp, setting } from "./service-config.ts";
import type { SchemaNode, ServiceSpec } from "./service-config.ts";

const SPEC: ServiceSpec = {
  name: "svc",
  description: "a test service",
  settings: [
    setting("nats.servers", "nats-url", "list", "NATS server URL"),
    setting("port", "port", "integer", "a port", { default: "80" }),
    setting("name", "name", "string", "a name", { env: ["SVC_NAME", "NAME"] }),
    setting("args", "arg", "repeated", "one argument", { env: [] }),
    setting("mode", "mode", "string", "on or off", { parse: (text) => ({ enabled: text === "on" }) }),
  ],
};

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "sc-service-config-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function layered(argv: string[], env: NodeJS.ProcessEnv = {}) {
  const result = await readLayeredConfig(SPEC, argv, env);
  if (result === "help") throw new Error("asked for help");
  return result;
}

async function refusal(argv: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  try {
    await readLayeredConfig(SPEC, argv, env);
  } catch (err) {
    if (isSeccomposeError(err)) return `${err.code}: ${err.message}`;
    throw err;
  }
  throw new Error("accepted");
}

describe("readLayeredConfig", () => {
  it("takes the file, then the environment, then flags, and says which gave something", async () => {
    const file = join(dir, "svc.yaml");
    await writeFile(file, "port: 1\nname: from-file\nnats: {servers: [nats://file:1]}\nkept: true\n");
    const result = await layered(["-c", file, "--port", "3"], {
      SECCOMPOSE_PORT: "2",
      NAME: "from-env",
      SECCOMPOSE_NATS_URL: "nats://a:1, nats://b:1",
    });
    expect(result.config).toEqual({
      port: 3,
      name: "from-env",
      nats: { servers: ["nats://a:1", "nats://b:1"] },
      kept: true,
    });
    expect(result.where).toBe(`${file} + environment + flags`);
    expect(result.origins).toEqual(
      new Map([
        ["port", "--port"],
        ["name", "NAME"],
        ["nats.servers", "SECCOMPOSE_NATS_URL"],
      ]),
    );
    expect(
      (await layered([], { SECCOMPOSE_CONFIG_FILE: file, SVC_NAME: "first", NAME: "second" })).config,
    ).toMatchObject({
      name: "first",
    });
  });

  it("splits lists at commas, keeps repeated values whole, and applies a setting's own parser", async () => {
    const result = await layered(
      ["--nats-url", "nats://a:1,nats://b:1", "--nats-url", "nats://c:1", "--arg", "-o", "--arg", "x=[a,b]"],
      { SECCOMPOSE_MODE: "on" },
    );
    expect(result.config).toEqual({
      nats: { servers: ["nats://a:1", "nats://b:1", "nats://c:1"] },
      args: ["-o", "x=[a,b]"],
      mode: { enabled: true },
    });
    expect((await layered([], {})).where).toBe("defaults");
    // A variable set to blanks is as good as unset.
    expect(await layered([], { SECCOMPOSE_PORT: "  ", SVC_NAME: "", NAME: "kept" })).toMatchObject({
      config: { name: "kept" },
      where: "environment",
    });
  });

  it("names the flag or variable whose value is not an integer, and refuses unknown flags as usage errors", async () => {
    expect(await refusal(["--port", "eighty"])).toBe(
      'SC_CONFIG_INVALID: flag --port must be an integer, got "eighty"',
    );
    expect(await refusal([], { SECCOMPOSE_PORT: "1s" })).toBe(
      'SC_CONFIG_INVALID: environment variable SECCOMPOSE_PORT must be an integer, got "1s"',
    );
    expect(await refusal(["--prot", "1"])).toMatch(
      /^SC_USAGE: unknown option '--prot'.*svc --help lists the options/,
    );
    expect(await refusal(["--port"])).toMatch(/^SC_USAGE: option '--port <value>' argument missing/);
  });

  it("answers --help, whose text lists every flag with its environment variable and default", async () => {
    expect(await readLayeredConfig(SPEC, ["--help"], {})).toBe("help");
    const help = serviceHelp(SPEC).replace(/\s+/g, " ");
    expect(help).toContain("--port <value> a port (env SECCOMPOSE_PORT; default 80)");
    expect(help).toContain("--name <value> a name (env SVC_NAME or NAME)");
    expect(help).toContain("--arg <value> one argument (no environment variable; repeatable)");
  });
});

describe("optionTable", () => {
  const schemas: Record<string, SchemaNode> = {
    "svc.schema.json": {
      properties: {
        nats: { $ref: "common.schema.json#/$defs/Nats" },
        port: { type: "integer" },
        name: { type: "string" },
        args: { type: "array" },
        mode: { type: "object", properties: { enabled: { type: "boolean" } } },
        fileOnly: { type: "object", properties: { limit: { type: "integer", description: "a | limit" } } },
      },
    },
    "common.schema.json": {
      $defs: {
        Nats: { type: "object", properties: { servers: { $ref: "#/$defs/Servers" } } },
        Servers: { type: "array" },
      },
    },
  };

  it("has a row per schema leaf, through $refs, with the setting's flag, variables and default", () => {
    const rows = optionTable(SPEC, schemas, "svc.schema.json").split("\n");
    expect(rows.slice(2)).toEqual([
      "| `nats.servers` | `--nats-url` | `SECCOMPOSE_NATS_URL` |  | NATS server URL |",
      "| `port` | `--port` | `SECCOMPOSE_PORT` | 80 | a port |",
      "| `name` | `--name` | `SVC_NAME`, `NAME` |  | a name |",
      "| `args` | `--arg` |  |  | one argument |",
      "| `mode` | `--mode` | `SECCOMPOSE_MODE` |  | on or off |",
      "| `fileOnly.limit` |  |  |  | a \\| limit |",
    ]);
  });

  it("refuses a setting the schema does not have", () => {
    const spec = {
      ...SPEC,
      settings: [...SPEC.settings, setting("nowhere.at.all", "nowhere", "string", "x")],
    };
    expect(() => optionTable(spec, schemas, "svc.schema.json")).toThrow(
      /settings outside the schema: nowhere.at.all/,
    );
  });
});
