/**
 * The one door to the Kubernetes API: loads a kubeconfig (or the in-cluster service account),
 * builds the typed clients, and turns every failure into a SeccomposeError that says which
 * server, verb and resource were involved, so no caller shows a raw HTTP dump to the user.
 */
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import {
  ApiException,
  AppsV1Api,
  BatchV1Api,
  CoreV1Api,
  KubeConfig,
  KubernetesObjectApi,
} from "@kubernetes/client-node";
import type { RequestContext } from "@kubernetes/client-node";
import { ErrorCodes, SeccomposeError } from "../errors.ts";

export interface LoadKubeOptions {
  /** Path of a kubeconfig file; default: $KUBECONFIG, ~/.kube/config, then the in-cluster service account. */
  kubeconfig?: string;
  /** Context to use instead of the kubeconfig's current context. */
  context?: string;
  /** Deadline of each API request (watches excepted); default 30 s. */
  requestTimeoutMs?: number;
}

/** What an API call is about, for error messages: `list pods in namespace "shop"`. */
export interface ApiAction {
  /** Kubernetes verb: get, list, watch, create, update, patch, delete. */
  verb: string;
  /** Plural resource, with subresource if any: "pods", "pods/status", "daemonsets". */
  resource: string;
  namespace?: string;
  name?: string;
}

export interface Kube {
  readonly config: KubeConfig;
  /** API server URL of the current context. */
  readonly server: string;
  readonly context: string;
  /** The context's default namespace ("default" when it sets none). */
  readonly namespace: string;
  readonly core: CoreV1Api;
  readonly apps: AppsV1Api;
  readonly batch: BatchV1Api;
  /** Kind-agnostic client (server-side apply, delete of arbitrary manifests). */
  readonly objects: KubernetesObjectApi;
  /** Runs one API request, rethrowing any failure as a SeccomposeError about `action`. */
  call<T>(action: ApiAction, request: () => Promise<T>): Promise<T>;
}

const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

/**
 * Request deadlines without touching the generated clients: every request is authenticated
 * through the KubeConfig, so that is where the abort signal is attached. Watches build their own
 * request with their own signal and are not affected.
 */
class DeadlineKubeConfig extends KubeConfig {
  requestTimeoutMs = DEFAULT_REQUEST_TIMEOUT_MS;

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    await super.applySecurityAuthentication(context);
    context.setSignal(AbortSignal.timeout(this.requestTimeoutMs));
  }
}

/** Loads the configuration and builds the clients; throws SC_K8S_CONFIG when there is none or it is unusable. */
export function loadKube(opts: LoadKubeOptions = {}): Kube {
  const config = new DeadlineKubeConfig();
  if (opts.requestTimeoutMs !== undefined) config.requestTimeoutMs = opts.requestTimeoutMs;
  const source = opts.kubeconfig ?? process.env.KUBECONFIG?.split(":").find((f) => f !== "");
  try {
    if (opts.kubeconfig !== undefined) config.loadFromFile(opts.kubeconfig);
    else if (source !== undefined || existsSync(join(homedir(), ".kube", "config"))) config.loadFromDefault();
    else if (process.env.KUBERNETES_SERVICE_HOST) config.loadFromCluster();
    else {
      throw new SeccomposeError(
        ErrorCodes.SC_K8S_CONFIG,
        "No Kubernetes configuration found: $KUBECONFIG is unset, ~/.kube/config does not exist and this is not a pod; pass --kubeconfig",
      );
    }
  } catch (err) {
    if (err instanceof SeccomposeError) throw err;
    const where = opts.kubeconfig ?? source ?? "~/.kube/config";
    throw new SeccomposeError(
      ErrorCodes.SC_K8S_CONFIG,
      `Cannot load the kubeconfig ${where}: ${(err as Error).message}`,
      { cause: err },
    );
  }
  if (opts.context !== undefined) {
    if (!config.getContextObject(opts.context)) {
      const known = config.getContexts().map((c) => c.name);
      throw new SeccomposeError(
        ErrorCodes.SC_K8S_CONFIG,
        `Context "${opts.context}" is not in the kubeconfig (contexts: ${known.join(", ") || "none"})`,
      );
    }
    config.setCurrentContext(opts.context);
  }
  const context = config.getCurrentContext();
  if (!context) {
    throw new SeccomposeError(
      ErrorCodes.SC_K8S_CONFIG,
      `The kubeconfig sets no current context; pass --context (contexts: ${
        config
          .getContexts()
          .map((c) => c.name)
          .join(", ") || "none"
      })`,
    );
  }
  const cluster = config.getCurrentCluster();
  if (!cluster) {
    throw new SeccomposeError(
      ErrorCodes.SC_K8S_CONFIG,
      `The kubeconfig context "${context}" names no cluster that the kubeconfig defines`,
    );
  }
  if (cluster.server.startsWith("http:") && !cluster.skipTLSVerify) {
    // The client refuses plain HTTP otherwise, with a message that does not say which cluster.
    throw new SeccomposeError(
      ErrorCodes.SC_K8S_CONFIG,
      `Cluster "${cluster.name}" uses plain HTTP (${cluster.server}); set insecure-skip-tls-verify: true for it or use https`,
    );
  }
  const server = cluster.server;
  const namespace = config.getContextObject(context)?.namespace ?? "default";
  return {
    config,
    server,
    context,
    namespace,
    core: config.makeApiClient(CoreV1Api),
    apps: config.makeApiClient(AppsV1Api),
    batch: config.makeApiClient(BatchV1Api),
    objects: KubernetesObjectApi.makeApiClient(config),
    async call<T>(action: ApiAction, request: () => Promise<T>): Promise<T> {
      try {
        return await request();
      } catch (err) {
        throw kubeError(err, action, server);
      }
    },
  };
}

/** HTTP status of a failed API request (ApiException or a failed watch), if it got an answer. */
export function httpStatusOf(err: unknown): number | undefined {
  if (err instanceof ApiException) return err.code;
  const statusCode = (err as { statusCode?: unknown } | null)?.statusCode;
  return typeof statusCode === "number" ? statusCode : undefined;
}

/** Converts a failure of an API request into a SeccomposeError naming the server, verb and resource. */
export function kubeError(err: unknown, action: ApiAction, server: string): SeccomposeError {
  if (err instanceof SeccomposeError) return err;
  const what = describe(action);
  const status = httpStatusOf(err);
  const body = err instanceof ApiException ? statusBodyOf(err.body) : undefined;
  const serverMessage = body?.message;
  const details = { server, ...action, ...(status !== undefined ? { status } : {}), reason: body?.reason };
  if (rawUnknownKind(err, status)) {
    return new SeccomposeError(
      ErrorCodes.SC_K8S_NOT_FOUND,
      `Cannot ${what}: the API server at ${server} does not serve that kind; is its CustomResourceDefinition installed?`,
      { cause: err, details: { ...details, unknownKind: true } },
    );
  }
  if (status === undefined) {
    return new SeccomposeError(
      ErrorCodes.SC_K8S_UNREACHABLE,
      `Cannot reach the Kubernetes API server at ${server} to ${what}: ${networkReason(err)}`,
      { cause: err, details },
    );
  }
  const suffix = serverMessage ? `: ${serverMessage}` : "";
  switch (status) {
    case 401:
      return new SeccomposeError(
        ErrorCodes.SC_K8S_FORBIDDEN,
        `The Kubernetes API server at ${server} rejected the credentials (401 Unauthorized) when trying to ${what}; check the kubeconfig's user`,
        { cause: err, details },
      );
    case 403:
      return new SeccomposeError(
        ErrorCodes.SC_K8S_FORBIDDEN,
        `Not allowed to ${what} (403 Forbidden)${suffix}`,
        { cause: err, details },
      );
    case 404:
      return new SeccomposeError(ErrorCodes.SC_K8S_NOT_FOUND, `Cannot ${what}: not found${suffix}`, {
        cause: err,
        details,
      });
    case 409:
      return new SeccomposeError(ErrorCodes.SC_K8S_CONFLICT, `Cannot ${what}: conflict${suffix}`, {
        cause: err,
        details,
      });
    default:
      return new SeccomposeError(
        ErrorCodes.SC_K8S_REQUEST_FAILED,
        `Cannot ${what}: the API server at ${server} answered HTTP ${status}${suffix}`,
        { cause: err, details },
      );
  }
}

function describe(action: ApiAction): string {
  const target = action.name !== undefined ? `${action.resource} "${action.name}"` : action.resource;
  const scope = action.namespace !== undefined ? ` in namespace "${action.namespace}"` : "";
  return `${action.verb} ${target}${scope}`;
}

function statusBodyOf(body: unknown): { message?: string; reason?: string } | undefined {
  let parsed = body;
  if (typeof body === "string") {
    try {
      parsed = JSON.parse(body);
    } catch {
      return body.trim() !== "" ? { message: body.trim() } : undefined;
    }
  }
  if (typeof parsed !== "object" || parsed === null) return undefined;
  const { message, reason } = parsed as { message?: unknown; reason?: unknown };
  return {
    ...(typeof message === "string" ? { message } : {}),
    ...(typeof reason === "string" ? { reason } : {}),
  };
}

/** Whether the failure is the server not serving the kind at all (no such group/version, or kind not in it). */
export function isUnknownKind(err: unknown): boolean {
  if (err instanceof SeccomposeError)
    return (err.details as { unknownKind?: boolean } | undefined)?.unknownKind === true;
  return rawUnknownKind(err, httpStatusOf(err));
}

/**
 * The kind-agnostic client looks kinds up in discovery first: an unknown kind of a served
 * group/version is "Unrecognized API version and kind", an unserved group/version a 404 on discovery.
 */
function rawUnknownKind(err: unknown, status: number | undefined): boolean {
  if (!(err instanceof Error)) return false;
  if (/Unrecognized API version and kind/.test(err.message)) return true;
  return status === 404 && /^Failed to fetch resource metadata for/.test(err.message);
}

/** The network-level reason of a failed request: ECONNREFUSED, a DNS failure, a timeout. */
function networkReason(err: unknown): string {
  if (err instanceof Error && (err.name === "TimeoutError" || err.name === "AbortError")) {
    return "no answer before the request deadline";
  }
  let current: unknown = err;
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string") return `${code} (${current.message})`;
    if (current.cause === undefined) break;
    current = current.cause;
  }
  return current instanceof Error ? current.message : String(err);
}
