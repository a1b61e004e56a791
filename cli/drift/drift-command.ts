/**
 * `seccompose drift SESSION [WORKLOAD] [--follow]`: what frozen workloads did outside their frozen
 * profile, per workload, pod, node, syscall and argument tuple, with counts and first and last
 * sightings, from the drift reports the aggregator keeps; `--follow` adds the drift events
 * (`sc.drift.<session>.>`) as they come, until Ctrl-C.
 */
import type { Command } from "commander";
import type { DriftEvent, DriftReport, SessionRecord } from "../../lib/contracts/types.ts";
import { workloadId } from "../../lib/profile/workload-key.ts";
import { driftSubject, driftSubjectsOf } from "../../lib/subjects.ts";
import { readDriftReports } from "../cluster/drift-store.ts";
import { subscribeValid } from "../cluster/valid-events.ts";
import { withCluster } from "../cluster/connection.ts";
import { addClusterOptions, clusterSettings, type ClusterFlags } from "../cluster/options.ts";
import { ProfileStore } from "../cluster/profile-store.ts";
import { SessionStore } from "../cluster/session-store.ts";
import { jsonText, note, printJson, printLines, table, terminalSafe, warn } from "../output.ts";
import { decodeWorkloadToken, resolveWorkload, type KnownWorkload } from "../profile/workload-ref.ts";
import { DRIFT_HEADER, rowCells, rowKey, rowOfEvent, rowsOfReport, type DriftRow } from "./drift-rows.ts";

interface DriftFlags extends ClusterFlags {
  follow?: boolean;
}

export function registerDrift(program: Command): void {
  const cmd = program
    .command("drift")
    .summary("list the syscalls frozen workloads made outside their frozen profile")
    .description(
      "Lists every call outside the frozen profile of a continuous session's frozen workloads (one row per " +
        "workload, pod, node, syscall and argument tuple, with its count and first and last sighting). " +
        "WORKLOAD is namespace/Kind/name/container, a tail of it or its token.",
    )
    .argument("<session>", "session id")
    .argument("[workload]", "only this workload")
    .option("-f, --follow", "keep printing new drift as the aggregator detects it, until Ctrl-C");
  addClusterOptions(cmd);
  cmd.action(async (session: string, query: string | undefined, flags: DriftFlags) => {
    const settings = await clusterSettings(flags);
    const json = settings.output === "json";
    await withCluster(settings, async (ctx) => {
      const { nc, js } = await ctx.broker();
      const { record } = await (await SessionStore.open(js)).require(session);
      const reportsOfSession = await readDriftReports(js, session);
      const token =
        query === undefined
          ? undefined
          : resolveWorkload(query, await knownWorkloads(nc, js, session, reportsOfSession), session).token;
      // Subscribed before the reports are read, so nothing detected in between is missed.
      const live: DriftEvent[] = [];
      let onEvent = (event: DriftEvent): void => void live.push(event);
      const sub = flags.follow
        ? subscribeValid<DriftEvent>(
            nc,
            token !== undefined ? driftSubject(session, token) : driftSubjectsOf(session),
            "driftEvent",
            (event) => onEvent(event),
          )
        : undefined;
      try {
        if (sub !== undefined) await nc.flush();
        const reports = sub === undefined ? reportsOfSession : await readDriftReports(js, session);
        const chosen = reports.filter((r) => token === undefined || r.workloadToken === token);
        const rows = chosen.flatMap(rowsOfReport);
        explain(record, chosen, rows.length, token);
        if (sub === undefined) {
          if (json) printJson(rows);
          else if (rows.length > 0) printLines(table([...DRIFT_HEADER], rows.map(rowCells)));
          return;
        }
        const shown = new Set(rows.map(rowKey));
        const print = (row: DriftRow): void => {
          if (shown.has(rowKey(row))) return;
          shown.add(rowKey(row));
          process.stdout.write(json ? `${jsonText(row)}\n` : `${terminalSafe(rowCells(row).join("  "))}\n`);
        };
        if (!json) printLines(table([...DRIFT_HEADER], rows.map(rowCells)));
        else for (const row of rows) process.stdout.write(`${jsonText(row)}\n`);
        for (const event of live.splice(0)) print(rowOfEvent(event));
        onEvent = (event) => print(rowOfEvent(event));
        await interrupted();
      } finally {
        sub?.unsubscribe();
      }
    });
  });
}

/** Why there are (or are not) rows, on stderr: nothing frozen, no drift, calls the aggregator could not keep. */
function explain(
  record: SessionRecord,
  reports: DriftReport[],
  rows: number,
  token: string | undefined,
): void {
  const frozen = record.continuous?.frozen ?? [];
  if (record.mode !== "continuous")
    note(`session ${record.id} is a one-shot session: nothing is frozen, nothing drifts`);
  else if (frozen.length === 0 && rows === 0)
    note(
      `no workload of session ${record.id} is frozen (seccompose profile freeze): nothing counts as drift`,
    );
  else if (rows === 0)
    note(
      `no drift in session ${record.id}${token !== undefined ? ` for ${token}` : ""}: every call was inside the frozen profile`,
    );
  for (const r of reports) {
    if (r.omitted > 0) {
      warn(
        `${terminalSafe(workloadId(r.workload))}: ${r.omitted} report(s) of calls outside the frozen profile were not kept (the aggregator keeps at most 500 per workload, within its count-entry limits)`,
      );
    }
  }
}

/** Workloads with a profile or a drift report in the session. */
async function knownWorkloads(
  nc: Parameters<typeof ProfileStore.open>[0],
  js: Parameters<typeof ProfileStore.open>[1],
  session: string,
  reports: DriftReport[],
): Promise<KnownWorkload[]> {
  const known = new Map<string, KnownWorkload>();
  for (const r of reports) known.set(r.workloadToken, { token: r.workloadToken, workload: r.workload });
  for (const k of await (await ProfileStore.open(nc, js)).keys(session)) {
    const workload = decodeWorkloadToken(k.token);
    if (workload !== undefined && !known.has(k.token)) known.set(k.token, { token: k.token, workload });
  }
  return [...known.values()];
}

/** Resolves on Ctrl-C or SIGTERM. */
function interrupted(): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      process.removeListener("SIGINT", done);
      process.removeListener("SIGTERM", done);
      resolve();
    };
    process.once("SIGINT", done);
    process.once("SIGTERM", done);
  });
}
