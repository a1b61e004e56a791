/**
 * The probe that two Falcos of a swap both reported (falco-swap.ts). An overloaded Falco drops
 * events, probes too, so a single probe rarely comes back through both: new probes are made
 * until both saw the same one.
 */
import type { AwaitedConditions } from "./awaited-conditions.ts";
import { PROBE_REPEAT_MS, type CaptureProbes } from "./capture-probes.ts";
import type { FalcoRun } from "./falco-run.ts";

/** Both Falcos report a common probe within moments; this bounds a stuck one. */
export const CUTOVER_TIMEOUT_MS = 15_000;

export interface ProbeSearch {
  probes: Pick<CaptureProbes, "last" | "next" | "touch">;
  /** Woken whenever a run marks a probe. */
  conditions: AwaitedConditions;
  /** The Falcos whose marks (the probes each saw while holding) are compared. */
  runs: ReadonlyArray<Pick<FalcoRun, "marks" | "cutoverSeq">>;
  /** The swap is off (a Falco went): the search stops. */
  gone: () => boolean;
  /** When each probe made by the search was made (performance.now()). */
  touched: Map<number, number>;
}

/**
 * The first probe after `after` (else after every probe made so far) that all runs saw while
 * holding and that is `eligible`; until one came back, touches a new probe every
 * PROBE_REPEAT_MS, noting when in `touched`. Undefined after CUTOVER_TIMEOUT_MS or when `gone`.
 * With `cutover`, the runs start holding at the first of these probes they see.
 */
export async function commonProbe(
  search: ProbeSearch,
  options: { cutover?: boolean; after?: number; eligible?: (seq: number) => boolean },
): Promise<number | undefined> {
  const { probes, conditions, runs, gone, touched } = search;
  const first = (options.after ?? probes.last) + 1;
  if (options.cutover === true) for (const run of runs) run.cutoverSeq = first;
  const eligible = options.eligible ?? (() => true);
  const common = () => {
    const [head, ...rest] = runs;
    let found: number | undefined;
    for (const seq of head!.marks.keys()) {
      if (seq < first || (found !== undefined && seq > found) || !eligible(seq)) continue;
      if (rest.every((r) => r.marks.has(seq))) found = seq;
    }
    return found;
  };
  for (let tries = Math.ceil(CUTOVER_TIMEOUT_MS / PROBE_REPEAT_MS); tries > 0 && !gone(); tries--) {
    const found = common();
    if (found !== undefined) return found;
    const seq = probes.next();
    touched.set(seq, performance.now());
    await probes.touch(seq);
    if (await conditions.waitFor(() => common() !== undefined || gone(), PROBE_REPEAT_MS)) return common();
  }
  return undefined;
}
