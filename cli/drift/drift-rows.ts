/** Drift as `seccompose drift` shows it: one row per node, pod, syscall and argument tuple. */
import type { DriftEvent, DriftReport } from "../../lib/contracts/types.ts";
import { workloadId } from "../../lib/profile/workload-key.ts";

export interface DriftRow {
  session: string;
  workload: string;
  token: string;
  node: string;
  pod?: string;
  containerId?: string;
  syscall: string;
  args?: string[];
  count: number;
  firstSeen: string;
  /** Absent on a live event (`--follow`): its first report is all there is yet. */
  lastSeen?: string;
  frozenRevision?: number;
}

export function rowsOfReport(report: DriftReport): DriftRow[] {
  return report.entries.map((e) => ({
    session: report.session,
    workload: workloadId(report.workload),
    token: report.workloadToken,
    node: e.node,
    ...(e.pod !== undefined ? { pod: e.pod } : {}),
    ...(e.containerId !== undefined ? { containerId: e.containerId } : {}),
    syscall: e.syscall,
    ...(e.args !== undefined ? { args: e.args } : {}),
    count: e.count,
    firstSeen: e.firstSeen,
    lastSeen: e.lastSeen,
    ...(report.frozenRevision !== undefined ? { frozenRevision: report.frozenRevision } : {}),
  }));
}

export function rowOfEvent(event: DriftEvent): DriftRow {
  return {
    session: event.session,
    workload: workloadId(event.workload),
    token: event.workloadToken,
    node: event.node,
    ...(event.pod !== undefined ? { pod: event.pod } : {}),
    ...(event.containerId !== undefined ? { containerId: event.containerId } : {}),
    syscall: event.syscall,
    ...(event.args !== undefined ? { args: event.args } : {}),
    count: event.count,
    firstSeen: event.firstSeen,
    frozenRevision: event.frozenRevision,
  };
}

/** Identifies a row across the report and live events, as the aggregator keys drift. */
export function rowKey(row: DriftRow): string {
  return [row.token, row.node, row.containerId ?? "", row.syscall, row.args?.join(",") ?? "*"].join("\u0000");
}

/** `socket(16)`, or the bare name when no arguments were recorded. */
export function callText(row: DriftRow): string {
  return row.args !== undefined ? `${row.syscall}(${row.args.join(", ")})` : row.syscall;
}

export const DRIFT_HEADER = [
  "WORKLOAD",
  "POD",
  "NODE",
  "SYSCALL",
  "COUNT",
  "FIRST SEEN",
  "LAST SEEN",
] as const;

export function rowCells(row: DriftRow): string[] {
  return [
    row.workload,
    row.pod ?? "-",
    row.node,
    callText(row),
    String(row.count),
    row.firstSeen,
    row.lastSeen ?? "-",
  ];
}
