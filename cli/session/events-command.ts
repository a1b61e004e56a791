/**
 * `seccompose events SESSION --follow`: the session's syscall events as the agents send them, read
 * from stream SC_EVENTS by sequence (see readStream), so following never disturbs the aggregator's
 * durable consumer. One line per event, or JSON lines.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { jetstreamManager, type MsgRequest } from "@nats-io/jetstream";
import type { Command } from "commander";
import type { EventMessage } from "../../lib/contracts/types.ts";
import { isSeccomposeError } from "../../lib/errors.ts";
import { decodeEventMessage } from "../../lib/nats/codec.ts";
import { toSeccomposeError } from "../../lib/nats/errors.ts";
import { workloadId } from "../../lib/profile/workload-key.ts";
import { STREAM_EVENTS, eventSubjectsOf } from "../../lib/subjects.ts";
import { withCluster } from "../cluster/connection.ts";
import { addClusterOptions, clusterSettings, type ClusterFlags } from "../cluster/options.ts";
import { jsonText, note, terminalSafe, warn } from "../output.ts";

interface EventsFlags extends ClusterFlags {
  follow?: boolean;
  fromStart?: boolean;
}

/** One printed event: a syscall tuple seen (or counted again) on a node for a workload. */
export interface EventLine {
  seq: number;
  node: string;
  workload: string;
  pod?: string;
  syscall: string;
  count: number;
  args?: string[];
  firstSeen: string;
}

export function registerEvents(program: Command): void {
  const cmd = program
    .command("events")
    .summary("print a session's syscall events as they arrive")
    .argument("<session>", "session id")
    .option(
      "-f, --follow",
      "keep printing new events until Ctrl-C (default: print what is stored, then exit)",
    )
    .option("--from-start", "with --follow, print the stored events first instead of only new ones");
  addClusterOptions(cmd);
  cmd.action(async (session: string, flags: EventsFlags) => {
    const settings = await clusterSettings(flags);
    // Without --follow there is nothing to wait for: print what is stored.
    const fromStart = flags.fromStart === true || flags.follow !== true;
    await withCluster(settings, async (ctx) => {
      const { nc } = await ctx.broker();
      const jsm = await jetstreamManager(nc);
      const subject = eventSubjectsOf(session);
      let stopped = false;
      const stop = () => (stopped = true);
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
      try {
        let seq = fromStart
          ? 1
          : (await readStream(() => jsm.streams.info(STREAM_EVENTS), subject)).state.last_seq + 1;
        if (flags.follow) note(`following ${subject} (Ctrl-C to stop)`);
        while (!stopped) {
          const m = await readStream(
            () => jsm.streams.getMessage(STREAM_EVENTS, nextBySubject(seq, subject)),
            subject,
          );
          if (m === null) {
            if (!flags.follow) break;
            await sleep(POLL_MS);
            continue;
          }
          seq = m.seq + 1;
          let message: EventMessage;
          try {
            message = decodeEventMessage(m.data, `${STREAM_EVENTS} seq ${m.seq} on ${m.subject}`);
          } catch (err) {
            if (!isSeccomposeError(err)) throw err;
            warn(err.message);
            continue;
          }
          for (const line of eventLines(message, m.seq)) {
            process.stdout.write(
              settings.output === "json" ? `${jsonText(line)}\n` : `${formatEventLine(line)}\n`,
            );
          }
          if (message.kind === "fin") {
            note(
              `${terminalSafe(message.node)}: finished, ${message.batches} batch(es)${message.droppedEvents > 0 ? `, ${message.droppedEvents} event(s) dropped by Falco` : ""}`,
            );
          }
        }
      } finally {
        process.removeListener("SIGINT", stop);
        process.removeListener("SIGTERM", stop);
      }
    });
  });
}

const POLL_MS = 500;

/**
 * STREAM.MSG.GET's `next_by_subj` (nats-server ≥ 2.9): the first message on or after `seq` on the
 * subject. nats.js types it only for direct gets, which SC_EVENTS does not enable.
 */
function nextBySubject(seq: number, subject: string): MsgRequest {
  return { seq, next_by_subj: subject } as unknown as MsgRequest;
}

/**
 * Reads go message by message (`STREAM.MSG.GET` with `next_by_subj`): read-only requests that need
 * no consumer, so the CLI's NATS user can follow events without any right to create consumers,
 * which would also let it disturb the aggregator's.
 */
async function readStream<T>(read: () => Promise<T>, subject: string): Promise<T> {
  try {
    return await read();
  } catch (err) {
    throw toSeccomposeError(err, `reading ${subject} from stream ${STREAM_EVENTS}`);
  }
}

export function eventLines(message: EventMessage, seq: number): EventLine[] {
  if (message.kind !== "batch") return [];
  return message.workloads.flatMap((w) =>
    w.syscalls.map((s) => ({
      seq,
      node: message.node,
      workload: workloadId(w.workload),
      ...(w.pod !== undefined ? { pod: w.pod } : {}),
      syscall: s.name,
      count: s.count,
      ...(s.args !== undefined ? { args: s.args } : {}),
      firstSeen: new Date(s.firstSeen).toISOString(),
    })),
  );
}

/** One terminal line; node, workload and syscall names come from an agent, so it is escaped. */
export function formatEventLine(line: EventLine): string {
  const args = line.args !== undefined ? `(${line.args.join(", ")})` : "";
  return terminalSafe(`${line.node}  ${line.workload}  ${line.syscall}${args}  ${line.count}`);
}
