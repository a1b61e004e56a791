/**
 * The small HTTP endpoint every seccompose service exposes to Kubernetes and Prometheus:
 * `/healthz` (the process answers), `/readyz` (the service can do its work) and `/metrics`.
 */
import { createServer } from "node:http";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import { Registry, collectDefaultMetrics } from "prom-client";
import { SeccomposeError } from "../errors.ts";

export interface Readiness {
  ready: boolean;
  /** Why the service is not ready, one reason per line in the /readyz body. */
  reasons: string[];
}

export interface ProbeServerOptions {
  /** 0 picks a free port (tests). */
  port: number;
  /** Default: all interfaces, as probes and scrapes come from outside the pod. */
  host?: string;
  readiness: () => Readiness;
  registry: Registry;
  logger: Logger;
}

export interface ProbeServer {
  readonly port: number;
  close(): Promise<void>;
}

/** A registry of its own (not prom-client's global one), with the Node.js process metrics. */
export function createMetricsRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return registry;
}

async function route(req: IncomingMessage, res: ServerResponse, opts: ProbeServerOptions): Promise<void> {
  const path = new URL(req.url ?? "/", "http://localhost").pathname;
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain" }).end("method not allowed\n");
    return;
  }
  switch (path) {
    case "/healthz":
      res.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
      return;
    case "/readyz": {
      const { ready, reasons } = opts.readiness();
      res
        .writeHead(ready ? 200 : 503, { "content-type": "text/plain" })
        .end(ready ? "ready\n" : `not ready:\n${reasons.join("\n")}\n`);
      return;
    }
    case "/metrics": {
      const text = await opts.registry.metrics();
      res.writeHead(200, { "content-type": opts.registry.contentType }).end(text);
      return;
    }
    default:
      res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
  }
}

export async function startProbeServer(opts: ProbeServerOptions): Promise<ProbeServer> {
  const server = createServer((req, res) => {
    route(req, res, opts).catch((err: unknown) => {
      opts.logger.error({ url: req.url, err }, "HTTP request failed");
      if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
      res.end("internal error\n");
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err) =>
      reject(
        new SeccomposeError(
          "SC_CONFIG_INVALID",
          `cannot listen for HTTP on ${opts.host ?? "*"}:${opts.port} (httpPort): ${err.message}`,
          { cause: err },
        ),
      ),
    );
    server.listen(opts.port, opts.host, resolve);
  });
  const { port } = server.address() as AddressInfo;
  opts.logger.info({ port }, "HTTP probes and metrics listening");
  return {
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
