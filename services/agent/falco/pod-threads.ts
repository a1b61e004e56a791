/**
 * Pod threads a Falco does not know, listed from /proc, and their attribution.
 *
 * A Falco learns the threads that ran before it started from its start-up scan. Where that scan
 * fails (the Falco 0.44.1 built for these machines: its task iterator fails the verifier, and
 * the /proc fallback leaves the threads unknown), such a thread's events come with `proc.pid`
 * -1 and no cgroup until its next execve or clone, so a rule on the cgroup loses them: after an
 * agent or Falco restart, every long-running target process goes unrecorded.
 *
 * So the agent lists, just before each Falco starts, the threads of pod cgroups (`podThreads`);
 * the rule also matches an unknown thread when it is one of those (config-writer), and the agent
 * restores the pid and cgroup of such an alert from that listing before anything reads it
 * (`attributeUnknownThread`). A thread created between the listing and the start of capture, that
 * then neither execs nor clones, stays unknown: the same as before, but for a far smaller set.
 */
import { readdirSync, readFileSync } from "node:fs";
import { attributeCgroup } from "../intake/cgroup.ts";

/** What an alert of a thread Falco did not know lacks. */
export interface ThreadOrigin {
  readonly pid: number;
  /** As Falco's `thread.cgroup.cpu` shows it. */
  readonly cgroup: string;
}

export type ThreadOriginLookup = (tid: number) => ThreadOrigin | null;

/**
 * The path Falco's `thread.cgroup.cpu` shows, from a `/proc/<tid>/cgroup` file: the cgroup v1
 * line whose controllers include `cpu`, else the cgroup v2 line (`0::<path>`).
 */
export function cpuCgroupPath(procCgroup: string): string | undefined {
  let unified: string | undefined;
  for (const line of procCgroup.split("\n")) {
    const first = line.indexOf(":");
    const second = first < 0 ? -1 : line.indexOf(":", first + 1);
    if (second < 0) continue;
    const controllers = line.slice(first + 1, second);
    const path = line.slice(second + 1);
    if (controllers === "") unified = path;
    else if (controllers.split(",").includes("cpu")) return path;
  }
  return unified;
}

function readOrNull(path: string): string | null {
  try {
    return readFileSync(path, "latin1");
  } catch {
    return null;
  }
}

/** More threads than this are not listed in a rule; the rest stay unknown until they exec or clone. */
export const MAX_LISTED_THREADS = 20_000;

/**
 * The threads of processes in kubelet pod cgroups under `procRoot` (the host's /proc), except
 * those of `excludePodUids`, by host tid (ascending), each with its process and cgroup as the
 * listing found them: an alert of such a thread is attributed from here, not from /proc when it
 * arrives, because by then the thread may have exited (the last alerts of a process come after
 * its exit). A process's cgroup decides for all its threads; one that exits meanwhile is skipped.
 */
export function podThreads(
  procRoot: string,
  excludePodUids: readonly string[] = [],
  limit = MAX_LISTED_THREADS,
): Map<number, ThreadOrigin> {
  const excluded = new Set(excludePodUids);
  let entries: string[];
  try {
    entries = readdirSync(procRoot);
  } catch {
    return new Map();
  }
  const threads: [number, ThreadOrigin][] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const cgroupFile = readOrNull(`${procRoot}/${entry}/cgroup`);
    const cgroup = cgroupFile === null ? undefined : cpuCgroupPath(cgroupFile);
    const pod = cgroup === undefined ? null : attributeCgroup(cgroup);
    if (cgroup === undefined || pod === null || excluded.has(pod.podUid)) continue;
    let tids: string[];
    try {
      tids = readdirSync(`${procRoot}/${entry}/task`);
    } catch {
      continue;
    }
    const origin: ThreadOrigin = { pid: Number(entry), cgroup };
    for (const tid of tids) if (/^\d+$/.test(tid)) threads.push([Number(tid), origin]);
  }
  threads.sort((a, b) => a[0] - b[0]);
  return new Map(threads.slice(0, limit));
}

const COMPACT_UNKNOWN_CGROUP = "|<NA>";
const JSON_UNKNOWN_CGROUP = '"thread.cgroup.cpu":null';
const JSON_UNKNOWN_PID = '"proc.pid":-1';
const JSON_TID = /"thread\.tid":(\d+)/;

/**
 * The alert line with the pid and cgroup of a thread Falco did not know filled in from the listing,
 * or the line itself when Falco knew the thread (or it was not listed: then it stays
 * unattributed, as before). Compact lines: `…sc1|rawtime|type|rawres|pid|tid|…|cgroup`, the
 * cgroup last. JSON lines: the two `output_fields` values (a container's text is escaped inside
 * JSON strings, so the unquoted patterns cannot come from it).
 */
export function attributeUnknownThread(line: string, lookup: ThreadOriginLookup): string {
  if (line.endsWith(COMPACT_UNKNOWN_CGROUP)) {
    const fields = line.split("|");
    if (fields.length < 7 || fields[4] !== "-1" || !/^\d+$/.test(fields[5]!)) return line;
    const origin = lookup(Number(fields[5]));
    if (origin === null) return line;
    fields[4] = String(origin.pid);
    fields[fields.length - 1] = origin.cgroup;
    return fields.join("|");
  }
  if (line.charCodeAt(0) === 123 && line.includes(JSON_UNKNOWN_CGROUP)) {
    const tid = JSON_TID.exec(line)?.[1];
    const origin = tid === undefined ? null : lookup(Number(tid));
    if (origin === null) return line;
    return line
      .replace(JSON_UNKNOWN_CGROUP, `"thread.cgroup.cpu":${JSON.stringify(origin.cgroup)}`)
      .replace(JSON_UNKNOWN_PID, `"proc.pid":${origin.pid}`);
  }
  return line;
}
