import { connect as connectTcp } from "node:net";
import { connect } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorCodes } from "../errors.ts";
import {
  makeNamespace,
  makePod,
  makeService,
  startFakeApiServer,
} from "../../test/helpers/fake-apiserver.ts";
import type { FakeApiServer } from "../../test/helpers/fake-apiserver.ts";
import { startNatsServer } from "../../test/helpers/nats.ts";
import type { NatsServerHandle } from "../../test/helpers/nats.ts";
import { loadKube } from "./client.ts";
import type { Kube } from "./client.ts";
import { forwardToService } from "./port-forward.ts";

const NATS_LABELS = { "app.kubernetes.io/name": "nats" };
const natsPod = (name: string, ready: boolean) =>
  makePod({
    name,
    namespace: "seccompose",
    node: "node-a",
    labels: NATS_LABELS,
    owner: { kind: "StatefulSet", name: "nats" },
    containers: [{ name: "nats", ports: [{ name: "client", containerPort: 4222 }] }],
    ready,
  });

let fake: FakeApiServer;
let nats: NatsServerHandle;
let kube: Kube;

beforeAll(async () => {
  nats = await startNatsServer({ jetstream: false });
  fake = await startFakeApiServer({
    objects: [
      makeNamespace("seccompose"),
      makeService({
        name: "nats",
        namespace: "seccompose",
        selector: NATS_LABELS,
        ports: [
          { name: "client", port: 4222, targetPort: "client" },
          { name: "monitor", port: 8222 },
        ],
      }),
      makeService({
        name: "headless",
        namespace: "seccompose",
        selector: { app: "nothing" },
        ports: [{ port: 4222 }],
      }),
      natsPod("nats-0", false),
      natsPod("nats-1", true),
      natsPod("nats-2", true),
    ],
  });
  fake.forwardPort("seccompose", "nats-1", 4222, nats.port);
  kube = loadKube({ kubeconfig: fake.kubeconfigPath });
});

afterAll(async () => {
  await fake.stop();
  await nats.stop();
});

describe("forwardToService", () => {
  it("tunnels NATS connections through the API server to the first ready pod behind the service", async () => {
    const forward = await forwardToService(kube, { namespace: "seccompose", service: "nats", port: 4222 });
    try {
      expect(forward.pod()).toBe("nats-1");
      expect(forward.targetPort).toBe(4222);
      expect(forward.localUrl).toBe(`nats://127.0.0.1:${forward.localPort}`);
      const nc = await connect({ servers: forward.localUrl, reconnect: false });
      try {
        const sub = nc.subscribe("sc.test.echo");
        void (async () => {
          for await (const m of sub) m.respond(new TextEncoder().encode(`echo ${m.string()}`));
        })();
        const reply = await nc.request("sc.test.echo", "through the tunnel", { timeout: 5000 });
        expect(reply.string()).toBe("echo through the tunnel");
        expect(nc.info?.server_name).toBe(nats.name);
      } finally {
        await nc.close();
      }
      expect(fake.requests.find((r) => r.path.endsWith("/portforward"))).toMatchObject({
        path: "/api/v1/namespaces/seccompose/pods/nats-1/portforward",
        query: { ports: "4222" },
      });
    } finally {
      await forward.close();
    }
  });

  it("reports the API server's error and closes the local connection when nothing listens on the pod port", async () => {
    const errors: Error[] = [];
    const forward = await forwardToService(kube, {
      namespace: "seccompose",
      service: "nats",
      port: 8222,
      onError: (err) => errors.push(err),
    });
    try {
      expect(forward.targetPort).toBe(8222);
      const socket = connectTcp(forward.localPort, "127.0.0.1");
      await new Promise<void>((resolve) => socket.on("close", () => resolve()));
      expect(errors[0]).toMatchObject({
        code: ErrorCodes.SC_K8S_UNREACHABLE,
        message: expect.stringMatching(
          /^Port-forward to pod seccompose\/nats-1 port 8222 failed: an error occurred forwarding 8222 -> 8222: .*connection refused/,
        ),
      });
    } finally {
      await forward.close();
    }
  });

  it("fails with SC_K8S_NOT_FOUND when no pod behind the service is ready", async () => {
    await expect(
      forwardToService(kube, { namespace: "seccompose", service: "headless", port: 4222 }),
    ).rejects.toMatchObject({
      code: ErrorCodes.SC_K8S_NOT_FOUND,
      message: "No ready pod behind service seccompose/headless (selector app=nothing: 0 pod(s), none ready)",
    });
  });

  it("fails with SC_K8S_NOT_FOUND naming the service's ports when the port is not one of them", async () => {
    await expect(
      forwardToService(kube, { namespace: "seccompose", service: "nats", port: 6222 }),
    ).rejects.toMatchObject({
      code: ErrorCodes.SC_K8S_NOT_FOUND,
      message: "Service seccompose/nats has no port 6222 (ports: 4222/client, 8222/monitor)",
    });
  });

  it("reports a refused port-forward as SC_K8S_FORBIDDEN", async () => {
    const restricted = await startFakeApiServer({
      objects: [
        makeNamespace("seccompose"),
        makeService({
          name: "nats",
          namespace: "seccompose",
          selector: NATS_LABELS,
          ports: [{ port: 4222 }],
        }),
        natsPod("nats-0", true),
      ],
    });
    restricted.forbid({ resource: "pods/portforward" });
    const errors: Error[] = [];
    const forward = await forwardToService(loadKube({ kubeconfig: restricted.kubeconfigPath }), {
      namespace: "seccompose",
      service: "nats",
      port: 4222,
      onError: (err) => errors.push(err),
    });
    try {
      const socket = connectTcp(forward.localPort, "127.0.0.1");
      await new Promise<void>((resolve) => socket.on("close", () => resolve()));
      expect(errors[0]).toMatchObject({
        code: ErrorCodes.SC_K8S_FORBIDDEN,
        message: expect.stringContaining(
          'Not allowed to create pods/portforward "nats-0" in namespace "seccompose"',
        ),
      });
    } finally {
      await forward.close();
      await restricted.stop();
    }
  });
});
