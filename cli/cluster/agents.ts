/**
 * Talking to every agent at once (scatter-gather on sc.ctl.*) and telling which agents are missing
 * or unhealthy: the expected agents come from the agent DaemonSet, from `--expect-agents`, or,
 * failing both, from whoever answers. Which node answered is known from the reply's subject, which
 * only that node's NATS user may publish to (deploy/nats-permissions.json).
 */
import { randomBytes } from "node:crypto";
import type { NatsConnection } from "@nats-io/transport-node";
import type { AgentHealth, ControlReply } from "../../lib/contracts/types.ts";
import { isValid } from "../../lib/contracts/validators.ts";
import { ErrorCodes, SeccomposeError, isSeccomposeError } from "../../lib/errors.ts";
import { agentDaemonSetStatus, type AgentDaemonSetStatus } from "../../lib/k8s/agents.ts";
import { toSeccomposeError } from "../../lib/nats/errors.ts";
import { CONTROL_SUBJECTS, nodeControlSubject, replySubjectsOf, subjectToken } from "../../lib/subjects.ts";
import { warn } from "../output.ts";
import type { ClusterContext } from "./connection.ts";
import { isNoResponders, isRequestTimeout } from "./request-errors.ts";
import { listItems } from "../../lib/list-items.ts";

export const AGENT_DAEMONSET = "seccompose-agent";
/** How long a scatter-gather waits for agents that have not answered yet. */
export const DEFAULT_GATHER_MS = 3000;

export type ControlOp = keyof typeof CONTROL_SUBJECTS;

/** Who should answer: named nodes, or only a count (`--expect-agents N`), or nobody known. */
export interface AgentExpectation {
  source: "daemonset" | "flag" | "answers";
  /** Node names, when known. */
  nodes: string[];
  count: number;
  daemonSet?: AgentDaemonSetStatus;
  /** Why no better source was used, for the user. */
  note?: string;
}

export function newRequestId(): string {
  return randomBytes(8).toString("hex");
}

/** What came back for one request: valid replies by node, and replies refused as forged. */
interface Gathered {
  replies: ControlReply[];
  /** Replies whose body named another node than their subject, one line each. */
  forged: string[];
}

/**
 * Publishes `request` on `subject` and collects the replies the agents publish on
 * `sc.reply.<token>.<node>`. The node is taken from the subject, which only that node's NATS user
 * may publish to; a body naming another node is refused. Messages with headers or a reply subject
 * are the server's doing (a JetStream API response to a request that named this subject as its
 * reply, a push consumer's delivery), never an agent's reply, which has neither.
 * Ends when `expected` nodes answered or after `maxWaitMs`; `noResponders` when nobody subscribes
 * to `subject` at all.
 */
async function collectReplies(
  nc: NatsConnection,
  subject: string,
  body: Record<string, unknown>,
  opts: { expected?: number; maxWaitMs: number },
): Promise<Gathered & { noResponders: boolean }> {
  const requestId = newRequestId();
  const replyToken = randomBytes(16).toString("hex");
  const replies = new Map<string, ControlReply>();
  const forged: string[] = [];
  let finish!: () => void;
  const done = new Promise<void>((resolve) => (finish = resolve));
  const sub = nc.subscribe(replySubjectsOf(replyToken), {
    callback: (err, m) => {
      if (err) return;
      if (m.headers !== undefined || m.reply) return;
      const token = m.subject.slice(m.subject.lastIndexOf(".") + 1);
      let value: unknown;
      try {
        value = m.json();
      } catch {
        return;
      }
      if (!isValid("controlReply", value)) return;
      const reply = value as ControlReply;
      if (reply.requestId !== requestId && reply.requestId !== "") return;
      if (subjectToken(reply.node) !== token) {
        forged.push(`ignored a reply on ${m.subject} that claims to come from node "${reply.node}"`);
        return;
      }
      if (!replies.has(reply.node)) replies.set(reply.node, reply);
      if (opts.expected !== undefined && opts.expected > 0 && replies.size >= opts.expected) finish();
    },
  });
  const timer = setTimeout(finish, opts.maxWaitMs);
  let noResponders = false;
  let failure: unknown;
  try {
    // Subscribed before the request goes out, so no reply can be missed.
    await nc.flush();
    // The NATS reply subject only detects "nobody listens"; agents cannot publish to it.
    nc.request(subject, JSON.stringify({ schemaVersion: 1, requestId, replyToken, ...body }), {
      timeout: opts.maxWaitMs,
    }).catch((err: unknown) => {
      if (isNoResponders(err)) noResponders = true;
      else if (!isRequestTimeout(err)) failure ??= err;
      finish();
    });
    await done;
  } finally {
    clearTimeout(timer);
    sub.unsubscribe();
  }
  if (failure !== undefined && !noResponders && replies.size === 0)
    throw toSeccomposeError(failure, `sending ${subject}`);
  const sorted = [...replies.values()].sort((a, b) => a.node.localeCompare(b.node));
  return { replies: sorted, forged, noResponders };
}

/**
 * Sends one control request to every agent and collects the valid replies, until `expected`
 * agents answered or `maxWaitMs` passed. No agent at all is an empty list, not an error. Forged
 * replies are left out and reported on stderr.
 */
export async function gather(
  nc: NatsConnection,
  op: ControlOp,
  body: Record<string, unknown>,
  opts: { expected?: number; maxWaitMs?: number } = {},
): Promise<ControlReply[]> {
  const { replies, forged } = await collectReplies(
    nc,
    CONTROL_SUBJECTS[op],
    { op, ...body },
    {
      maxWaitMs: opts.maxWaitMs ?? DEFAULT_GATHER_MS,
      ...(opts.expected !== undefined ? { expected: opts.expected } : {}),
    },
  );
  for (const line of forged) warn(line);
  return replies;
}

/** One request to one node's agent (sc.node.<node>.<op>); only a reply from that node counts. */
export async function requestNode(
  nc: NatsConnection,
  node: string,
  op: "profile" | "install" | "uninstall",
  body: Record<string, unknown>,
  timeoutMs = 10_000,
): Promise<ControlReply> {
  const subject = nodeControlSubject(node, op);
  const { replies, forged, noResponders } = await collectReplies(nc, subject, body, {
    expected: 1,
    maxWaitMs: timeoutMs,
  });
  for (const line of forged) warn(line);
  if (noResponders) {
    throw new SeccomposeError(
      ErrorCodes.SC_AGENTS_UNAVAILABLE,
      `no agent listens on ${subject}: the agent on node ${node} is not running or not connected`,
    );
  }
  const reply = replies.find((r) => r.node === node);
  if (reply === undefined) {
    throw new SeccomposeError(
      forged.length > 0 ? ErrorCodes.SC_REPLY_FORGED : ErrorCodes.SC_AGENTS_UNAVAILABLE,
      `the agent on node ${node} did not answer ${subject} within ${timeoutMs} ms${forged.length > 0 ? ` (${forged.join("; ")})` : ""}`,
    );
  }
  return reply;
}

/**
 * Parses `--expect-agents`: a number of agents, or the comma-separated node names of the agents
 * (which lets a missing one be named outside Kubernetes).
 */
export function parseExpectAgents(value: string): { count: number; nodes: string[] } {
  if (/^\d+$/.test(value.trim())) {
    const count = Number(value.trim());
    if (count < 1) throw new SeccomposeError("SC_USAGE", "--expect-agents must be at least 1");
    return { count, nodes: [] };
  }
  const nodes = [...new Set(listItems(value))].sort();
  if (nodes.length === 0) {
    throw new SeccomposeError("SC_USAGE", `--expect-agents takes a number or node names, not "${value}"`);
  }
  return { count: nodes.length, nodes };
}

/**
 * Which agents to expect: `--expect-agents` when given; else the agent DaemonSet when a cluster is
 * configured; else whoever answers, with a note saying that missing agents cannot be named.
 */
export async function expectedAgents(
  ctx: ClusterContext,
  expectAgents: string | undefined,
): Promise<AgentExpectation> {
  if (expectAgents !== undefined) return { source: "flag", ...parseExpectAgents(expectAgents) };
  const found = ctx.optionalKube();
  if ("reason" in found) {
    return {
      source: "answers",
      nodes: [],
      count: 0,
      note: `no Kubernetes cluster to count the agents in (${found.reason}); expecting whichever agents answer (--expect-agents N or NODE,... names the missing ones)`,
    };
  }
  const namespace = ctx.settings.namespace;
  try {
    const ds = await agentDaemonSetStatus(found.kube, namespace, AGENT_DAEMONSET);
    return {
      source: "daemonset",
      nodes: ds.nodes,
      count: Math.max(ds.desired, ds.nodes.length),
      daemonSet: ds,
    };
  } catch (err) {
    if (isSeccomposeError(err, ErrorCodes.SC_K8S_NOT_FOUND)) {
      throw new SeccomposeError(
        ErrorCodes.SC_K8S_NOT_FOUND,
        `DaemonSet ${namespace}/${AGENT_DAEMONSET} does not exist in ${found.kube.context}: is seccompose installed there? (seccompose install, --namespace, or --expect-agents outside Kubernetes)`,
        { cause: err },
      );
    }
    throw err;
  }
}

export interface AgentProblem {
  node: string;
  problem: string;
}

export interface AgentCheck {
  /** Nodes whose agent answered and is healthy. */
  healthy: string[];
  /** Agents that answered but cannot record (Falco failed or restarting, or an error reply). */
  unhealthy: AgentProblem[];
  /** Expected agents that did not answer, named where the expectation names nodes. */
  missing: AgentProblem[];
  /** Expected agents that did not answer and cannot be named (a count only). */
  unnamedMissing: number;
  /** Errors of answering agents within their recent window (older ones are history), for the user. */
  warnings: AgentProblem[];
}

/** Compares health replies with the expectation. */
export function checkAgents(replies: readonly ControlReply[], expectation: AgentExpectation): AgentCheck {
  const check: AgentCheck = { healthy: [], unhealthy: [], missing: [], unnamedMissing: 0, warnings: [] };
  for (const reply of replies) {
    if (!reply.ok || reply.health === undefined) {
      check.unhealthy.push({
        node: reply.node,
        problem: reply.error ? `${reply.error.code}: ${reply.error.message}` : "answered without its health",
      });
      continue;
    }
    const problem = healthProblem(reply.health);
    if (problem !== undefined) check.unhealthy.push({ node: reply.node, problem });
    else check.healthy.push(reply.node);
    check.warnings.push(...recentProblems(reply.node, reply.health));
  }
  const answered = new Set(replies.map((r) => r.node));
  const pods = new Map((expectation.daemonSet?.pods ?? []).map((p) => [p.node, p]));
  for (const node of expectation.nodes) {
    if (answered.has(node)) continue;
    const pod = pods.get(node);
    const why =
      pod && !pod.ready ? `its pod ${pod.name} is not ready: ${pod.reason ?? pod.phase}` : "no answer";
    check.missing.push({ node, problem: why });
  }
  const namedOrAnswered = answered.size + check.missing.length;
  check.unnamedMissing = Math.max(0, expectation.count - namedOrAnswered);
  return check;
}

/**
 * What went wrong on an agent lately: unreadable alert lines and errors within its recent window
 * (`health.recent`). An agent without that window (an older version) is judged by its last error.
 */
function recentProblems(node: string, health: AgentHealth): AgentProblem[] {
  const last = health.lastErrors.at(-1);
  const lastError =
    last !== undefined
      ? { node, problem: `last error ${last.code} at ${last.at}: ${last.message}` }
      : undefined;
  const { recent } = health;
  if (recent === undefined) return lastError !== undefined ? [lastError] : [];
  const problems: AgentProblem[] = [];
  if (recent.parseErrors > 0) {
    problems.push({
      node,
      problem: `${recent.parseErrors} of ${recent.alertsRead} Falco alert line(s) could not be read in the last ${recent.windowSeconds} s`,
    });
  }
  if (recent.errors > 0 && lastError !== undefined) problems.push(lastError);
  return problems;
}

/** Why an agent cannot record right now, or undefined when it can. */
export function healthProblem(health: AgentHealth): string | undefined {
  const { falco } = health;
  if (falco.state === "failed" || falco.state === "backoff") {
    const exit = falco.lastExit !== undefined ? ` (last exit: ${falco.lastExit})` : "";
    return `Falco is ${falco.state === "failed" ? "failed" : "restarting after a crash"}, ${falco.restarts} restart(s)${exit}`;
  }
  return undefined;
}

/** One line per problem, for stderr. */
export function describeAgentCheck(check: AgentCheck, expectation: AgentExpectation): string[] {
  const lines: string[] = [];
  for (const m of check.missing) lines.push(`agent on node ${m.node} did not answer (${m.problem})`);
  if (check.unnamedMissing > 0) {
    if (expectation.source === "daemonset") {
      lines.push(
        `${check.unnamedMissing} agent pod(s) of DaemonSet ${AGENT_DAEMONSET} are not scheduled on any node yet`,
      );
    } else {
      const answered = [...check.healthy, ...check.unhealthy.map((u) => u.node)].sort();
      lines.push(
        `${check.unnamedMissing} of ${expectation.count} expected agent(s) did not answer (answered: ${answered.join(", ") || "none"})`,
      );
    }
  }
  for (const u of check.unhealthy) lines.push(`agent on node ${u.node} is unhealthy: ${u.problem}`);
  for (const w of check.warnings) lines.push(`agent on node ${w.node}: ${w.problem}`);
  return lines;
}
