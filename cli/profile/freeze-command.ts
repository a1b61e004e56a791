/**
 * `seccompose profile freeze|unfreeze`: freezing a continuous session's workloads makes every call
 * outside their profile drift (`seccompose drift`); `--accept SYSCALL...` takes drifted syscalls
 * into the frozen profile as a new revision, `unfreeze` takes all drift in and lets the profile grow
 * again. The aggregator does each (sc.agg.freeze, services/aggregator/freeze.ts).
 */
import type { Command } from "commander";
import type { FreezeReply } from "../../lib/contracts/types.ts";
import { SeccomposeError } from "../../lib/errors.ts";
import { workloadId } from "../../lib/profile/workload-key.ts";
import { requestFreeze } from "../cluster/aggregator.ts";
import { withCluster } from "../cluster/connection.ts";
import { addClusterOptions, clusterSettings, type ClusterFlags } from "../cluster/options.ts";
import { ProfileStore } from "../cluster/profile-store.ts";
import { SessionStore } from "../cluster/session-store.ts";
import { note, printJson, terminalSafe } from "../output.ts";
import { knownWorkloads } from "./workload-ref.ts";
import { decodeWorkloadToken, resolveWorkload } from "./workload-ref.ts";
import { listItems } from "../../lib/list-items.ts";

interface FreezeFlags extends ClusterFlags {
  unfreeze?: boolean;
  accept?: string[];
}

export function registerFreeze(profile: Command): void {
  const freeze = profile
    .command("freeze")
    .description(
      "freeze workloads of a continuous session: from then on, any syscall outside their profile is reported as drift",
    )
    .argument("<session>")
    .argument("<workloads...>", "namespace/Kind/name/container, a tail of it, or its token")
    .option("--unfreeze", "lift the freeze instead (as profile unfreeze)")
    .option(
      "--accept <syscalls...>",
      "take these drifted syscalls (names, or comma-separated) into the frozen profiles as a new revision; give it after the workloads",
    );
  addClusterOptions(freeze);
  freeze.action(async (session: string, queries: string[], flags: FreezeFlags) => {
    if (flags.accept !== undefined && flags.unfreeze) {
      throw new SeccomposeError(
        "SC_USAGE",
        "--accept takes some drift into frozen profiles and --unfreeze takes all of it: give one of them",
      );
    }
    const accept = flags.accept?.flatMap(listItems);
    await freezeAction(session, queries, flags, { unfreeze: flags.unfreeze === true, accept });
  });

  const unfreeze = profile
    .command("unfreeze")
    .description(
      "unfreeze workloads of a continuous session: their drift goes into their profile, which grows again (a new revision)",
    )
    .argument("<session>")
    .argument("<workloads...>", "namespace/Kind/name/container, a tail of it, or its token");
  addClusterOptions(unfreeze);
  unfreeze.action(async (session: string, queries: string[], flags: ClusterFlags) => {
    await freezeAction(session, queries, flags, { unfreeze: true, accept: undefined });
  });
}

async function freezeAction(
  session: string,
  queries: string[],
  flags: ClusterFlags,
  what: { unfreeze: boolean; accept: string[] | undefined },
): Promise<void> {
  const settings = await clusterSettings(flags);
  const reply = await withCluster(settings, async (ctx) => {
    const { nc, js } = await ctx.broker();
    const record = (await (await SessionStore.open(js)).require(session)).record;
    if (record.mode !== "continuous") {
      throw new SeccomposeError(
        "SC_USAGE",
        `session ${session} is a one-shot session; only continuous sessions can be frozen`,
      );
    }
    const known = await knownWorkloads(await ProfileStore.open(nc, js), session);
    const tokens = queries.map((q) => resolveWorkload(q, known, session).token);
    return requestFreeze(nc, {
      session,
      workloadTokens: [...new Set(tokens)],
      ...(what.unfreeze ? { unfreeze: true } : {}),
      ...(what.accept !== undefined ? { accept: [...new Set(what.accept)] } : {}),
    });
  });
  if (settings.output === "json") {
    printJson(reply);
    return;
  }
  for (const a of reply.accepted ?? []) {
    note(
      `${terminalSafe(name(a.workloadToken))}: took ${a.syscalls.join(", ")} (${a.calls} drift entr${a.calls === 1 ? "y" : "ies"}) into the frozen profile: revision ${a.revision}`,
    );
  }
  if (what.unfreeze) {
    note(
      `unfrozen: ${terminalSafe(queries.join(", "))}; their drift goes into their profiles at the next revision`,
    );
  }
  note(`session ${session}: frozen ${frozenText(reply)}`);
}

function name(token: string): string {
  const key = decodeWorkloadToken(token);
  return key !== undefined ? workloadId(key) : token;
}

function frozenText(reply: FreezeReply): string {
  return reply.frozen.length > 0 ? terminalSafe(reply.frozen.map(name).join(", ")) : "nothing";
}
