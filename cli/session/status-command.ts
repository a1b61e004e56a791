/**
 * `seccompose status [SESSION] [--watch]`: per session and node, what the agents report and what
 * the aggregator merged. `--watch` refreshes until Ctrl-C: redrawn in place on a terminal, repeated
 * blocks otherwise.
 */
import type { Command } from "commander";
import type { AggregatorStatus, SessionRecord } from "../../lib/contracts/types.ts";
import { ErrorCodes, isSeccomposeError } from "../../lib/errors.ts";
import { gather } from "../cluster/agents.ts";
import { aggregatorStatus } from "../cluster/aggregator.ts";
import { withCluster, type ClusterContext } from "../cluster/connection.ts";
import { addClusterOptions, clusterSettings, type ClusterFlags } from "../cluster/options.ts";
import { SessionStore } from "../cluster/session-store.ts";
import { jsonText, parseDuration, printJson } from "../output.ts";
import { renderSessionView, sessionView, type SessionView } from "./status-view.ts";

interface StatusFlags extends ClusterFlags {
  watch?: boolean;
  interval: string;
}

export function registerStatus(program: Command): void {
  const cmd = program
    .command("status")
    .summary("show sessions: what every agent recorded and what the aggregator merged")
    .argument("[session]", "one session (default: every session)")
    .option("-w, --watch", "refresh until Ctrl-C")
    .option("--interval <duration>", "time between refreshes with --watch", "2s");
  addClusterOptions(cmd);
  cmd.action(async (session: string | undefined, flags: StatusFlags) => {
    const settings = await clusterSettings(flags);
    const intervalMs = parseDuration(flags.interval, "--interval");
    await withCluster(settings, async (ctx) => {
      if (!flags.watch) {
        print(await snapshot(ctx, session), settings.output);
        return;
      }
      await watch(intervalMs, async () => {
        const views = await snapshot(ctx, session);
        if (settings.output === "json") {
          process.stdout.write(
            `${jsonText({ aggregatorAnswered: views.aggregatorAnswered, sessions: views.sessions })}\n`,
          );
        } else if (process.stdout.isTTY) {
          // Home and clear, then the new block: a live view without scrollback noise.
          process.stdout.write(`\x1b[H\x1b[2J${block(views).join("\n")}\n`);
        } else {
          process.stdout.write(`--- ${new Date().toISOString()}\n${block(views).join("\n")}\n`);
        }
      });
    });
  });
}

interface Snapshot {
  sessions: SessionView[];
  aggregatorAnswered: boolean;
}

async function snapshot(ctx: ClusterContext, id: string | undefined): Promise<Snapshot> {
  const { nc, js } = await ctx.broker();
  const store = await SessionStore.open(js);
  const records: SessionRecord[] = id !== undefined ? [(await store.require(id)).record] : await store.list();
  const expected = id !== undefined ? records[0]!.expectedNodes?.length : undefined;
  const [replies, aggregator] = await Promise.all([
    gather(nc, "status", id !== undefined ? { sessionId: id } : {}, {
      ...(expected ? { expected } : {}),
      maxWaitMs: 2000,
    }),
    aggregatorStatus(nc, id).catch((err: unknown): AggregatorStatus | undefined => {
      if (isSeccomposeError(err, ErrorCodes.SC_AGGREGATOR_UNAVAILABLE)) return undefined;
      throw err;
    }),
  ]);
  return {
    sessions: records.map((r) => sessionView(r, replies, aggregator)),
    aggregatorAnswered: aggregator !== undefined,
  };
}

function block(s: Snapshot): string[] {
  if (s.sessions.length === 0) return ["no sessions"];
  const lines: string[] = [];
  for (const view of s.sessions) {
    if (lines.length > 0) lines.push("");
    lines.push(...renderSessionView(view, s.aggregatorAnswered));
  }
  return lines;
}

function print(s: Snapshot, output: string): void {
  if (output === "json") printJson({ aggregatorAnswered: s.aggregatorAnswered, sessions: s.sessions });
  else process.stdout.write(`${block(s).join("\n")}\n`);
}

/** Calls `refresh` every `intervalMs` until SIGINT or SIGTERM; then returns normally. */
async function watch(intervalMs: number, refresh: () => Promise<void>): Promise<void> {
  let stop!: () => void;
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  let done = false;
  void stopped.then(() => (done = true));
  try {
    while (!done) {
      await refresh();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([stopped, new Promise<void>((r) => (timer = setTimeout(r, intervalMs)))]);
      clearTimeout(timer);
    }
  } finally {
    process.removeListener("SIGINT", stop);
    process.removeListener("SIGTERM", stop);
  }
}
