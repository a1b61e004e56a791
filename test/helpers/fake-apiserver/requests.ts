/**
 * The REST side of the server: authentication, discovery, and each verb on the object store, with
 * every request recorded for tests to inspect.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { parse as parseYaml } from "yaml";
import type { AccessRules } from "./access.ts";
import { ApiError, conflictError, statusBody } from "./api-errors.ts";
import { discoveryDocument } from "./discovery.ts";
import { asObject, clone } from "./json.ts";
import { patchObject } from "./patches.ts";
import { groupVersion } from "./resource-types.ts";
import { parseRoute, verbOf } from "./routing.ts";
import type { Route } from "./routing.ts";
import { selectorsOf } from "./selectors.ts";
import { serverSideApply } from "./server-side-apply.ts";
import type { ObjectStore } from "./store.ts";
import type { RecordedRequest } from "./types.ts";
import type { Watches } from "./watches.ts";

export interface ApiContext {
  store: ObjectStore;
  watches: Watches;
  access: AccessRules;
  token: string;
  requests: RecordedRequest[];
}

/** Answers one request; a failure becomes the real server's Status body. */
export function serveRequest(ctx: ApiContext, req: IncomingMessage, res: ServerResponse): void {
  handle(ctx, req, res).catch((err: unknown) => {
    if (res.headersSent) {
      res.end();
      return;
    }
    if (err instanceof ApiError)
      sendJson(res, err.code, statusBody(err.code, err.reason, err.message, err.details));
    else sendJson(res, 500, statusBody(500, "InternalError", String(err)));
  });
}

async function handle(ctx: ApiContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const { store } = ctx;
  const url = new URL(req.url ?? "/", "http://127.0.0.1");
  const raw = await readBody(req);
  const contentType = (req.headers["content-type"] ?? "").split(";")[0]!.trim();
  let body: unknown;
  const recorded: RecordedRequest = {
    method: req.method ?? "GET",
    path: url.pathname,
    query: Object.fromEntries(url.searchParams),
    body: undefined,
    contentType: raw.length > 0 ? contentType : "",
  };
  ctx.requests.push(recorded);
  if (raw.length > 0) {
    try {
      body = contentType.includes("yaml") ? parseYaml(raw) : JSON.parse(raw);
    } catch (err) {
      throw new ApiError(400, "BadRequest", `the request body is not valid: ${(err as Error).message}`);
    }
    recorded.body = body;
  }
  if (req.headers.authorization !== `Bearer ${ctx.token}`) {
    throw new ApiError(401, "Unauthorized", "Unauthorized");
  }
  const discovery = discoveryDocument(store.types.all, url.pathname);
  if (discovery !== undefined) return sendJson(res, 200, discovery);
  const route = parseRoute(store.types, url.pathname);
  if (!route) throw new ApiError(404, "NotFound", "the server could not find the requested resource");
  const query = url.searchParams;
  const watching = query.get("watch") === "true" || query.get("watch") === "1";
  const verb = verbOf(req.method ?? "GET", route, watching);
  ctx.access.check(verb, route);
  if (route.subresource === "portforward") {
    throw new ApiError(400, "BadRequest", "Upgrade request required");
  }
  if (route.subresource !== undefined && !route.type.subresources.includes(route.subresource)) {
    throw new ApiError(404, "NotFound", "the server could not find the requested resource");
  }
  const manager = query.get("fieldManager") ?? "fake-client";
  switch (verb) {
    case "watch":
      return ctx.watches.start(route, query, res, (type, namespace, selectors) =>
        store.list(type, namespace, selectors),
      );
    case "list": {
      const items = store.list(route.type, route.namespace, selectorsOf(route.type, query)).map((o) => {
        const item = clone(o);
        // Items of a typed list carry no apiVersion/kind in the real API.
        delete item.apiVersion;
        delete item.kind;
        return item;
      });
      return sendJson(res, 200, {
        kind: `${route.type.kind}List`,
        apiVersion: groupVersion(route.type),
        metadata: { resourceVersion: store.resourceVersion },
        items,
      });
    }
    case "get":
      return sendJson(res, 200, store.read(route));
    case "create": {
      const obj = asObject(body);
      if (!obj) throw new ApiError(400, "BadRequest", "the request body must be an object");
      const namespace = asObject(obj.metadata)?.namespace;
      if (route.namespace !== undefined && namespace !== undefined && namespace !== route.namespace) {
        throw new ApiError(
          400,
          "BadRequest",
          "the namespace of the provided object does not match the namespace sent on the request",
        );
      }
      return sendJson(res, 201, store.create(route, obj, manager));
    }
    case "update": {
      const current = store.read(route);
      const obj = asObject(body);
      if (!obj) throw new ApiError(400, "BadRequest", "the request body must be an object");
      checkResourceVersion(route, current.metadata!.resourceVersion, obj);
      return sendJson(res, 200, store.write(route, current, obj, manager));
    }
    case "patch": {
      if (contentType === "application/apply-patch+yaml") {
        if (route.subresource !== undefined) {
          throw new ApiError(415, "UnsupportedMediaType", "apply is supported on the main resource only");
        }
        const { code, object } = serverSideApply(store, route, body, query);
        return sendJson(res, code, object);
      }
      const current = store.read(route);
      const next = asObject(patchObject(contentType, current, body));
      if (!next) throw new ApiError(422, "Invalid", "the patch must produce an object");
      checkResourceVersion(route, current.metadata!.resourceVersion, asObject(body));
      return sendJson(res, 200, store.write(route, current, next, manager));
    }
    case "delete": {
      const current = store.read(route);
      store.delete(route.type, current);
      return sendJson(res, 200, current);
    }
  }
}

/** 409 when the body names a resource version other than the stored one. */
function checkResourceVersion(route: Route, stored: string | undefined, body: unknown): void {
  const rv = asObject(asObject(body)?.metadata)?.resourceVersion;
  if (rv !== undefined && rv !== stored) throw conflictError(route.type, route.name!);
}

function sendJson(res: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text) });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}
