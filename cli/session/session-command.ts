/**
 * `seccompose session delete ID`: removes a session and everything stored of it. The aggregator
 * does the deleting (sc.agg.delete, services/aggregator/deletion.ts), since it owns the stores and
 * must forget the session too; agents drop their local state when they see the record gone.
 */
import type { Command } from "commander";
import type { DeleteReply } from "../../lib/contracts/types.ts";
import { requestDelete } from "../cluster/aggregator.ts";
import { withCluster } from "../cluster/connection.ts";
import { addClusterOptions, clusterSettings, type ClusterFlags } from "../cluster/options.ts";
import { note, printJson } from "../output.ts";

interface DeleteFlags extends ClusterFlags {
  force?: boolean;
}

export function registerSession(program: Command): void {
  const session = program.command("session").summary("manage recorded sessions: delete one");
  const del = session
    .command("delete")
    .description(
      "Deletes a session: its record, profile documents and revisions, drift reports, large-profile objects, " +
        "stored events and the aggregator's state of it; agents drop their local record. A running or stopping " +
        "session is refused (exit 11) unless --force.",
    )
    .argument("<id>", "session id")
    .option(
      "--force",
      "also delete a running or stopping session, at once: nothing is finalised and no profile is written",
    );
  addClusterOptions(del);
  del.action(async (id: string, flags: DeleteFlags) => {
    const settings = await clusterSettings(flags);
    const reply = await withCluster(settings, async (ctx) => {
      const { nc } = await ctx.broker();
      return requestDelete(nc, { session: id, ...(flags.force ? { force: true } : {}) });
    });
    if (settings.output === "json") printJson(reply);
    else note(describe(reply));
  });
}

function describe(r: DeleteReply): string {
  const what = [
    r.record ? `its record (${r.state})` : "no record (already gone)",
    `${r.keys} stored profile document, revision and drift report version(s)`,
    `${r.objects} large-profile object(s)`,
    `${r.events} event message(s)`,
  ];
  return `deleted session ${r.session}: ${what.join(", ")}`;
}
