/**
 * One session's state as `seccompose status` shows it: the desired state (KV), what each agent
 * reports about its node (sc.ctl.status) and what the aggregator merged (sc.agg.status).
 */
import type {
  AggregatorSessionStatus,
  AggregatorStatus,
  ControlReply,
  NodeSessionStatus,
  SessionRecord,
} from "../../lib/contracts/types.ts";
import { workloadId } from "../../lib/profile/workload-key.ts";
import { ago, table, terminalSafe } from "../output.ts";
import { describeTargets } from "./session-spec.ts";

export interface AgentView {
  node: string;
  /** The session's record names this node as a participant. */
  expected: boolean;
  answered: boolean;
  status?: NodeSessionStatus;
  error?: string;
}

export interface SessionView {
  session: SessionRecord;
  agents: AgentView[];
  /** Undefined when the aggregator did not answer or does not know the session yet. */
  aggregator?: AggregatorSessionStatus;
  /** Messages in SC_EVENTS the aggregator has not received yet (all sessions together). */
  lag?: number;
}

export function sessionView(
  session: SessionRecord,
  replies: readonly ControlReply[],
  aggregator: AggregatorStatus | undefined,
): SessionView {
  const expected = new Set(session.expectedNodes ?? []);
  const byNode = new Map<string, AgentView>();
  for (const reply of replies) {
    const status = reply.sessions?.find((s) => s.sessionId === session.id);
    if (status === undefined && !expected.has(reply.node) && reply.ok) continue;
    byNode.set(reply.node, {
      node: reply.node,
      expected: expected.has(reply.node),
      answered: true,
      ...(status !== undefined ? { status } : {}),
      ...(!reply.ok && reply.error ? { error: `${reply.error.code}: ${reply.error.message}` } : {}),
    });
  }
  for (const node of expected) {
    if (!byNode.has(node)) byNode.set(node, { node, expected: true, answered: false });
  }
  const agg = aggregator?.sessions.find((s) => s.session === session.id);
  return {
    session,
    agents: [...byNode.values()].sort((a, b) => a.node.localeCompare(b.node)),
    ...(agg !== undefined ? { aggregator: agg } : {}),
    ...(aggregator?.consumer !== undefined ? { lag: aggregator.consumer.numPending } : {}),
  };
}

/** The aggregator's verdict, or the session's desired state when the aggregator has none. */
export function overallState(view: SessionView): string {
  const agg = view.aggregator;
  if (agg !== undefined && agg.state !== "recording") return agg.state;
  return view.session.state;
}

export function renderSessionView(
  view: SessionView,
  aggregatorAnswered: boolean,
  now = Date.now(),
): string[] {
  const { session, aggregator: agg } = view;
  const lines = [
    `SESSION ${session.id}  ${session.mode}  ${overallState(view)}  created ${ago(session.createdAt, now)}`,
    `  targets: ${describeTargets(session.targets)}`,
  ];
  if (session.stopDeadline !== undefined && session.state !== "running") {
    lines.push(`  stop requested ${ago(session.stopRequestedAt, now)}, deadline ${session.stopDeadline}`);
  }
  if (agg !== undefined) {
    const participating = new Set([...(agg.expectedNodes ?? []), ...agg.nodes.map((n) => n.name)]).size;
    const parts = [
      agg.state,
      `${agg.nodesReporting} of ${participating} node(s) reporting`,
      `${agg.batchesMerged} batches, ${agg.eventsMerged} events merged`,
      ...(view.lag !== undefined ? [`lag ${view.lag}`] : []),
      `last event ${ago(agg.lastEventAt, now)}`,
    ];
    if (agg.lateBatches > 0) parts.push(`${agg.lateBatches} late batches`);
    lines.push(`  aggregator: ${parts.join(", ")}`);
    if (agg.missingNodes?.length && (agg.state === "partial" || session.state !== "running")) {
      lines.push(`  ${agg.state === "partial" ? "left out" : "waiting for"}: ${agg.missingNodes.join(", ")}`);
    }
  } else {
    lines.push(`  aggregator: ${aggregatorAnswered ? "has no data for this session yet" : "did not answer"}`);
  }
  const merged = new Map((agg?.nodes ?? []).map((n) => [n.name, n]));
  const nodes = [...new Set([...view.agents.map((a) => a.node), ...merged.keys()])].sort();
  if (nodes.length > 0) {
    const rows = nodes.map((node) => {
      const a = view.agents.find((x) => x.node === node);
      const m = merged.get(node);
      const agent =
        a === undefined || !a.answered
          ? "no answer"
          : a.error !== undefined
            ? "error"
            : (a.status?.state ?? "idle");
      return [
        node,
        agent,
        a?.status ? String(a.status.containers) : "-",
        a?.status ? String(a.status.batchesSent) : "-",
        a?.status ? String(a.status.eventsSeen) : "-",
        String(a?.status?.droppedEvents ?? m?.droppedEvents ?? 0),
        m ? String(m.batchesMerged) : "-",
        m ? (m.complete ? "yes" : m.finBatches !== undefined ? `${m.finBatches} announced` : "no") : "-",
      ];
    });
    lines.push(
      ...table(["NODE", "AGENT", "CONTAINERS", "SENT", "SEEN", "DROPPED", "MERGED", "COMPLETE"], rows).map(
        (l) => `  ${l}`,
      ),
    );
    for (const a of view.agents) if (a.error !== undefined) lines.push(`  ${a.node}: ${a.error}`);
  }
  if (agg !== undefined && agg.workloads.length > 0) {
    const rows = agg.workloads.map((w) => [
      workloadId(w.workload),
      String(w.syscalls),
      String(w.revision),
      w.converged ? `yes ${ago(w.convergedAt, now)}` : "no",
      w.frozen ? "yes" : "no",
      String(w.drifted ?? w.driftEvents),
    ]);
    lines.push(
      ...table(["WORKLOAD", "SYSCALLS", "REVISION", "CONVERGED", "FROZEN", "DRIFT"], rows).map(
        (l) => `  ${l}`,
      ),
    );
    for (const w of agg.workloads) {
      if ((w.drifted ?? 0) > 0) {
        lines.push(
          `  warning: ${workloadId(w.workload)} drifted: ${w.drifted} call(s) outside its frozen profile (seccompose drift ${session.id})`,
        );
      }
    }
  }
  // Node names, agents' errors and workload names come from the agents: no line may carry a control.
  return lines.map(terminalSafe);
}
