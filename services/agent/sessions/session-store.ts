/**
 * The agent's local record of its sessions: `<stateDir>/sessions/<id>/data.json`, replaced
 * atomically (write to a temporary file, fsync, rename) so that a crash leaves either the old or
 * the new record, never a torn one. It is what lets a restarted agent resume a session with the
 * same counts and batch numbers, and what node-local profiles are rendered from.
 */
import { mkdir, open, readdir, readFile, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import type { SessionRecord, SyscallEventBatch } from "../../../lib/contracts/types.ts";
import { assertValid } from "../../../lib/contracts/validators.ts";
import { ErrorCodes, SeccomposeError } from "../../../lib/errors.ts";
import type { ContainerSnapshot } from "../edge/novelty-tracker.ts";

export type SessionState = SessionRecord["state"];

export interface Gap {
  from: number;
  to: number;
  /** Why nothing (or not everything) was recorded; in the FIN. */
  reason?: string;
  /** Events Falco reported dropped in the window, when that is the reason. */
  drops?: number;
}

/** Everything but the tracker's tuples. */
export interface SessionDataHeader {
  version: 1;
  session: SessionRecord;
  /** This node's state of the session; "stopped" once its FIN was published. */
  state: SessionState;
  /** The seq the next batch gets. */
  nextSeq: number;
  /** Batches acknowledged by the publisher. */
  batchesSent: number;
  droppedEvents: number;
  eventsSeen: number;
  gaps: Gap[];
  /** Milliseconds since the epoch. */
  persistedAt: number;
  /** Batches numbered and drained but not yet acknowledged; published again, with the same seq, after a restart. */
  pending: SyscallEventBatch[];
}

export interface SessionData extends SessionDataHeader {
  containers: ContainerSnapshot[];
}

export function sessionDataFile(stateDir: string, sessionId: string): string {
  return join(stateDir, "sessions", sessionId, "data.json");
}

/** Removes a finished session's local record. */
export async function removeSessionData(stateDir: string, sessionId: string): Promise<void> {
  try {
    await rm(join(stateDir, "sessions", sessionId), { recursive: true, force: true });
  } catch (err) {
    throw new SeccomposeError(
      ErrorCodes.SC_FILE_WRITE,
      `cannot remove the local record of session ${sessionId}: ${(err as Error).message}`,
      { cause: err },
    );
  }
}

const WRITE_CHUNK_CHARS = 1 << 20;

/** Replaces a session's data.json; `containersJson` is the tracker's snapshot as JSON text pieces. */
export async function writeSessionData(
  stateDir: string,
  header: SessionDataHeader,
  containersJson: Iterable<string>,
): Promise<void> {
  const file = sessionDataFile(stateDir, header.session.id);
  const tmp = `${file}.tmp`;
  try {
    await mkdir(join(stateDir, "sessions", header.session.id), { recursive: true });
    const handle = await open(tmp, "w");
    try {
      const head = JSON.stringify(header);
      let buffer = `${head.slice(0, -1)},"containers":`;
      for (const piece of containersJson) {
        buffer += piece;
        if (buffer.length >= WRITE_CHUNK_CHARS) {
          await handle.write(buffer);
          buffer = "";
        }
      }
      await handle.write(`${buffer}}\n`);
      await handle.datasync();
    } finally {
      await handle.close();
    }
    await rename(tmp, file);
  } catch (err) {
    throw new SeccomposeError(
      ErrorCodes.SC_FILE_WRITE,
      `cannot write session record ${file}: ${(err as Error).message}`,
      { cause: err },
    );
  }
}

/** Every session record under stateDir; unreadable ones are reported in `errors` rather than thrown. */
export async function readAllSessionData(
  stateDir: string,
): Promise<{ sessions: SessionData[]; errors: SeccomposeError[] }> {
  const root = join(stateDir, "sessions");
  let ids: string[];
  try {
    ids = (await readdir(root, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return { sessions: [], errors: [] };
    throw new SeccomposeError(ErrorCodes.SC_FILE_READ, `cannot list ${root}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const sessions: SessionData[] = [];
  const errors: SeccomposeError[] = [];
  for (const id of ids.sort()) {
    const file = sessionDataFile(stateDir, id);
    try {
      sessions.push(parseSessionData(await readFile(file, "utf8"), file));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") continue;
      errors.push(
        err instanceof SeccomposeError
          ? err
          : new SeccomposeError(
              ErrorCodes.SC_FILE_READ,
              `cannot read session record ${file}: ${(err as Error).message}`,
              {
                cause: err,
              },
            ),
      );
    }
  }
  return { sessions, errors };
}

/** Parses and checks one data.json; throws SC_FILE_READ naming the file and field. */
export function parseSessionData(text: string, file: string): SessionData {
  const invalid = (field: string, problem: string): never => {
    throw new SeccomposeError(ErrorCodes.SC_FILE_READ, `session record ${file}: ${field} ${problem}`);
  };
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    return invalid("(root)", `is not JSON: ${(err as Error).message}`);
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc))
    return invalid("(root)", "is not an object");
  const d = doc as Record<string, unknown>;
  if (d["version"] !== 1) invalid("version", "must be 1");
  const session = assertValid(
    "sessionRecord",
    d["session"],
    `session record ${file}`,
    ErrorCodes.SC_FILE_READ,
  );
  if (!["running", "stopping", "stopped"].includes(d["state"] as string))
    invalid("state", "must be running, stopping or stopped");
  for (const key of ["nextSeq", "batchesSent", "droppedEvents", "eventsSeen", "persistedAt"]) {
    const n = d[key];
    if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 0)
      invalid(key, "must be a non-negative integer");
  }
  if ((d["nextSeq"] as number) < 1) invalid("nextSeq", "must be at least 1");
  const gaps = d["gaps"];
  if (!Array.isArray(gaps) || !gaps.every((g) => isInteger((g as Gap)?.from) && isInteger((g as Gap)?.to))) {
    invalid("gaps", "must be a list of {from, to} times");
  }
  const pending = d["pending"];
  if (!Array.isArray(pending)) return invalid("pending", "must be a list");
  pending.forEach((batch, i) => {
    const valid = assertValid(
      "eventMessage",
      batch,
      `session record ${file} pending[${i}]`,
      ErrorCodes.SC_FILE_READ,
    );
    if (valid.kind !== "batch") invalid(`pending[${i}]`, "must be a batch");
  });
  const containers = d["containers"];
  if (!Array.isArray(containers)) return invalid("containers", "must be a list");
  containers.forEach((c: unknown, i) => checkContainer(c, `containers[${i}]`, invalid));
  return { ...(d as unknown as SessionData), session };
}

function isInteger(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

function checkContainer(
  value: unknown,
  at: string,
  invalid: (field: string, problem: string) => never,
): void {
  const c = value as Partial<ContainerSnapshot> | null;
  if (typeof c !== "object" || c === null) invalid(at, "must be an object");
  if (typeof c!.key !== "string") invalid(`${at}.key`, "must be a string");
  const w = c!.workload;
  if (
    typeof w !== "object" ||
    w === null ||
    ![w.namespace, w.kind, w.name, w.container].every((s) => typeof s === "string")
  ) {
    invalid(`${at}.workload`, "must be a workload key");
  }
  const m = c!.meta;
  if (
    typeof m !== "object" ||
    m === null ||
    ![m.pod, m.podUid, m.containerId].every((s) => typeof s === "string")
  ) {
    invalid(`${at}.meta`, "must have pod, podUid and containerId");
  }
  if (!Array.isArray(c!.tuples)) invalid(`${at}.tuples`, "must be a list");
  c!.tuples!.forEach((t, j) => {
    const ok =
      Array.isArray(t) &&
      t.length === 5 &&
      typeof t[0] === "string" &&
      (t[1] === null || (Array.isArray(t[1]) && t[1].every((v) => typeof v === "string"))) &&
      isInteger(t[2]) &&
      isInteger(t[3]) &&
      typeof t[4] === "boolean";
    if (!ok) invalid(`${at}.tuples[${j}]`, "must be [name, args|null, count, firstSeen, sent (boolean)]");
  });
}
