/**
 * KV bucket sc_installed: the profiles `profile apply` installed on every node, one key per profile
 * name, so that an agent that starts later (a new node, a restarted agent) installs them too, and
 * one that missed a `profile uninstall` removes them (a deleted key leaves a tombstone).
 *
 * The CLI writes the marks; agents only read them, without consumers, as they read sc_sessions
 * (keys by STREAM.INFO, values by DIRECT.GET; lib/nats/session-directory.ts says why). The bucket
 * holds only rendered profiles, which every node gets anyway, never the recorded documents.
 */
import { createHash } from "node:crypto";
import { jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { Kvm, type KV, type KvEntry } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import type { InstalledProfileMark } from "../contracts/types.ts";
import { assertValid } from "../contracts/validators.ts";
import { ErrorCodes, SeccomposeError } from "../errors.ts";
import { BUCKET_INSTALLED } from "../subjects.ts";
import { toSeccomposeError } from "./errors.ts";

const KEY_PREFIX = `$KV.${BUCKET_INSTALLED}.`;
/** JetStream's "stream not found". */
const STREAM_NOT_FOUND = 10059;

/** One key of the bucket: a profile to install, one uninstalled (tombstone), or a value that is not a valid mark. */
export type MarkEntry =
  | { name: string; state: "installed"; mark: InstalledProfileMark }
  | { name: string; state: "uninstalled" }
  | { name: string; state: "invalid"; error: string };

export function profileSha256(profile: string): string {
  return createHash("sha256").update(Buffer.from(profile, "utf8")).digest("hex");
}

/** A KV entry as a mark: valid against the contract, stored under its own name, and its digest right. */
export function markEntry(entry: KvEntry): MarkEntry {
  const name = entry.key;
  if (entry.operation !== "PUT") return { name, state: "uninstalled" };
  const where = `KV ${BUCKET_INSTALLED} key ${name} revision ${entry.revision}`;
  try {
    let value: unknown;
    try {
      value = entry.json();
    } catch (err) {
      throw new SeccomposeError(
        ErrorCodes.SC_MESSAGE_INVALID,
        `${where} is not JSON: ${(err as Error).message}`,
      );
    }
    const mark = assertValid("installedProfileMark", value, where);
    if (mark.name !== name) {
      throw new SeccomposeError(ErrorCodes.SC_MESSAGE_INVALID, `${where} holds profile "${mark.name}"`);
    }
    if (profileSha256(mark.profile) !== mark.sha256) {
      throw new SeccomposeError(
        ErrorCodes.SC_MESSAGE_INVALID,
        `${where}: the profile does not match its sha256`,
      );
    }
    return { name, state: "installed", mark };
  } catch (err) {
    return { name, state: "invalid", error: (err as Error).message };
  }
}

export class InstalledMarks {
  readonly #kv: KV;
  readonly #jsm: JetStreamManager;

  private constructor(kv: KV, jsm: JetStreamManager) {
    this.#kv = kv;
    this.#jsm = jsm;
  }

  /**
   * Opens the bucket (STREAM.INFO). The aggregator creates it: SC_AGGREGATOR_UNAVAILABLE while it
   * does not exist.
   */
  static async open(nc: NatsConnection): Promise<InstalledMarks> {
    try {
      const kv = await new Kvm(jetstream(nc)).open(BUCKET_INSTALLED);
      return new InstalledMarks(kv, await jetstreamManager(nc));
    } catch (err) {
      if ((err as { code?: unknown }).code === STREAM_NOT_FOUND) {
        throw new SeccomposeError(
          ErrorCodes.SC_AGGREGATOR_UNAVAILABLE,
          `KV bucket ${BUCKET_INSTALLED} does not exist: seccompose-aggregator creates it when it starts; is it running?`,
          { cause: err },
        );
      }
      throw toSeccomposeError(err, `opening KV bucket ${BUCKET_INSTALLED}`);
    }
  }

  /** Every key with a message in the bucket, tombstones included, sorted. */
  async keys(): Promise<string[]> {
    try {
      const info = await this.#jsm.streams.info(`KV_${BUCKET_INSTALLED}`, {
        subjects_filter: `${KEY_PREFIX}>`,
      });
      return Object.keys(info.state.subjects ?? {})
        .map((subject) => subject.slice(KEY_PREFIX.length))
        .sort();
    } catch (err) {
      throw toSeccomposeError(err, `listing KV ${BUCKET_INSTALLED}`);
    }
  }

  /** The key's current entry; undefined when it never existed (or its tombstone was purged). */
  async read(name: string): Promise<MarkEntry | undefined> {
    let entry;
    try {
      entry = await this.#kv.get(name);
    } catch (err) {
      throw toSeccomposeError(err, `reading ${name} from KV ${BUCKET_INSTALLED}`);
    }
    return entry === null ? undefined : markEntry(entry);
  }

  async entries(): Promise<MarkEntry[]> {
    const out: MarkEntry[] = [];
    for (const key of await this.keys()) {
      const entry = await this.read(key);
      if (entry !== undefined) out.push(entry);
    }
    return out;
  }

  /** Marks a profile as installed on every node (the CLI's `profile apply`). */
  async put(mark: InstalledProfileMark): Promise<void> {
    const valid = assertValid("installedProfileMark", mark, "the mark to store", "SC_INTERNAL");
    try {
      await this.#kv.put(valid.name, JSON.stringify(valid));
    } catch (err) {
      throw toSeccomposeError(err, `writing ${valid.name} to KV ${BUCKET_INSTALLED}`);
    }
  }

  /** Unmarks a profile, leaving a tombstone that tells agents starting later to remove it. */
  async remove(name: string): Promise<void> {
    try {
      await this.#kv.delete(name);
    } catch (err) {
      throw toSeccomposeError(err, `deleting ${name} from KV ${BUCKET_INSTALLED}`);
    }
  }
}
