/**
 * `profile get --install`: every agent writes the OCI JSON into its node's kubelet seccomp
 * directory (sc.node.<node>.install), so pods can use it as a Localhost profile on any node.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import type { InstalledProfile } from "../../lib/contracts/types.ts";
import { isSeccomposeError } from "../../lib/errors.ts";
import {
  checkAgents,
  expectedAgents,
  gather,
  requestNode,
  type AgentExpectation,
} from "../cluster/agents.ts";
import type { ClusterContext } from "../cluster/connection.ts";

export interface NodeInstall {
  node: string;
  installed?: InstalledProfile;
  error?: string;
}

export interface InstallOutcome {
  nodes: NodeInstall[];
  /** Expected agents that did not answer, named or counted. */
  missing: string[];
}

/** Installs on every agent that answers, and names the expected ones that do not. */
export async function installOnNodes(
  ctx: ClusterContext,
  nc: NatsConnection,
  name: string,
  profile: string,
  expectAgents: string | undefined,
): Promise<InstallOutcome> {
  const expectation: AgentExpectation = await expectedAgents(ctx, expectAgents);
  const health = await gather(nc, "health", {}, { expected: expectation.count });
  const check = checkAgents(health, expectation);
  const missing = [
    ...check.missing.map((m) => `${m.node} (${m.problem})`),
    ...(check.unnamedMissing > 0 ? [`${check.unnamedMissing} unnamed agent(s) that did not answer`] : []),
  ];
  const nodes = await Promise.all(
    health.map(async ({ node }): Promise<NodeInstall> => {
      try {
        const reply = await requestNode(nc, node, "install", { op: "install", name, profile });
        if (reply.ok && reply.installed !== undefined) return { node, installed: reply.installed };
        return {
          node,
          error: reply.error ? `${reply.error.code}: ${reply.error.message}` : "no result in the reply",
        };
      } catch (err) {
        if (!isSeccomposeError(err)) throw err;
        return { node, error: `${err.code}: ${err.message}` };
      }
    }),
  );
  return { nodes, missing };
}
