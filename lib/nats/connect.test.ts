import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isSeccomposeError } from "../errors.ts";
import { eventually } from "../../test/helpers/eventually.ts";
import { getFreePort, startNatsServer } from "../../test/helpers/nats.ts";
import type { NatsServerHandle } from "../../test/helpers/nats.ts";
import { connectNats, trackConnected } from "./connect.ts";
import { ensureNodeIdentity } from "./node-identity.ts";

const logger = pino({ level: "silent" });

describe("connectNats", () => {
  let server: NatsServerHandle;

  let dir: string;
  let enrolledSeed: string;
  let strangerSeed: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "sc-connect-"));
    enrolledSeed = join(dir, "enrolled", "nats-user.nk");
    strangerSeed = join(dir, "stranger", "nats-user.nk");
    const { publicKey } = await ensureNodeIdentity(enrolledSeed);
    await ensureNodeIdentity(strangerSeed);
    server = await startNatsServer({
      jetstream: false,
      config: `authorization { users: [ { user: agent, password: "s3cret" }, { nkey: "${publicKey}" } ] }`,
    });
  });

  afterAll(async () => {
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("logs in with an enrolled NKey seed file, and a seed the server does not know is refused", async () => {
    const nc = await connectNats({ servers: [server.url], nkeyFile: enrolledSeed, name: "test" }, logger);
    expect(nc.isClosed()).toBe(false);
    await nc.close();
    const err = await connectNats(
      { servers: [server.url], nkeyFile: strangerSeed, name: "test" },
      logger,
    ).catch((e: unknown) => e);
    expect(isSeccomposeError(err, "SC_NATS_PERMISSION")).toBe(true);
    expect((err as Error).message).toContain("NKey seed file");
  });

  it("refuses an NKey seed file given with other credentials, and a missing one, before connecting", async () => {
    const both = await connectNats(
      { servers: [server.url], nkeyFile: enrolledSeed, user: "agent", pass: "s3cret", name: "test" },
      logger,
    ).catch((e: unknown) => e);
    expect(isSeccomposeError(both, "SC_CONFIG_INVALID")).toBe(true);
    expect((both as Error).message).toMatch(/drop the other NATS credentials given with it \(user, pass\)/);
    const missing = await connectNats(
      { servers: [server.url], nkeyFile: join(dir, "none", "nats-user.nk"), name: "test" },
      logger,
    ).catch((e: unknown) => e);
    expect(isSeccomposeError(missing, "SC_NODE_IDENTITY")).toBe(true);
  });

  it("connects with user and password", async () => {
    const nc = await connectNats(
      { servers: [server.url], user: "agent", pass: "s3cret", name: "test" },
      logger,
    );
    expect(nc.isClosed()).toBe(false);
    await nc.close();
  });

  it("reports rejected credentials as SC_NATS_PERMISSION", async () => {
    const err = await connectNats(
      { servers: [server.url], user: "agent", pass: "wrong", name: "test" },
      logger,
    ).catch((e: unknown) => e);
    expect(isSeccomposeError(err, "SC_NATS_PERMISSION")).toBe(true);
    expect((err as Error).message).toContain("rejected the credentials");
  });

  it("reports a server nobody listens on as SC_NATS_UNREACHABLE naming the address", async () => {
    const url = `nats://127.0.0.1:${await getFreePort()}`;
    const err = await connectNats({ servers: [url], name: "test" }, logger).catch((e: unknown) => e);
    expect(isSeccomposeError(err, "SC_NATS_UNREACHABLE")).toBe(true);
    expect((err as Error).message).toContain(url);
  });

  it("reports a creds file that cannot be read as SC_FILE_READ", async () => {
    const err = await connectNats(
      { servers: [server.url], credsFile: "/nonexistent/agent.creds", name: "test" },
      logger,
    ).catch((e: unknown) => e);
    expect(isSeccomposeError(err, "SC_FILE_READ")).toBe(true);
    expect((err as Error).message).toContain("/nonexistent/agent.creds");
  });

  it("tracks whether the connection is up across a server restart", async () => {
    const nc = await connectNats(
      { servers: [server.url], user: "agent", pass: "s3cret", name: "test" },
      logger,
    );
    const connected = trackConnected(nc);
    expect(connected()).toBe(true);
    await server.kill();
    await eventually("the connection to be seen as lost", () => !connected());
    await server.restart();
    await eventually("the connection to be seen as back", connected);
    await nc.close();
    expect(connected()).toBe(false);
  });
});
