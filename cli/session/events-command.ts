/**
 * `seccompose events SESSION --follow`: the session's syscall events as the agents send them, read
 * from stream SC_EVENTS with an ordered (ephemeral, ack-less) consumer, so following never disturbs
 * the aggregator's durable consumer. One line per event, or JSON lines.
 */
import { DeliverPolicy } from "@nats-io/jetstream";
import type { Command } from "commander";
import type { EventMessage } from "../../lib/contracts/types.ts";
import { ErrorCodes, SeccomposeError, isSeccomposeError } from "../../lib/errors.ts";
import { decodeEventMessage } from "../../lib/nats/codec.ts";
import { toSeccomposeError } from "../../lib/nats/errors.ts";
import { workloadId } from "../../lib/profile/workload-key.ts";
import { STREAM_EVENTS } from "../../lib/subjects.ts";
import { withCluster } from "../cluster/connection.ts";
import { addClusterOptions, clusterSettings, type ClusterFlags } from "../cluster/options.ts";
import { note, warn } from "../output.ts";

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
    .option("--from-start", "begin with the session's first stored event instead of new ones");
  addClusterOptions(cmd);
  cmd.action(async (session: string, flags: EventsFlags) => {
    const settings = await clusterSettings(flags);
    if (!flags.follow && !flags.fromStart) {
      throw new SeccomposeError(
        "SC_USAGE",
        "give --follow (new events as they come) and/or --from-start (stored events)",
      );
    }
    await withCluster(settings, async (ctx) => {
      const { js } = await ctx.broker();
      const subject = `sc.ev.${session}.>`;
      let consumer;
      try {
        consumer = await js.consumers.get(STREAM_EVENTS, {
          filter_subjects: subject,
          deliver_policy: flags.fromStart ? DeliverPolicy.All : DeliverPolicy.New,
        });
      } catch (err) {
        const mapped = toSeccomposeError(err, `reading ${subject} from stream ${STREAM_EVENTS}`);
        if (mapped.code === ErrorCodes.SC_NATS_PERMISSION) {
          throw new SeccomposeError(
            ErrorCodes.SC_NATS_PERMISSION,
            `${mapped.message}; the in-cluster \`cli\` user may not read SC_EVENTS (deploy/nats-permissions.json): use a NATS user that may (--nats-user/--nats-password or --nats-creds)`,
            { cause: err },
          );
        }
        throw mapped;
      }
      const messages = await consumer.consume();
      let stop!: () => void;
      const stopped = new Promise<void>((resolve) => (stop = resolve));
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
      void stopped.then(() => messages.stop());
      if (!flags.follow) {
        // Without --follow, stop once everything stored so far was printed.
        const info = await consumer.info(true);
        if (info.num_pending === 0) messages.stop();
      }
      if (flags.follow) note(`following ${subject} (Ctrl-C to stop)`);
      try {
        for await (const m of messages) {
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
              settings.output === "json" ? `${JSON.stringify(line)}\n` : `${formatEventLine(line)}\n`,
            );
          }
          if (message.kind === "fin") {
            note(
              `${message.node}: finished, ${message.batches} batch(es)${message.droppedEvents > 0 ? `, ${message.droppedEvents} event(s) dropped by Falco` : ""}`,
            );
          }
          if (!flags.follow && m.info.pending === 0) break;
        }
      } finally {
        process.removeListener("SIGINT", stop);
        process.removeListener("SIGTERM", stop);
        messages.stop();
      }
    });
  });
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

export function formatEventLine(line: EventLine): string {
  const args = line.args !== undefined ? `(${line.args.join(", ")})` : "";
  return `${line.node}  ${line.workload}  ${line.syscall}${args}  ${line.count}`;
}
