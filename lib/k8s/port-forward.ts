/**
 * Reaching a cluster service from the CLI without exposing it: a listener on 127.0.0.1 whose
 * every connection is tunnelled to a ready pod behind the service through the API server's
 * pods/portforward WebSocket, as `kubectl port-forward svc/nats 4222` does. The CLI uses it to
 * talk to NATS when no NATS URL reachable from outside the cluster is configured.
 */
import { createServer } from "node:net";
import type { AddressInfo, Server, Socket } from "node:net";
import { Writable } from "node:stream";
import { PortForward } from "@kubernetes/client-node";
import type { V1Pod, V1Service, V1ServicePort } from "@kubernetes/client-node";
import { ErrorCodes, SeccomposeError } from "../errors.ts";
import { selectorString } from "./agents.ts";
import { kubeError } from "./client.ts";
import type { Kube } from "./client.ts";

export interface ServiceForwardOptions {
  namespace: string;
  service: string;
  /** The service port (not the pod's target port). */
  port: number;
  /** Local port; default: a free one. */
  localPort?: number;
  /** Scheme of localUrl; default "nats". */
  scheme?: string;
  /** Failures of individual tunnelled connections (the listener keeps running). */
  onError?: (err: Error) => void;
}

export interface ServiceForward {
  /** `<scheme>://127.0.0.1:<localPort>` */
  localUrl: string;
  localPort: number;
  /** The pod connections currently go to. */
  pod(): string;
  /** The pod port the service port maps to. */
  targetPort: number;
  /** Stops listening and ends every tunnelled connection. */
  close(): Promise<void>;
}

/** The part of the client's WebSocket the forwarder needs. */
interface Tunnel {
  close(): void;
  on(event: "close" | "error", listener: () => void): unknown;
}

/**
 * Resolves the service port to a pod port, picks a ready pod behind the service and starts the
 * local listener. Throws SC_K8S_NOT_FOUND when the service, the port or a ready pod is missing.
 */
export async function forwardToService(kube: Kube, opts: ServiceForwardOptions): Promise<ServiceForward> {
  const { namespace } = opts;
  const service = await kube.call({ verb: "get", resource: "services", namespace, name: opts.service }, () =>
    kube.core.readNamespacedService({ namespace, name: opts.service }),
  );
  const servicePort = (service.spec?.ports ?? []).find((p) => p.port === opts.port);
  if (!servicePort) {
    const ports = (service.spec?.ports ?? []).map((p) => (p.name ? `${p.port}/${p.name}` : String(p.port)));
    throw new SeccomposeError(
      ErrorCodes.SC_K8S_NOT_FOUND,
      `Service ${namespace}/${opts.service} has no port ${opts.port} (ports: ${ports.join(", ") || "none"})`,
    );
  }
  let pod = await readyPodOf(kube, service);
  const targetPort = targetPortOf(servicePort, pod);
  const forwarder = new PortForward(kube.config);
  const sockets = new Set<Socket>();
  const tunnels = new Set<Tunnel>();
  let stale = false;
  const report = (err: Error): void => {
    if (opts.onError) opts.onError(err);
  };

  const tunnel = async (socket: Socket): Promise<void> => {
    if (stale) {
      pod = await readyPodOf(kube, service);
      stale = false;
    }
    const podName = pod.metadata!.name!;
    const errors = new Writable({
      write(chunk: Buffer, _encoding, done) {
        // The channel's first frame carries only the port number, which arrives here empty.
        if (chunk.length === 0) return done();
        // The API server reports a failed connection to the pod port on the error channel.
        report(
          new SeccomposeError(
            ErrorCodes.SC_K8S_UNREACHABLE,
            `Port-forward to pod ${namespace}/${podName} port ${targetPort} failed: ${chunk.toString("utf8")}`,
          ),
        );
        socket.destroy();
        done();
      },
    });
    let result: Awaited<ReturnType<PortForward["portForward"]>>;
    try {
      result = await forwarder.portForward(namespace, podName, [targetPort], socket, errors, socket);
    } catch (err) {
      stale = true;
      throw kubeError(
        websocketFailure(err),
        { verb: "create", resource: "pods/portforward", namespace, name: podName },
        kube.server,
      );
    }
    if (typeof result === "function") return;
    const ws: Tunnel = result;
    tunnels.add(ws);
    ws.on("close", () => {
      tunnels.delete(ws);
      socket.end();
    });
    ws.on("error", () => socket.destroy());
    socket.on("close", () => ws.close());
  };

  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
    tunnel(socket).catch((err: unknown) => {
      socket.destroy();
      report(err as Error);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err) =>
      reject(
        new SeccomposeError(
          ErrorCodes.SC_USAGE,
          `Cannot listen on 127.0.0.1:${opts.localPort ?? 0} for the port-forward: ${err.message}`,
          { cause: err },
        ),
      ),
    );
    server.listen(opts.localPort ?? 0, "127.0.0.1", () => resolve());
  });
  const localPort = (server.address() as AddressInfo).port;
  return {
    localUrl: `${opts.scheme ?? "nats"}://127.0.0.1:${localPort}`,
    localPort,
    pod: () => pod.metadata!.name!,
    targetPort,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const ws of tunnels) ws.close();
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}

/** The first ready, running, not terminating pod behind the service, by name. */
async function readyPodOf(kube: Kube, service: V1Service): Promise<V1Pod> {
  const namespace = service.metadata?.namespace ?? "default";
  const name = service.metadata?.name ?? "";
  const selector = service.spec?.selector;
  if (!selector || Object.keys(selector).length === 0) {
    throw new SeccomposeError(
      ErrorCodes.SC_K8S_NOT_FOUND,
      `Service ${namespace}/${name} has no selector, so there is no pod to forward to`,
    );
  }
  const labelSelector = selectorString({ matchLabels: selector });
  const list = await kube.call({ verb: "list", resource: "pods", namespace }, () =>
    kube.core.listNamespacedPod({ namespace, labelSelector }),
  );
  const ready = list.items
    .filter(
      (p) =>
        p.status?.phase === "Running" &&
        !p.metadata?.deletionTimestamp &&
        (p.status.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True"),
    )
    .sort((a, b) => (a.metadata?.name ?? "").localeCompare(b.metadata?.name ?? ""));
  const first = ready[0];
  if (!first) {
    throw new SeccomposeError(
      ErrorCodes.SC_K8S_NOT_FOUND,
      `No ready pod behind service ${namespace}/${name} (selector ${labelSelector}: ${list.items.length} pod(s), none ready)`,
    );
  }
  return first;
}

/** The pod port a service port sends to: a number, or a named container port of the pod. */
function targetPortOf(servicePort: V1ServicePort, pod: V1Pod): number {
  const target = servicePort.targetPort ?? servicePort.port;
  if (typeof target === "number") return target;
  if (/^\d+$/.test(target)) return Number(target);
  for (const container of pod.spec?.containers ?? []) {
    const named = (container.ports ?? []).find((p) => p.name === target);
    if (named) return named.containerPort;
  }
  throw new SeccomposeError(
    ErrorCodes.SC_K8S_NOT_FOUND,
    `Pod ${pod.metadata?.namespace}/${pod.metadata?.name} has no container port named "${target}" (the target of service port ${servicePort.port})`,
  );
}

/**
 * The WebSocket library rejects with an ErrorEvent rather than an Error, and reports a refused
 * upgrade only in its message; this gives kubeError the HTTP status to classify.
 */
function websocketFailure(err: unknown): Error {
  const message = (err as { message?: unknown } | null)?.message;
  const text = typeof message === "string" && message !== "" ? message : String(err);
  const cause = (err as { error?: unknown } | null)?.error ?? err;
  const status = /Unexpected server response: (\d{3})/.exec(text);
  return Object.assign(new Error(text, { cause }), status ? { statusCode: Number(status[1]) } : {});
}
