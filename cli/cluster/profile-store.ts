/**
 * Reading what the aggregator stored in KV sc_profiles: `<session>.<token>` holds a workload's
 * latest document, `<session>.<token>.rev.<n>` every revision of a continuous session. A value is
 * a ProfileDocument or, when it was too large, a ProfilePointer to the Object Store, which is
 * followed and checked against its size and SHA-256.
 */
import { createHash } from "node:crypto";
import type { JetStreamClient } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { Objm } from "@nats-io/obj";
import type { NatsConnection } from "@nats-io/transport-node";
import type { ProfileDocument } from "../../lib/contracts/types.ts";
import { assertValid } from "../../lib/contracts/validators.ts";
import { ErrorCodes, SeccomposeError } from "../../lib/errors.ts";
import { retryTransient, toSeccomposeError } from "../../lib/nats/errors.ts";
import { BUCKET_PROFILES, profileKey } from "../../lib/subjects.ts";
import { profileRevisionKey } from "../../lib/subjects.ts";
import { openBucket } from "./session-store.ts";

export interface ProfileKeyParts {
  key: string;
  session: string;
  token: string;
  /** Set for a revision key. */
  revision?: number;
}

/** `<session>.<token>[.rev.<n>]`; undefined for any other key. */
export function parseProfileKey(key: string): ProfileKeyParts | undefined {
  const parts = key.split(".");
  if (parts.length === 2) return { key, session: parts[0]!, token: parts[1]! };
  if (parts.length === 4 && parts[2] === "rev" && /^\d+$/.test(parts[3]!)) {
    return { key, session: parts[0]!, token: parts[1]!, revision: Number(parts[3]) };
  }
  return undefined;
}

export class ProfileStore {
  readonly #kv: KV;
  readonly #nc: NatsConnection;

  private constructor(kv: KV, nc: NatsConnection) {
    this.#kv = kv;
    this.#nc = nc;
  }

  static async open(nc: NatsConnection, js: JetStreamClient): Promise<ProfileStore> {
    return new ProfileStore(await openBucket(js, BUCKET_PROFILES), nc);
  }

  /** Keys of one session (or every session), latest documents and revisions alike, sorted. */
  async keys(session?: string): Promise<ProfileKeyParts[]> {
    let out: ProfileKeyParts[];
    try {
      // Listing makes a consumer on the bucket's stream, which times out while its leader changes.
      out = await retryTransient(async () => {
        const listed: ProfileKeyParts[] = [];
        for await (const key of await this.#kv.keys(session !== undefined ? `${session}.>` : undefined)) {
          const parts = parseProfileKey(key);
          if (parts !== undefined) listed.push(parts);
        }
        return listed;
      }, 6);
    } catch (err) {
      throw toSeccomposeError(err, `listing KV ${BUCKET_PROFILES}`);
    }
    return out.sort(
      (a, b) =>
        a.session.localeCompare(b.session) ||
        a.token.localeCompare(b.token) ||
        (a.revision ?? -1) - (b.revision ?? -1),
    );
  }

  /** The latest documents of a session's workloads, by workload token. */
  async latest(session: string): Promise<ProfileDocument[]> {
    const docs: ProfileDocument[] = [];
    for (const k of await this.keys(session)) {
      if (k.revision !== undefined) continue;
      const doc = await this.get(k.key);
      if (doc !== undefined) docs.push(doc);
    }
    return docs;
  }

  /** Revision numbers stored for one workload (continuous sessions). */
  async revisions(session: string, token: string): Promise<number[]> {
    return (await this.keys(session))
      .filter((k) => k.token === token && k.revision !== undefined)
      .map((k) => k.revision!);
  }

  /** The document under `key`, following a pointer; undefined when the key has no value. */
  async get(key: string): Promise<ProfileDocument | undefined> {
    let entry;
    try {
      entry = await this.#kv.get(key);
    } catch (err) {
      throw toSeccomposeError(err, `reading ${key} from KV ${BUCKET_PROFILES}`);
    }
    if (entry === null || entry.operation !== "PUT") return undefined;
    const where = `KV ${BUCKET_PROFILES} key ${key}`;
    let value: unknown;
    try {
      value = entry.json();
    } catch {
      throw new SeccomposeError(ErrorCodes.SC_DOCUMENT_INVALID, `${where} is not JSON`);
    }
    if ((value as { kind?: unknown } | null)?.kind === "ProfilePointer") {
      const pointer = assertValid("profilePointer", value, where, "SC_DOCUMENT_INVALID");
      value = await this.#object(pointer.objectStore, pointer.object, pointer.size, pointer.sha256, where);
    }
    return assertValid("profileDocument", value, where, "SC_DOCUMENT_INVALID");
  }

  /** The latest document of a workload, or of one revision of it; SC_PROFILE_NOT_FOUND otherwise. */
  async require(session: string, token: string, revision?: number): Promise<ProfileDocument> {
    const latestKey = profileKey(session, token);
    let doc: ProfileDocument | undefined;
    if (revision === undefined) doc = await this.get(latestKey);
    else {
      // One-shot sessions store their single revision under the latest key only.
      doc = await this.get(profileRevisionKey(session, token, revision));
      if (doc === undefined) {
        const latest = await this.get(latestKey);
        if (latest?.revision === revision) doc = latest;
      }
    }
    if (doc === undefined) {
      throw new SeccomposeError(
        ErrorCodes.SC_PROFILE_NOT_FOUND,
        revision !== undefined
          ? `workload ${token} of session ${session} has no revision ${revision} in KV ${BUCKET_PROFILES}`
          : `no profile under ${latestKey} in KV ${BUCKET_PROFILES} (the session may not have published one yet)`,
      );
    }
    return doc;
  }

  async #object(store: string, name: string, size: number, sha256: string, where: string): Promise<unknown> {
    let bytes: Uint8Array | null;
    try {
      const os = await new Objm(this.#nc).open(store);
      bytes = await os.getBlob(name);
    } catch (err) {
      throw toSeccomposeError(
        err,
        `reading object ${name} of Object Store ${store} (pointed to by ${where})`,
      );
    }
    const what = `object ${name} in Object Store ${store} (pointed to by ${where})`;
    if (bytes === null) throw new SeccomposeError(ErrorCodes.SC_PROFILE_NOT_FOUND, `${what} does not exist`);
    const digest = createHash("sha256").update(bytes).digest("hex");
    if (bytes.length !== size || digest !== sha256) {
      throw new SeccomposeError(
        ErrorCodes.SC_DOCUMENT_INVALID,
        `${what} is ${bytes.length} bytes with SHA-256 ${digest}, but the pointer says ${size} bytes with ${sha256}`,
      );
    }
    try {
      return JSON.parse(new TextDecoder().decode(bytes));
    } catch {
      throw new SeccomposeError(ErrorCodes.SC_DOCUMENT_INVALID, `${what} is not JSON`);
    }
  }
}
