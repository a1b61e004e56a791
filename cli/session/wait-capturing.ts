/**
 * `seccompose start` returns only once every agent that started the session has a Falco that
 * captures. Falco captures about 1.35 s after it logs that it opened its event source, and the
 * agent starts Falco with the first session, so a workload started right after an early return
 * was not recorded at all (seen with the real Falco 0.44.1). An agent reports Falco `running`
 * only once its own probe syscall (services/agent/falco/capture-probes.ts) came back through Falco.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { setTimeout as sleep } from "node:timers/promises";
import { gather } from "../cluster/agents.ts";

/** Falco's start on a node: probes, BPF load, the 1.35 s until capture, with room for a slow node. */
export const CAPTURE_WAIT_MS = 45_000;
const POLL_MS = 250;

/** Waits until every node's Falco captures; returns one line per node that did not in time. */
export async function waitCapturing(
  nc: NatsConnection,
  nodes: readonly string[],
  timeoutMs = CAPTURE_WAIT_MS,
): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  let waiting = new Map<string, string>(nodes.map((node) => [node, "did not answer"]));
  while (waiting.size > 0) {
    const replies = await gather(nc, "health", {}, { expected: nodes.length, maxWaitMs: 2_000 });
    const next = new Map<string, string>();
    for (const node of waiting.keys()) {
      const falco = replies.find((reply) => reply.node === node)?.health?.falco;
      if (falco?.state === "running") continue;
      next.set(
        node,
        falco === undefined
          ? "did not answer"
          : `Falco is ${falco.state}${falco.lastExit !== undefined ? ` (${falco.lastExit})` : ""}`,
      );
    }
    waiting = next;
    if (waiting.size === 0 || Date.now() >= deadline) break;
    await sleep(POLL_MS);
  }
  return [...waiting].map(
    ([node, why]) =>
      `agent on node ${node} is not capturing after ${Math.round(timeoutMs / 1000)} s: ${why}; its recording will be partial`,
  );
}
