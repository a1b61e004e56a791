/**
 * pods/portforward: the v4.channel.k8s.io protocol over a WebSocket (by `ws`), bridged to a local
 * TCP port a test names with forwardPort(). Each forwarded port has a data channel (0) and an error
 * channel (1), and every message starts with its channel's byte.
 */
import type { IncomingMessage } from "node:http";
import { connect } from "node:net";
import type { Duplex } from "node:stream";
import { WebSocketServer } from "ws";
import type { WebSocket } from "ws";
import type { AccessRules } from "./access.ts";
import { parseRoute } from "./routing.ts";
import type { ObjectStore } from "./store.ts";
import type { FakeObject, RecordedRequest } from "./types.ts";

const PROTOCOL = "v4.channel.k8s.io";
const DATA = 0;
const ERROR = 1;

export interface PortForwardContext {
  store: ObjectStore;
  access: AccessRules;
  token: string;
  requests: RecordedRequest[];
}

export class PortForwards {
  readonly #ctx: PortForwardContext;
  /** `namespace/pod/port` → local TCP port. */
  readonly #targets = new Map<string, number>();
  readonly #server = new WebSocketServer({ noServer: true, handleProtocols: () => PROTOCOL });

  constructor(ctx: PortForwardContext) {
    this.#ctx = ctx;
  }

  forward(namespace: string, pod: string, podPort: number, targetPort: number): void {
    this.#targets.set(`${namespace}/${pod}/${podPort}`, targetPort);
  }

  /** Takes an HTTP upgrade request: a port-forward to an existing pod, or refused as the real server would. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const { store, access, token, requests } = this.#ctx;
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const refuse = (code: number, reason: string): void => {
      socket.end(`HTTP/1.1 ${code} ${reason}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
    };
    requests.push({
      method: req.method ?? "GET",
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      body: undefined,
      contentType: "",
    });
    if (req.headers.authorization !== `Bearer ${token}`) return refuse(401, "Unauthorized");
    const route = parseRoute(store.types, url.pathname);
    if (!route || route.subresource !== "portforward" || route.type.kind !== "Pod") {
      return refuse(404, "Not Found");
    }
    if (access.isForbidden("create", route)) return refuse(403, "Forbidden");
    const pod = store.find(route.type, route.namespace, route.name!);
    if (!pod) return refuse(404, "Not Found");
    const port = Number(url.searchParams.get("ports"));
    const offered = String(req.headers["sec-websocket-protocol"] ?? "")
      .split(",")
      .map((p) => p.trim());
    if (!Number.isInteger(port) || port <= 0 || port > 65535 || !offered.includes(PROTOCOL)) {
      return refuse(400, "Bad Request");
    }
    const target = this.#targets.get(`${route.namespace}/${route.name}/${port}`);
    this.#server.handleUpgrade(req, socket, head, (ws) => bridge(ws, pod, port, target));
  }

  /** Ends every forwarded connection. */
  closeAll(): void {
    for (const ws of this.#server.clients) ws.terminate();
    this.#server.close();
  }
}

/** Connects the WebSocket to 127.0.0.1:`target`, or reports on the error channel that nothing listens. */
function bridge(ws: WebSocket, pod: FakeObject, port: number, target: number | undefined): void {
  const portBytes = Buffer.alloc(2);
  portBytes.writeUInt16LE(port);
  // The first message of each channel names the port.
  ws.send(Buffer.concat([Buffer.from([DATA]), portBytes]));
  ws.send(Buffer.concat([Buffer.from([ERROR]), portBytes]));
  const failure = (detail: string): void => {
    const message = `an error occurred forwarding ${port} -> ${port}: error forwarding port ${port} to pod ${pod.metadata!.uid}: ${detail}`;
    ws.send(Buffer.concat([Buffer.from([ERROR]), Buffer.from(message)]));
    ws.close(1000);
  };
  // A client that breaks the protocol is disconnected by `ws`, which then emits close.
  ws.on("error", () => {});
  if (target === undefined) return failure(`failed to connect to localhost:${port}: connection refused`);
  const upstream = connect(target, "127.0.0.1");
  upstream.on("data", (chunk: Buffer) => ws.send(Buffer.concat([Buffer.from([DATA]), chunk])));
  upstream.on("error", (err) => failure(err.message));
  upstream.on("close", () => ws.close(1000));
  ws.on("message", (payload: Buffer) => {
    if (payload[0] === DATA && payload.length > 1) upstream.write(payload.subarray(1));
  });
  ws.on("close", () => upstream.end());
}
