/**
 * Which alerts of two Falcos count across a swap (falco-swap.ts). Both Falcos hold their alerts
 * from a common probe on; these functions, pure and on alert lines only, decide what the old
 * one's held lines still contribute and whether the successor sees the same pod processes.
 */

/** A process with this many alerts from the running Falco must show up in the successor's. */
const VERIFY_MIN_ALERTS = 5;

/** The pod cgroup and process an alert line names: compact fields (pid 4th, cgroup last) or JSON's. */
function alertProcess(line: string): string | undefined {
  if (line.startsWith("{")) {
    const cgroup = /"thread\.cgroup\.cpu":"([^"]*)"/.exec(line)?.[1];
    const pid = /"proc\.pid":(\d+)/.exec(line)?.[1];
    return cgroup === undefined ? undefined : `${cgroup} pid ${pid ?? "?"}`;
  }
  const fields = line.split("|");
  return fields.length < 6 ? undefined : `${fields.at(-1)!} pid ${fields[4]!}`;
}

/** What identifies one syscall in the alerts of either Falco (their times differ by a few hundred ns). */
interface AlertEvent {
  process: string;
  /** Thread, event type and return value. */
  call: string;
  timeNs: bigint;
}

function alertEvent(line: string): AlertEvent | undefined {
  const process = alertProcess(line);
  if (process === undefined || !process.includes("kubepods")) return undefined;
  if (line.startsWith("{")) {
    const time = /"evt\.time":(\d+)/.exec(line)?.[1];
    if (time === undefined) return undefined;
    const tid = /"thread\.tid":(\d+)/.exec(line)?.[1];
    const type = /"evt\.type":"([^"]*)"/.exec(line)?.[1];
    const res = /"evt\.rawres":(-?\d+|null)/.exec(line)?.[1];
    return { process, call: `${tid} ${type} ${res}`, timeNs: BigInt(time) };
  }
  // The compact layout: `<time>: <priority> sc1|rawtime|type|rawres|pid|tid|...|cgroup`.
  const fields = line.split("|");
  if (!/^\d+$/.test(fields[1]!)) return undefined;
  return { process, call: `${fields[5]} ${fields[2]} ${fields[3]}`, timeNs: BigInt(fields[1]!) };
}

/** The same syscall in both Falcos' alerts lies closer than this (each driver takes its own time). */
const SAME_EVENT_NS = 1_000_000n;

/**
 * The old Falco's alerts after the cutover probe that a cutover must still hand on. A Falco
 * learns a process that ran before it started only at the process's next execve or clone, so
 * the successor's alerts of such a process start later than the cutover probe; until its first
 * one (found in the old Falco's alerts as the same thread, event and result at nearly the same
 * time), the old Falco's count. A process the successor has no alert of is handed on up to the
 * second probe (`oldSpanEnd`, where both outputs end at the same syscall); after it, the check
 * before the cutover (unseenProcesses) is all that guards it.
 */
export function handover(
  oldHeld: readonly string[],
  oldSpanEnd: number,
  newHeld: readonly string[],
): string[] {
  const firstNew = new Map<string, AlertEvent>();
  for (const line of newHeld) {
    const event = alertEvent(line);
    if (event !== undefined && !firstNew.has(event.process)) firstNew.set(event.process, event);
  }
  const events = oldHeld.map(alertEvent);
  const byProcess = new Map<string, number[]>();
  events.forEach((event, i) => {
    if (event === undefined) return;
    const own = byProcess.get(event.process);
    if (own === undefined) byProcess.set(event.process, [i]);
    else own.push(i);
  });
  // Per process the index in oldHeld from which the successor's alerts count.
  const from = new Map<string, number>();
  for (const [process, first] of firstNew) {
    let best: number | undefined;
    let bestDistance = SAME_EVENT_NS;
    let later: number | undefined;
    for (const i of byProcess.get(process) ?? []) {
      const event = events[i]!;
      if (later === undefined && event.timeNs >= first.timeNs) later = i;
      const distance =
        event.timeNs > first.timeNs ? event.timeNs - first.timeNs : first.timeNs - event.timeNs;
      if (event.call === first.call && distance < bestDistance) {
        best = i;
        bestDistance = distance;
      }
    }
    // Without the same event (the old Falco dropped it or is behind), its time decides.
    from.set(process, best ?? later ?? oldHeld.length);
  }
  return oldHeld.filter((_, i) => {
    const event = events[i];
    if (event === undefined) return false;
    return i < (from.get(event.process) ?? oldSpanEnd);
  });
}

/**
 * Processes of pod cgroups with at least VERIFY_MIN_ALERTS alerts among the old Falco's lines
 * of which the successor's lines over the same time have fewer than a quarter: the successor
 * cannot attribute them (a process that makes fewer calls in the window goes unchecked). The old
 * Falco's alerts of events the successor's driver is not asked for (`notAskedFor`, Falco event
 * names) do not count: the successor cannot have them.
 */
export function unseenProcesses(
  oldLines: readonly string[],
  newLines: readonly string[],
  notAskedFor: ReadonlySet<string> = new Set(),
): string[] {
  const count = (lines: readonly string[], skip: ReadonlySet<string>) => {
    const counts = new Map<string, number>();
    for (const line of lines) {
      const key = alertProcess(line);
      if (key === undefined || !key.includes("kubepods")) continue;
      if (skip.size > 0 && skip.has(alertType(line) ?? "")) continue;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    return counts;
  };
  const theirs = count(newLines, new Set());
  return [...count(oldLines, notAskedFor)]
    .filter(([key, n]) => n >= VERIFY_MIN_ALERTS && (theirs.get(key) ?? 0) * 4 < n)
    .map(([key]) => key)
    .sort();
}

/** The event type of an alert line: compact's third field, or JSON's `evt.type`. */
function alertType(line: string): string | undefined {
  if (line.startsWith("{")) return /"evt\.type":"([^"]*)"/.exec(line)?.[1];
  return line.split("|", 3)[2];
}
