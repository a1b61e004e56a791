/**
 * Watches: every change is kept, so a watch from a resource version replays what came after it; a
 * watch without one starts with the current objects as ADDED events. Objects that start or stop
 * matching a watch's selectors are added to or deleted from it, as by the real server.
 */
import type { ServerResponse } from "node:http";
import type { Route } from "./routing.ts";
import type { ResourceType } from "./resource-types.ts";
import { matchesSelectors, selectorsOf } from "./selectors.ts";
import type { Selectors } from "./selectors.ts";
import type { Change } from "./store.ts";
import type { FakeObject } from "./types.ts";

interface Watcher {
  type: ResourceType;
  namespace: string | undefined;
  selectors: Selectors;
  res: ServerResponse;
}

/** The objects a new watch without a resource version starts with. */
export type CurrentObjects = (
  type: ResourceType,
  namespace: string | undefined,
  selectors: Selectors,
) => FakeObject[];

export class Watches {
  readonly #changes: Change[] = [];
  readonly #watchers = new Set<Watcher>();

  /** Keeps a change and sends it to the open watches it concerns. */
  publish(change: Change): void {
    this.#changes.push(change);
    for (const watcher of this.#watchers) deliver(watcher, change);
  }

  /** Answers a watch request with a stream of events, until the client leaves or `timeoutSeconds` pass. */
  start(route: Route, query: URLSearchParams, res: ServerResponse, current: CurrentObjects): void {
    const selectors = selectorsOf(route.type, query);
    const watcher: Watcher = { type: route.type, namespace: route.namespace, selectors, res };
    res.writeHead(200, { "Content-Type": "application/json", "Cache-Control": "no-cache, private" });
    res.flushHeaders();
    const since = query.get("resourceVersion");
    if (since === null || since === "" || since === "0") {
      // No resource version: the current state as ADDED events, then changes (as the real server).
      for (const obj of current(route.type, route.namespace, selectors)) writeEvent(res, "ADDED", obj);
    } else {
      const from = Number(since);
      for (const change of this.#changes) if (change.rv > from) deliver(watcher, change);
    }
    this.#watchers.add(watcher);
    const timeoutSeconds = Number(query.get("timeoutSeconds") ?? "0");
    const timer =
      timeoutSeconds > 0
        ? setTimeout(() => {
            this.#watchers.delete(watcher);
            res.end();
          }, timeoutSeconds * 1000)
        : undefined;
    res.on("close", () => {
      if (timer) clearTimeout(timer);
      this.#watchers.delete(watcher);
    });
  }

  /** Ends every open watch; clients resume from their resource version. */
  endAll(): void {
    for (const watcher of this.#watchers) watcher.res.end();
    this.#watchers.clear();
  }
}

function deliver(watcher: Watcher, change: Change): void {
  if (watcher.type !== change.type) return;
  const ns = change.object.metadata?.namespace;
  if (watcher.namespace !== undefined && ns !== watcher.namespace) return;
  const now = matchesSelectors(change.object, watcher.selectors);
  const before = change.previous !== undefined && matchesSelectors(change.previous, watcher.selectors);
  let type: string | undefined;
  if (change.eventType === "ADDED") type = now ? "ADDED" : undefined;
  else if (change.eventType === "DELETED") type = now ? "DELETED" : undefined;
  // An object that starts or stops matching the selectors is added to or deleted from the watch.
  else if (now) type = before ? "MODIFIED" : "ADDED";
  else if (before) type = "DELETED";
  if (type) writeEvent(watcher.res, type, change.object);
}

function writeEvent(res: ServerResponse, type: string, object: FakeObject): void {
  res.write(`${JSON.stringify({ type, object })}\n`);
}
