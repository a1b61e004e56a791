/**
 * The profiles on the nodes, as the agents report them: every agent lists its seccomp directory
 * (sc.ctl.installed) and removes a profile on request (sc.node.<node>.uninstall), answering on its
 * identity-bound reply subject. Compared with the marks in KV sc_installed, this tells per node
 * which applied profiles are there, missing, or different.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import type {
  ControlReply,
  InstalledProfile,
  InstalledProfileMark,
  ProfileSyncReport,
  UninstalledProfile,
} from "../../lib/contracts/types.ts";
import { isSeccomposeError } from "../../lib/errors.ts";
import type { MarkEntry } from "../../lib/nats/installed-marks.ts";
import { checkAgents, gather, requestNode, type AgentExpectation } from "../cluster/agents.ts";

export interface NodeListing {
  node: string;
  profiles: InstalledProfile[];
  sync?: ProfileSyncReport;
  error?: string;
}

/** Expected agents that did not answer, named where possible. */
function missingAgents(replies: readonly ControlReply[], expectation: AgentExpectation): string[] {
  const check = checkAgents(replies, expectation);
  return [
    ...check.missing.map((m) => `${m.node} (${m.problem})`),
    ...(check.unnamedMissing > 0 ? [`${check.unnamedMissing} unnamed agent(s) that did not answer`] : []),
  ];
}

/** Every answering agent's list of installed profiles, and the expected agents that did not answer. */
export async function listNodeProfiles(
  nc: NatsConnection,
  expectation: AgentExpectation,
): Promise<{ nodes: NodeListing[]; missing: string[] }> {
  const replies = await gather(nc, "installed", {}, { expected: expectation.count });
  const nodes = replies.map((r): NodeListing => {
    if (!r.ok || r.profiles === undefined) {
      return {
        node: r.node,
        profiles: [],
        error: r.error ? `${r.error.code}: ${r.error.message}` : "answered without its list",
      };
    }
    return { node: r.node, profiles: r.profiles, ...(r.sync !== undefined ? { sync: r.sync } : {}) };
  });
  return { nodes, missing: missingAgents(replies, expectation) };
}

export type MarkState = "applied" | "differs" | "missing" | "unmarked";

export interface ProfileRow {
  node: string;
  name: string;
  state: MarkState;
  sha256?: string;
  bytes?: number;
}

/**
 * One row per profile per node: `applied` (on the node as marked), `differs` (marked, other
 * content on the node), `missing` (marked, not on the node), `unmarked` (on the node only, e.g.
 * from `profile get --install`).
 */
export function compareWithMarks(nodes: readonly NodeListing[], marks: readonly MarkEntry[]): ProfileRow[] {
  const marked = new Map<string, InstalledProfileMark>();
  for (const m of marks) if (m.state === "installed") marked.set(m.name, m.mark);
  const rows: ProfileRow[] = [];
  for (const n of nodes) {
    if (n.error !== undefined) continue;
    const present = new Map(n.profiles.map((p) => [p.name, p]));
    for (const p of n.profiles) {
      const mark = marked.get(p.name);
      rows.push({
        node: n.node,
        name: p.name,
        state: mark === undefined ? "unmarked" : mark.sha256 === p.sha256 ? "applied" : "differs",
        sha256: p.sha256,
        bytes: p.bytes,
      });
    }
    for (const name of marked.keys()) {
      if (!present.has(name)) rows.push({ node: n.node, name, state: "missing" });
    }
  }
  return rows.sort((a, b) => a.node.localeCompare(b.node) || a.name.localeCompare(b.name));
}

export interface NodeRemoval {
  node: string;
  name: string;
  uninstalled?: UninstalledProfile;
  error?: string;
}

/** Asks every agent that answers to remove each named profile; names the expected ones that do not answer. */
export async function uninstallFromNodes(
  nc: NatsConnection,
  names: readonly string[],
  expectation: AgentExpectation,
): Promise<{ removals: NodeRemoval[]; missing: string[] }> {
  const health = await gather(nc, "health", {}, { expected: expectation.count });
  const removals = await Promise.all(
    health.flatMap(({ node }) =>
      names.map(async (name): Promise<NodeRemoval> => {
        try {
          const reply = await requestNode(nc, node, "uninstall", { op: "uninstall", name });
          if (reply.ok && reply.uninstalled !== undefined)
            return { node, name, uninstalled: reply.uninstalled };
          return {
            node,
            name,
            error: reply.error ? `${reply.error.code}: ${reply.error.message}` : "no result in the reply",
          };
        } catch (err) {
          if (!isSeccomposeError(err)) throw err;
          return { node, name, error: `${err.code}: ${err.message}` };
        }
      }),
    ),
  );
  return { removals, missing: missingAgents(health, expectation) };
}
