/**
 * Everything the aggregator writes for others: profile documents (KV sc_profiles, or the Object
 * Store sc_profiles_big behind a pointer when large), the session record's final state, and the
 * status, convergence and drift events.
 *
 * Keys in sc_profiles:
 * - `<session>.<workload token>`: the latest document of that workload (one-shot: the final one).
 * - `<session>.<workload token>.rev.<n>`: continuous sessions keep every revision n under its own key,
 *   so the history is complete however long the session runs (KV history would be capped at 64).
 * - `<session>.<workload token>.drift`: a frozen workload's DriftReport (bounded to fit one value).
 * A profile value is either a ProfileDocument or, when the encoded document exceeds the KV value
 * limit, a ProfilePointer (schemas/aggregator-status.schema.json) naming the object that holds it;
 * the object is named like the key.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import type { KV } from "@nats-io/kv";
import type { ObjectStore } from "@nats-io/obj";
import type {
  ConvergenceEvent,
  DriftEvent,
  DriftReport,
  ProfileDocument,
  ProfilePointer,
  SessionFinalisedEvent,
  SessionRecord,
} from "../../lib/contracts/types.ts";
import { isValid } from "../../lib/contracts/validators.ts";
import {
  OBJECT_STORE_PROFILES,
  convergenceSubject,
  driftReportKey,
  driftSubject,
  profileKey,
  statusEventSubject,
} from "../../lib/subjects.ts";
import { isCasConflict } from "../../lib/nats/errors.ts";
import { sha256Hex } from "./checkpoint.ts";

const encoder = new TextEncoder();

export type StoredProfile =
  { where: "kv"; value: Uint8Array } | { where: "object"; object: Uint8Array; value: Uint8Array };

/** How a document is stored under `key`: inline, or in the Object Store behind a pointer. */
export function storedProfile(key: string, doc: ProfileDocument, kvValueMaxBytes: number): StoredProfile {
  const bytes = encoder.encode(JSON.stringify(doc));
  if (bytes.length <= kvValueMaxBytes) return { where: "kv", value: bytes };
  const pointer: ProfilePointer = {
    schemaVersion: 1,
    kind: "ProfilePointer",
    session: doc.session,
    workload: doc.workload,
    revision: doc.revision,
    status: doc.status,
    objectStore: OBJECT_STORE_PROFILES,
    object: key,
    size: bytes.length,
    sha256: sha256Hex(bytes),
  };
  return { where: "object", object: bytes, value: encoder.encode(JSON.stringify(pointer)) };
}

export interface PublisherOptions {
  nc: NatsConnection;
  profiles: KV;
  objects: ObjectStore;
  sessions: KV;
  kvValueMaxBytes: number;
}

export class Publisher {
  readonly #o: PublisherOptions;

  constructor(opts: PublisherOptions) {
    this.#o = opts;
  }

  /**
   * Stores `doc` under `key`; returns where the document itself went. With `expectRevision`, only
   * if the key is still at that KV revision (0: absent): false when another writer came first.
   */
  async putProfile(key: string, doc: ProfileDocument): Promise<"kv" | "object">;
  async putProfile(
    key: string,
    doc: ProfileDocument,
    expectRevision: number,
  ): Promise<"kv" | "object" | false>;
  async putProfile(
    key: string,
    doc: ProfileDocument,
    expectRevision?: number,
  ): Promise<"kv" | "object" | false> {
    const stored = storedProfile(key, doc, this.#o.kvValueMaxBytes);
    if (stored.where === "object") await this.#o.objects.putBlob({ name: key }, stored.object);
    if (expectRevision === undefined) {
      await this.#o.profiles.put(key, stored.value);
      return stored.where;
    }
    try {
      if (expectRevision === 0) await this.#o.profiles.create(key, stored.value);
      else await this.#o.profiles.update(key, stored.value, expectRevision);
    } catch (err) {
      if (isCasConflict(err) || /key exists/i.test(String(err))) return false;
      throw err;
    }
    return stored.where;
  }

  async putDriftReport(report: DriftReport): Promise<void> {
    await this.#o.profiles.put(driftReportKey(report.session, report.workloadToken), JSON.stringify(report));
  }

  /**
   * The document stored under `key` (following a pointer into the Object Store) and where it is,
   * or undefined when nothing (valid) is.
   */
  async storedDocument(
    key: string,
  ): Promise<{ doc: ProfileDocument; storage: "kv" | "object"; revision: number } | undefined> {
    const entry = await this.#o.profiles.get(key);
    if (entry === null || entry.operation !== "PUT") return undefined;
    const revision = entry.revision;
    const value: unknown = entry.json();
    if (isValid("profileDocument", value)) return { doc: value as ProfileDocument, storage: "kv", revision };
    if (!isValid("profilePointer", value)) return undefined;
    const bytes = await this.#o.objects.getBlob((value as ProfilePointer).object);
    if (bytes === null) return undefined;
    let doc: unknown;
    try {
      doc = JSON.parse(new TextDecoder().decode(bytes));
    } catch {
      return undefined;
    }
    return isValid("profileDocument", doc)
      ? { doc: doc as ProfileDocument, storage: "object", revision }
      : undefined;
  }

  /** KV revision of `key` (0: absent or deleted). */
  async revisionOf(key: string): Promise<number> {
    const entry = await this.#o.profiles.get(key);
    return entry === null ? 0 : entry.revision;
  }

  /** Revision of the latest document stored for a workload, or undefined when there is none. */
  async latestRevision(session: string, token: string): Promise<number | undefined> {
    const entry = await this.#o.profiles.get(profileKey(session, token));
    if (entry === null || entry.operation !== "PUT") return undefined;
    const value = entry.json<{ revision?: unknown }>();
    return typeof value.revision === "number" ? value.revision : undefined;
  }

  /**
   * Sets the session record's state to "stopped" with compare-and-set, so a concurrent change by the
   * CLI is never overwritten. Returns what it found: no (valid) record, already stopped, or now stopped.
   */
  async markSessionStopped(session: string): Promise<"absent" | "invalid" | "already" | "stopped"> {
    for (;;) {
      const entry = await this.#o.sessions.get(session);
      if (entry === null || entry.operation !== "PUT") return "absent";
      const value: unknown = entry.json();
      if (!isValid("sessionRecord", value)) return "invalid";
      const record = value as SessionRecord;
      if (record.state === "stopped") return "already";
      try {
        await this.#o.sessions.update(
          session,
          JSON.stringify({ ...record, state: "stopped" }),
          entry.revision,
        );
        return "stopped";
      } catch (err) {
        if (!isCasConflict(err)) throw err;
      }
    }
  }

  publishFinalised(event: SessionFinalisedEvent): void {
    this.#o.nc.publish(statusEventSubject(event.session), JSON.stringify(event));
  }

  publishConvergence(event: ConvergenceEvent): void {
    this.#o.nc.publish(convergenceSubject(event.session, event.workloadToken), JSON.stringify(event));
  }

  publishDrift(event: DriftEvent): void {
    this.#o.nc.publish(driftSubject(event.session, event.workloadToken), JSON.stringify(event));
  }

  /** Waits until the server has every core publish so far (events before the checkpoint that covers them). */
  async flush(): Promise<void> {
    await this.#o.nc.flush();
  }
}
