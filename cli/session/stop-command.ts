/**
 * `seccompose stop SESSION`: marks the session stopping with a deadline (KV), asks every agent to
 * flush and send its FIN, waits for the aggregator to finalise (every node complete, or the
 * deadline passed: partial), then writes one profile per workload container.
 */
import { mkdir } from "node:fs/promises";
import type { Command } from "commander";
import type {
  AggregatorSessionStatus,
  ProfileDocument,
  SessionFinalisedEvent,
} from "../../lib/contracts/types.ts";
import { ErrorCodes, SeccomposeError, isSeccomposeError } from "../../lib/errors.ts";
import { assertDistinctProfileNames, workloadId } from "../../lib/profile/workload-key.ts";
import { ExitCodes } from "../exit-codes.ts";
import { writeFileAtomic } from "../../lib/atomic-file.ts";
import { createProgress } from "../progress.ts";
import { note, parseDuration, printJson, terminalSafe, warn } from "../output.ts";
import { gather } from "../cluster/agents.ts";
import { aggregatorStatus, watchFinalised } from "../cluster/aggregator.ts";
import { withCluster, type ClusterContext } from "../cluster/connection.ts";
import { addClusterOptions, clusterSettings, type ClusterFlags } from "../cluster/options.ts";
import { readDriftReports } from "../cluster/drift-store.ts";
import { ProfileStore } from "../cluster/profile-store.ts";
import { SessionStore } from "../cluster/session-store.ts";
import {
  filePath,
  parseProfileFileFormat,
  renderProfileDocument,
  type ProfileFileFormat,
} from "../profile/profile-files.ts";
import { renderNotes } from "../profile-output.ts";
import { readSessionFile } from "./session-spec.ts";

interface StopFlags extends ClusterFlags {
  timeout?: string;
  outputDir?: string;
  format?: string;
  file?: string;
}

/**
 * After the deadline the aggregator needs a tick or two to finalise partial: wait half the timeout
 * longer, within these bounds.
 */
const FINALISE_GRACE_MS = { min: 2_000, max: 15_000 };
const POLL_MS = 500;

export function registerStop(program: Command, setExitCode: (code: number) => void): void {
  const cmd = program
    .command("stop")
    .summary("stop a session and write its profiles")
    .description(
      "Stops recording, waits until the aggregator has every node's data (or the timeout passed: then the " +
        "profiles are partial and name the missing nodes) and writes one profile per workload container. " +
        "Exits 6 when the aggregator did not finalise in time, 7 when the profiles are partial.",
    )
    .argument("<session>", "session id")
    .option("--timeout <duration>", "how long to wait for every node's data (default 60s, or timeoutSeconds)")
    .option("--output-dir <dir>", "where the profiles go (default: the session file's output.dir, or .)")
    .option("--format <format>", "oci, spo or configmap (default: your `format` default, or oci)")
    .option("-f, --file <session.yaml>", "take output.dir and output.format from this session file");
  addClusterOptions(cmd, { destination: { flag: "--output-dir", what: "the profiles" } });
  cmd.action(async (id: string, flags: StopFlags) => {
    const settings = await clusterSettings(flags);
    const file = flags.file !== undefined ? await readSessionFile(flags.file) : {};
    const timeoutMs =
      flags.timeout !== undefined
        ? parseDuration(flags.timeout, "--timeout")
        : (settings.config.timeoutSeconds ?? 60) * 1000;
    const format = parseProfileFileFormat(
      flags.format ?? file.output?.format ?? settings.config.format ?? "oci",
    );
    const dir = flags.outputDir ?? file.output?.dir ?? ".";
    const result = await withCluster(settings, (ctx) => stopSession(ctx, id, { timeoutMs, format, dir }));
    if (settings.output === "json") printJson(result);
    else {
      for (const f of result.files) process.stdout.write(`${f.path}\n`);
    }
    if (result.status === "partial") setExitCode(ExitCodes.PARTIAL);
  });
}

export interface StopResult {
  session: string;
  status: "complete" | "partial";
  missingNodes: string[];
  /** Frozen workloads that made calls outside their frozen profile: the profiles written do not allow them. */
  drift: Array<{ workload: string; syscalls: string[]; entries: number }>;
  files: Array<{ path: string; workload: string; syscalls: number; status: ProfileDocument["status"] }>;
}

async function stopSession(
  ctx: ClusterContext,
  id: string,
  opts: { timeoutMs: number; format: ProfileFileFormat; dir: string },
): Promise<StopResult> {
  const { nc, js } = await ctx.broker();
  const store = await SessionStore.open(js);
  const { record: before } = await store.require(id);
  const watch = await watchFinalised(nc, id);
  let finalised: Finalisation | undefined;
  try {
    if (before.state === "stopped") {
      note(`session ${id} was already stopped; fetching its profiles`);
    } else {
      const now = Date.now();
      const record = await store.update(id, (r) =>
        r.state === "stopped"
          ? r
          : {
              ...r,
              state: "stopping",
              stopRequestedAt: r.stopRequestedAt ?? new Date(now).toISOString(),
              stopDeadline: new Date(now + opts.timeoutMs).toISOString(),
            },
      );
      const acks = await gather(
        nc,
        "stop",
        { sessionId: id },
        { expected: record.expectedNodes?.length ?? 0 },
      );
      for (const refused of acks.filter((r) => !r.ok)) {
        warn(
          `agent on node ${terminalSafe(refused.node)} could not stop: ${refused.error?.code}: ${terminalSafe(refused.error?.message ?? "")}`,
        );
      }
      const silent = (record.expectedNodes ?? []).filter((n) => !acks.some((a) => a.node === n));
      if (silent.length > 0) {
        warn(
          `agent(s) on ${terminalSafe(silent.join(", "))} did not acknowledge the stop; waiting for their data until ${record.stopDeadline}`,
        );
      }
      const grace = Math.min(FINALISE_GRACE_MS.max, Math.max(FINALISE_GRACE_MS.min, opts.timeoutMs / 2));
      finalised = await waitForFinalisation(
        ctx,
        id,
        Date.parse(record.stopDeadline!) + grace,
        watch.finalised,
      );
    }
  } finally {
    watch.stop();
  }

  const profiles = await ProfileStore.open(nc, js);
  const documents = await profiles.latest(id);
  const { record } = await store.require(id);
  const status: "complete" | "partial" =
    finalised?.status === "partial" || documents.some((d) => d.status === "partial") ? "partial" : "complete";
  const missingNodes = [
    ...new Set([...(finalised?.missingNodes ?? []), ...documents.flatMap((d) => d.missingNodes ?? [])]),
  ].sort();
  if (documents.length === 0)
    warn(`session ${id} has no profiles: no targeted container made a syscall on any node`);
  await mkdir(opts.dir, { recursive: true }).catch((err: unknown) => {
    throw new SeccomposeError("SC_FILE_WRITE", `cannot create ${opts.dir}: ${(err as Error).message}`);
  });
  // Checked before the first write, so a collision leaves the directory as it was.
  assertDistinctProfileNames(documents.map((d) => d.workload));
  const files: StopResult["files"] = [];
  for (const doc of documents) {
    const rendered = renderProfileDocument(doc, record.profile, opts.format);
    const path = filePath(opts.dir, rendered);
    await writeFileAtomic(path, rendered.text);
    for (const line of renderNotes(rendered.result))
      note(`${terminalSafe(workloadId(doc.workload))}: ${terminalSafe(line)}`);
    files.push({
      path,
      workload: workloadId(doc.workload),
      syscalls: doc.syscalls.length,
      status: doc.status,
    });
  }
  const drift = (await readDriftReports(js, id))
    .filter((r) => r.entries.length > 0)
    .map((r) => ({
      workload: workloadId(r.workload),
      syscalls: [...new Set(r.entries.map((e) => e.syscall))].sort(),
      entries: r.entries.length,
    }));
  for (const d of drift) {
    warn(
      `${terminalSafe(d.workload)} drifted from its frozen profile: ${d.syscalls.join(", ")} (${d.entries} call(s) by node, pod and arguments) are not in the profile written; seccompose drift ${id} lists them`,
    );
  }
  if (status === "partial") {
    warn(
      `session ${id} is partial: no complete data from ${terminalSafe(missingNodes.join(", ")) || "some nodes"}; the profiles may lack syscalls made there`,
    );
  } else {
    note(`session ${id} complete: ${files.length} profile(s) in ${opts.dir}`);
  }
  return { session: id, status, missingNodes, drift, files };
}

interface Finalisation {
  status: "complete" | "partial";
  missingNodes: string[];
}

/**
 * Waits for the finalised event, polling the aggregator's status meanwhile for the progress
 * display (and in case the event was published before this process subscribed).
 */
async function waitForFinalisation(
  ctx: ClusterContext,
  id: string,
  waitUntil: number,
  event: Promise<SessionFinalisedEvent>,
): Promise<Finalisation> {
  const { nc } = await ctx.broker();
  const progress = createProgress(`finalising ${id}`);
  let done: Finalisation | undefined;
  void event.then((e) => (done ??= { status: e.status, missingNodes: e.missingNodes ?? [] }));
  try {
    while (done === undefined) {
      let status: AggregatorSessionStatus | undefined;
      let aggregatorSilent = false;
      try {
        status = (await aggregatorStatus(nc, id)).sessions.find((s) => s.session === id);
      } catch (err) {
        if (!isSeccomposeError(err, ErrorCodes.SC_AGGREGATOR_UNAVAILABLE)) throw err;
        aggregatorSilent = true;
      }
      if (status !== undefined && status.state !== "recording") {
        done ??= { status: status.state, missingNodes: status.missingNodes ?? [] };
        break;
      }
      if (status !== undefined) {
        const participating = [
          ...new Set([...(status.expectedNodes ?? []), ...status.nodes.map((n) => n.name)]),
        ];
        const complete = status.nodes.filter((n) => n.complete).length;
        const waiting = status.missingNodes ?? [];
        progress.update(
          complete,
          Math.max(participating.length, complete),
          waiting.length > 0 ? `waiting for ${waiting.join(", ")}` : "",
        );
      } else {
        progress.update(
          0,
          1,
          aggregatorSilent ? "the aggregator does not answer" : "the aggregator has no data yet",
        );
      }
      if (Date.now() >= waitUntil) {
        progress.stop();
        throw new SeccomposeError(
          ErrorCodes.SC_WAIT_TIMEOUT,
          aggregatorSilent
            ? `session ${id} was not finalised: the aggregator did not answer (is seccompose-aggregator running?)`
            : `session ${id} was not finalised by ${new Date(waitUntil).toISOString()}${status?.missingNodes?.length ? `; still waiting for ${status.missingNodes.join(", ")}` : ""}`,
        );
      }
      await Promise.race([event, new Promise((r) => setTimeout(r, POLL_MS))]);
    }
  } catch (err) {
    progress.stop();
    throw err;
  }
  progress.stop(`session ${id} finalised: ${done.status}`);
  return done;
}
