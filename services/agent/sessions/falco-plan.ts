/**
 * What Falco is asked for on behalf of the running sessions: their records, the known pods no
 * session targets (left out of the rule with excludeNonTargetPods), and the syscalls the adaptive
 * set leaves out of the driver (falco/syscall-set-policy.ts). Applying it keeps the left-out
 * coverage (left-out-coverage.ts) in step with the driver set before, during and after a swap.
 */
import type { Logger } from "pino";
import type { SessionRecord } from "../../../lib/contracts/types.ts";
import { falcoEventToSyscall } from "../../../lib/falco/event-names.ts";
import type { ArgConditionSpec } from "../../../lib/profile/arg-specs.ts";
import { workloadId } from "../../../lib/profile/workload-key.ts";
import { FALCO_STATE_SYSCALLS, PROBE_SYSCALL } from "../falco/config-writer.ts";
import {
  SyscallSetPolicy,
  type AdaptiveState,
  type AdaptiveSyscallOptions,
  type SyscallTarget,
} from "../falco/syscall-set-policy.ts";
import { compileTargets, type TargetMatcher } from "../pods/targets.ts";
import type { FalcoControl, FalcoTargets, PodDirectory } from "../ports.ts";
import type { CoveredSession, LeftOutCoverage } from "./left-out-coverage.ts";

/** What the plan needs of a running session. */
export interface PlannedSession extends CoveredSession {
  record: SessionRecord;
  matcher: TargetMatcher;
  /** Its argument syscalls are never left out of the driver set. */
  argSpecs: ReadonlyMap<string, readonly ArgConditionSpec[]>;
}

export interface FalcoPlanDeps {
  falco: FalcoControl;
  pods: PodDirectory;
  clock: () => number;
  logger: Logger;
  coverage: LeftOutCoverage;
  /** The adaptive syscall set; off without it. */
  adaptiveSyscalls?: AdaptiveSyscallOptions;
  /** Leave known pods no session targets out of Falco's rule (falco.excludeNonTargetPods). */
  excludeNonTargetPods?: boolean;
}

export class FalcoPlan {
  readonly #deps: FalcoPlanDeps;
  readonly #policy: SyscallSetPolicy | undefined;
  #stale = false;

  constructor(deps: FalcoPlanDeps) {
    this.#deps = deps;
    this.#policy =
      deps.adaptiveSyscalls === undefined ? undefined : new SyscallSetPolicy(deps.adaptiveSyscalls);
  }

  /** What Falco runs with may no longer be the plan: the last apply failed, or pods changed. */
  get stale(): boolean {
    return this.#stale;
  }

  /** Pods changed; true when that changes the plan (which pods are left out, which workloads the set covers). */
  podsChanged(): boolean {
    if (this.#deps.excludeNonTargetPods !== true && this.#policy === undefined) return false;
    this.#stale = true;
    return true;
  }

  /** The adaptive set's state, as health reports it. */
  adaptiveState(now: number): AdaptiveState | "disabled" {
    return this.#policy === undefined ? "disabled" : this.#policy.state(now);
  }

  /** Applies the plan for these running sessions (sorted by id) to Falco. */
  async apply(running: readonly PlannedSession[]): Promise<void> {
    const { falco, coverage } = this.#deps;
    this.#stale = true;
    const targets: FalcoTargets = {
      sessions: running.map((s) => s.record),
      excludePodUids: this.#deps.excludeNonTargetPods === true ? this.#nonTargetPods(running) : [],
      excludeSyscalls: this.#policy === undefined ? [] : this.#decideSyscalls(this.#policy, running),
    };
    const before = falco.status().driverSet;
    const lowering = targets.excludeSyscalls!.some((name) => !coverage.leftOut.has(name));
    // Until the swap is over, alerts may come from a Falco with either set.
    coverage.set(new Set([...coverage.leftOut, ...targets.excludeSyscalls!]));
    try {
      await falco.apply(targets);
    } finally {
      const after = falco.status().driverSet;
      coverage.set(new Set(after.excluded));
      if (this.#policy !== undefined && lowering) {
        if (after.swapFailures > before.swapFailures) this.#policy.swapFailed(this.#deps.clock());
        else if (after.swaps > before.swaps) this.#policy.swapSucceeded();
      }
      coverage.closeCovered(running, this.#deps.clock());
    }
    this.#stale = false;
  }

  /**
   * Pods the agent knows that no running session can target, whatever their containers: the
   * rule leaves them out. Pods it does not know yet stay in, so a new target pod is recorded
   * from its first syscall even before the agent hears of it.
   */
  #nonTargetPods(running: readonly PlannedSession[]): string[] {
    const podLevel = running.map((s) => compileTargets({ ...s.record.targets, containers: [] }));
    return this.#deps.pods
      .pods()
      .filter((pod) => !podLevel.some((matches) => matches(pod, "")))
      .map((pod) => pod.uid)
      .sort();
  }

  /** The adaptive set's decision for the current targets (kernel names, sorted). */
  #decideSyscalls(policy: SyscallSetPolicy, running: readonly PlannedSession[]): string[] {
    const now = this.#deps.clock();
    const protectedSyscalls = new Set<string>([
      falcoKernelName(PROBE_SYSCALL),
      ...FALCO_STATE_SYSCALLS,
      ...running.flatMap((s) => [...s.argSpecs.keys()]),
    ]);
    const current = new Set(this.#deps.falco.status().driverSet.excluded);
    const decision = policy.decide(now, this.#syscallTargets(running), current, protectedSyscalls);
    if (decision.change !== "keep") {
      this.#deps.logger.info(
        { change: decision.change, reason: decision.reason, leftOut: [...decision.exclude].sort() },
        decision.change === "raise" ? "raising Falco's driver set" : "lowering Falco's driver set",
      );
    }
    return [...decision.exclude].sort();
  }

  /** Every (session, workload container) a running session records among the pods on the node. */
  #syscallTargets(running: readonly PlannedSession[]): SyscallTarget[] {
    const targets = new Map<string, SyscallTarget>();
    const none = new Map<string, number>();
    for (const pod of this.#deps.pods.pods()) {
      for (const container of Object.values(pod.containers)) {
        const key = { namespace: pod.namespace, kind: pod.owner.kind, name: pod.owner.name, container };
        const id = workloadId(key);
        for (const session of running) {
          if (!session.matcher(pod, container)) continue;
          const seen = this.#deps.coverage.seenOf(session, true).get(id) ?? none;
          targets.set(`${session.record.id}\n${id}`, { id: `${session.record.id}\n${id}`, seen });
        }
      }
    }
    return [...targets.values()];
  }
}

function falcoKernelName(event: string): string {
  const known = falcoEventToSyscall(event);
  return known.kind === "syscall" ? known.name : event;
}
