/**
 * `seccompose start`: shows which pods the targets select, checks every agent's health, writes
 * the session's desired state to KV sc_sessions (agents watch it), asks every agent to start, and
 * records the agents that acknowledged as the session's expected nodes.
 */
import { streamPartitions } from "../../lib/nats/streams.ts";
import { partitionOf } from "../../lib/partitions.ts";
import type { Command } from "commander";
import type { ControlReply, SessionRecord } from "../../lib/contracts/types.ts";
import { ErrorCodes, SeccomposeError, isSeccomposeError } from "../../lib/errors.ts";
import { resolveTargets, type TargetResolution } from "../../lib/k8s/targets.ts";
import { parseLabelSelector } from "../../lib/label-selector.ts";
import { ExitCodes } from "../exit-codes.ts";
import { note, printJson, warn } from "../output.ts";
import {
  checkAgents,
  describeAgentCheck,
  expectedAgents,
  gather,
  parseExpectAgents,
  type AgentCheck,
  type AgentExpectation,
} from "../cluster/agents.ts";
import { requireConsumingAggregator } from "../cluster/aggregator.ts";
import { withCluster, type ClusterContext } from "../cluster/connection.ts";
import { addClusterOptions, clusterSettings, type ClusterFlags } from "../cluster/options.ts";
import { SessionStore } from "../cluster/session-store.ts";
import { buildSessionRecord, describeTargets, readSessionFile, type StartFlags } from "./session-spec.ts";
import { waitCapturing } from "./wait-capturing.ts";

interface StartCommandFlags extends StartFlags, Omit<ClusterFlags, "namespace"> {
  expectAgents?: string;
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

export function registerStart(program: Command, setExitCode: (code: number) => void): void {
  const cmd = program
    .command("start")
    .summary("start recording the syscalls of selected pods on every node")
    .description(
      "Starts a recording session: every agent records the containers the targets select (all given " +
        "criteria must match). Prints the session id on stdout. Exits 7 when some agent is missing or unhealthy " +
        "(the session runs on the others).",
    )
    .option("-n, --namespace <namespace>", "record pods in this namespace (repeatable)", collect)
    .option("-l, --selector <selector>", "record pods matching this label selector, e.g. app=web,tier!=db")
    .option("--pod <name>", "record this pod (repeatable)", collect)
    .option("--container <name>", "record only containers of this name (repeatable)", collect)
    .option("--args <syscalls>", "comma-separated syscalls whose scalar arguments become argument rules")
    .option("--continuous", "keep recording: publish profile revisions, report convergence and drift")
    .option(
      "--convergence-window <duration>",
      "continuous: converged after this long without change, e.g. 30m",
    )
    .option("-f, --file <session.yaml>", "session file (flags override it; it overrides your defaults)")
    .option("--id <id>", "session id (letters, digits, '_' and '-'; default: generated)")
    .option("--baseline <runtime>", "runtime baseline of the profiles: runc, crun or none")
    .option("--complain", "profiles log instead of deny (SCMP_ACT_LOG)")
    .option("--default-action <action>", "default action of the profiles (default SCMP_ACT_ERRNO)")
    .option(
      "--expect-agents <n|nodes>",
      "outside Kubernetes: how many agents to expect, or their node names (comma-separated)",
    );
  addClusterOptions(cmd, { installNamespaceFlag: "--install-namespace" });
  cmd.action(async (flags: StartCommandFlags) => {
    // -n/--namespace selects targets here; the install namespace is --install-namespace.
    const { namespace: _targetNamespaces, ...clusterFlags } = flags;
    const settings = await clusterSettings(clusterFlags);
    const file = flags.file !== undefined ? await readSessionFile(flags.file) : {};
    const record = buildSessionRecord(flags, file, settings.config);
    // Everything the agents would refuse is refused here, before anything is written.
    if (record.targets.labelSelector !== undefined) parseLabelSelector(record.targets.labelSelector);
    if (flags.expectAgents !== undefined) parseExpectAgents(flags.expectAgents);
    const result = await withCluster(settings, (ctx) => startSession(ctx, record, flags.expectAgents));
    if (settings.output === "json") printJson(result);
    else process.stdout.write(`${result.session.id}\n`);
    if (result.problems.length > 0) setExitCode(ExitCodes.PARTIAL);
  });
}

export interface StartResult {
  session: SessionRecord;
  targets?: TargetSummary;
  agents: { expected: number; source: AgentExpectation["source"]; started: string[] } & AgentCheck;
  /** Everything that makes this start less than complete, one sentence each. */
  problems: string[];
}

interface TargetSummary {
  pods: number;
  nodes: Array<{ node: string; pods: Array<{ namespace: string; name: string; containers: string[] }> }>;
  unscheduled: string[];
  missingNamespaces: string[];
}

async function startSession(
  ctx: ClusterContext,
  draft: SessionRecord,
  expectAgents: string | undefined,
): Promise<StartResult> {
  const targets = await showTargets(ctx, draft);
  const expectation = await expectedAgents(ctx, expectAgents);
  if (expectation.note !== undefined) note(expectation.note);
  const { nc, js } = await ctx.broker();
  const health = await gather(nc, "health", {}, { expected: expectation.count });
  const check = checkAgents(health, expectation);
  const problems = describeAgentCheck(check, expectation);
  for (const line of problems) warn(line);
  if (health.length === 0) {
    throw new SeccomposeError(
      ErrorCodes.SC_AGENTS_UNAVAILABLE,
      `no agent answered on sc.ctl.health${expectation.count > 0 ? ` (expected ${expectation.count})` : ""}: nothing would record; is the agent DaemonSet running?`,
    );
  }

  await requireConsumingAggregator(nc);
  // The session's events go to one partition of SC_EVENTS, fixed here for agents and aggregators.
  draft.partition = partitionOf(draft.id, await streamPartitions(await js.jetstreamManager()));
  const store = await SessionStore.open(js);
  await store.create(draft);
  const acks = await gather(nc, "start", { sessionId: draft.id }, { expected: health.length });
  const started = acks.filter((r) => r.ok).map((r) => r.node);
  for (const refused of acks.filter((r) => !r.ok)) {
    const line = `agent on node ${refused.node} refused to start: ${refused.error?.code}: ${refused.error?.message}`;
    warn(line);
    problems.push(line);
  }
  for (const node of health.map((r) => r.node).filter((n) => !acks.some((a: ControlReply) => a.node === n))) {
    const line = `agent on node ${node} answered the health check but did not acknowledge the start`;
    warn(line);
    problems.push(line);
  }
  for (const line of await waitCapturing(nc, started)) {
    warn(line);
    problems.push(line);
  }
  const session = await store.update(draft.id, (r) => ({ ...r, expectedNodes: started }));
  note(
    `session ${session.id} recording ${describeTargets(session.targets)} on ${started.length} node(s): ${started.join(", ") || "none"}`,
  );
  return {
    session,
    ...(targets !== undefined ? { targets } : {}),
    agents: { expected: expectation.count, source: expectation.source, started, ...check },
    problems,
  };
}

/** Lists what the targets select now, when a cluster is at hand; warns when nothing matches. */
async function showTargets(ctx: ClusterContext, record: SessionRecord): Promise<TargetSummary | undefined> {
  const found = ctx.optionalKube();
  if ("reason" in found) {
    note(
      `targets: ${describeTargets(record.targets)} (not resolved here: no Kubernetes configuration; each agent matches them on its node)`,
    );
    return undefined;
  }
  let resolution: TargetResolution;
  try {
    resolution = await resolveTargets(found.kube, record.targets);
  } catch (err) {
    // With a NATS URL given the cluster is only consulted for this overview.
    if (ctx.settings.nats.url !== undefined && isSeccomposeError(err) && err.code !== ErrorCodes.SC_USAGE) {
      warn(`cannot list the pods the targets select: ${err.message}`);
      return undefined;
    }
    throw err;
  }
  for (const ns of resolution.missingNamespaces) warn(`namespace "${ns}" does not exist`);
  if (resolution.pods.length === 0) {
    warn(
      `no running pod matches the targets (${describeTargets(record.targets)}); agents will record pods that start matching later`,
    );
  } else {
    note(
      `targets: ${describeTargets(record.targets)}: ${resolution.pods.length} pod(s) on ${resolution.nodes.length} node(s)`,
    );
    for (const { node, pods } of resolution.nodes) {
      note(`  ${node}`);
      for (const pod of pods) note(`    ${pod.namespace}/${pod.name} [${pod.containers.join(", ")}]`);
    }
    if (resolution.unscheduled.length > 0) {
      note(
        `  not scheduled yet: ${resolution.unscheduled.map((p) => `${p.namespace}/${p.name}`).join(", ")}`,
      );
    }
  }
  return {
    pods: resolution.pods.length,
    nodes: resolution.nodes.map(({ node, pods }) => ({
      node,
      pods: pods.map((p) => ({ namespace: p.namespace, name: p.name, containers: p.containers })),
    })),
    unscheduled: resolution.unscheduled.map((p) => `${p.namespace}/${p.name}`),
    missingNamespaces: resolution.missingNamespaces,
  };
}
