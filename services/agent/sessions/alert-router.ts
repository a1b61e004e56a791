/**
 * Where each syscall alert goes: the alert's container is resolved to its pod and workload
 * container through the pod directory (cached per container until pods or sessions change), and
 * every running session that targets it records the call, with its argument tuple when the
 * session records arguments of that syscall. An alert of a container the directory does not know
 * yet is held (bounded) and routed again when pods change, or given up after holdUnknownMs.
 */
import type { Logger } from "pino";
import type { WorkloadKey } from "../../../lib/contracts/types.ts";
import { argTupleFromRaw, type ArgConditionSpec } from "../../../lib/profile/arg-specs.ts";
import { rawArgsFromAlert } from "../edge/alert-args.ts";
import type { ContainerMeta, NoveltyTracker } from "../edge/novelty-tracker.ts";
import type { FalcoSyscallAlert } from "../intake/alert.ts";
import type { TargetMatcher } from "../pods/targets.ts";
import type { PodDirectory } from "../ports.ts";
import { HeldEvents } from "./held-events.ts";
import type { CoveredRoute, CoveredSession, LeftOutCoverage } from "./left-out-coverage.ts";

/** What routing needs of a session: which containers it targets, its argument specs, its tracker. */
export interface RoutedSession extends CoveredSession {
  matcher: TargetMatcher;
  /** Specs of the session's argument syscalls; empty when it records no arguments. */
  argSpecs: ReadonlyMap<string, readonly ArgConditionSpec[]>;
  tracker: NoveltyTracker;
}

/** Where a container's events go, cached per container until pods or sessions change. */
interface Route<S extends RoutedSession> extends CoveredRoute<S> {
  workload: WorkloadKey;
  meta: ContainerMeta;
}

export interface AlertRouterDeps {
  pods: Pick<PodDirectory, "byUid">;
  clock: () => number;
  logger: Logger;
  /** How long an alert of an unknown container is held. */
  holdUnknownMs: number;
  maxHeldEvents: number;
  coverage: LeftOutCoverage;
  /** An uncovered window opened (left-out-coverage.ts): the driver set should be raised. */
  onUncovered: () => void;
  /** Events given up or pushed out while held. */
  onUnattributed: (events: number) => void;
}

export class AlertRouter<S extends RoutedSession> {
  readonly #d: AlertRouterDeps;
  readonly #routes = new Map<string, Route<S>>();
  readonly #held: HeldEvents;
  #running: readonly S[] = [];

  constructor(deps: AlertRouterDeps) {
    this.#d = deps;
    this.#held = new HeldEvents(deps.maxHeldEvents);
  }

  get heldEvents(): number {
    return this.#held.size;
  }

  /** The running sessions, which the routes point to: the cache starts again. */
  setRunning(sessions: readonly S[]): void {
    this.#running = sessions;
    this.#routes.clear();
  }

  /** `heldAt` is set when the event was held before. */
  route(alert: FalcoSyscallAlert, heldAt?: number): void {
    const { containerId, podUid } = alert;
    // Host processes and anything outside a kubelet container cgroup.
    if (containerId === null || podUid === null) return;
    const route = this.#routes.get(containerId) ?? this.#resolve(podUid, containerId);
    if (route === undefined) {
      this.#d.onUnattributed(this.#held.push({ alert, heldAt: heldAt ?? this.#d.clock() }));
      return;
    }
    if (route.sessions.length === 0) return;
    const timeMs = Math.floor(Number(alert.timeNs) / 1e6);
    const coverage = this.#d.coverage;
    // Once per alert: nothing to check while the driver gets every syscall.
    if (coverage.leftOut.size > 0) coverage.check(route, timeMs, this.#d.onUncovered);
    for (const session of route.sessions) {
      let args: string[] | undefined;
      if (session.argSpecs.size > 0) {
        const spec = session.argSpecs.get(alert.syscall);
        if (spec !== undefined) {
          const raw = rawArgsFromAlert(alert.syscall, alert.args);
          args = raw === undefined ? undefined : (argTupleFromRaw(spec, raw) ?? undefined);
        }
      }
      session.tracker.record(containerId, route.workload, route.meta, alert.syscall, args, timeMs);
    }
  }

  /** Pods changed: routes are resolved again, and held events routed again with their hold time. */
  podsChanged(): void {
    this.#routes.clear();
    this.expireHeld(this.#d.clock());
    if (this.#held.size === 0) return;
    for (const { alert, heldAt } of this.#held.takeAll()) this.route(alert, heldAt);
  }

  /** Events held for holdUnknownMs are given up: their pod never appeared (or was gone already). */
  expireHeld(now: number): void {
    const expired = this.#held.expire(now, this.#d.holdUnknownMs);
    this.#d.onUnattributed(expired);
    if (expired > 0) {
      this.#d.logger.debug(
        { events: expired },
        "dropped events of containers whose pod did not appear in time",
      );
    }
  }

  #resolve(podUid: string, containerId: string): Route<S> | undefined {
    const pod = this.#d.pods.byUid(podUid);
    if (pod === undefined) return undefined;
    const container = Object.hasOwn(pod.containers, containerId) ? pod.containers[containerId] : undefined;
    if (container === undefined) return undefined;
    const route: Route<S> = {
      workload: { namespace: pod.namespace, kind: pod.owner.kind, name: pod.owner.name, container },
      meta: { pod: pod.name, podUid, containerId },
      sessions: this.#running.filter((s) => s.matcher(pod, container)),
      uncovered: [],
      coveredGen: -1,
    };
    this.#routes.set(containerId, route);
    return route;
  }
}
