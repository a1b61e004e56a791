/**
 * Partition leases in KV bucket sc_aggregator_leases, so that aggregator replicas divide the
 * partitions of SC_EVENTS among themselves on JetStream alone, with no coordinator process:
 *
 * - `replica.<id>`: each replica's heartbeat, written every round; the live replicas are the keys.
 * - `partition.<p>`: the lease. Claimed with create (only if absent), renewed with compare-and-set
 *   on its revision; the bucket's max_age is the expiry, so the leases of a replica that stopped
 *   renewing vanish and another replica's create succeeds.
 *
 * Each replica aims at a fair share, ceil(partitions / live replicas): below it, it claims free
 * partitions; above it (a replica joined), it hands the extra ones back gracefully (the partition's
 * aggregator checkpoints and stops, then the lease is deleted) for the newcomer to claim.
 *
 * A lease is held, as far as this replica is concerned, until its last successful renewal's send
 * time plus the TTL minus a margin: the server's expiry starts later than that, so a paused replica
 * (GC, SIGSTOP) knows on waking that it may no longer write, before anyone else could have claimed.
 */
import type { Logger } from "pino";

export const DEFAULT_LEASE_TTL_MS = 10_000;

/** The part of a KV bucket the leases use (nats.js `KV` fits it). */
export interface LeaseKv {
  create(key: string, value: string): Promise<number>;
  update(key: string, value: string, revision: number): Promise<number>;
  put(key: string, value: string): Promise<number>;
  delete(key: string, opts?: { previousSeq?: number }): Promise<void>;
  keys(filter?: string): Promise<AsyncIterable<string>>;
  get(key: string): Promise<{ revision: number; operation: string; string(): string } | null>;
}

export interface LeaseHandlers {
  /** The lease was claimed: start the partition's aggregator. A rejection gives the lease back. */
  acquired(partition: number): Promise<void>;
  /** The lease is to be handed back: stop the partition's aggregator gracefully first. */
  releasing(partition: number): Promise<void>;
  /** The lease was lost (renewal refused or expired): stop at once, writing nothing. */
  lost(partition: number): void;
}

export interface LeaseOptions {
  replica: string;
  partitions: number;
  ttlMs: number;
  clock: () => number;
  logger: Logger;
  handlers: LeaseHandlers;
}

interface Held {
  revision: number;
  /** Local clock time until which this replica may act on the partition. */
  validUntil: number;
}

export const leaseKey = (partition: number): string => `partition.${partition}`;
export const replicaKey = (replica: string): string => `replica.${replica}`;

/** Partitions a replica should hold out of `partitions` when `live` replicas share them. */
export function fairShare(partitions: number, live: number): number {
  return Math.ceil(partitions / Math.max(1, live));
}

export class PartitionLeases {
  readonly #kv: LeaseKv;
  readonly #o: LeaseOptions;
  readonly #held = new Map<number, Held>();
  #timer: NodeJS.Timeout | undefined;
  #round: Promise<void> | undefined;
  #stopped = false;

  constructor(kv: LeaseKv, opts: LeaseOptions) {
    this.#kv = kv;
    this.#o = opts;
  }

  /** Whether this replica may still act on (write results of) the partition. */
  holds(partition: number): boolean {
    const held = this.#held.get(partition);
    return held !== undefined && this.#o.clock() < held.validUntil;
  }

  /** Partitions held, in order. */
  held(): number[] {
    return [...this.#held.keys()].sort((a, b) => a - b);
  }

  /** Runs a first round (claiming what is free), then one every third of the TTL. */
  async start(): Promise<void> {
    await this.round();
    this.#timer = setInterval(() => void this.round(), Math.max(100, Math.floor(this.#o.ttlMs / 3)));
  }

  /** Forgets a lease the partition's aggregator found taken (its checkpoint was overwritten). */
  drop(partition: number): void {
    if (this.#held.delete(partition)) this.#o.handlers.lost(partition);
  }

  /** Heartbeat, renewals, then hand back or claim partitions towards the fair share; one at a time. */
  round(): Promise<void> {
    this.#round ??= this.#doRound()
      .catch((err: unknown) => this.#o.logger.warn({ err }, "lease round failed"))
      .finally(() => {
        this.#round = undefined;
      });
    return this.#round;
  }

  async #doRound(): Promise<void> {
    if (this.#stopped) return;
    const { replica, partitions, ttlMs, clock, logger, handlers } = this.#o;
    const value = JSON.stringify({ replica, at: new Date(clock()).toISOString() });
    await this.#kv.put(replicaKey(replica), value);
    for (const [p, held] of [...this.#held]) {
      const sentAt = clock();
      try {
        held.revision = await this.#kv.update(leaseKey(p), value, held.revision);
        held.validUntil = sentAt + ttlMs - Math.floor(ttlMs / 5);
      } catch (err) {
        if (!this.#held.has(p)) continue;
        logger.warn({ event: "partition.lease-lost", partition: p, err }, "partition lease lost");
        this.drop(p);
      }
    }
    let live = 0;
    for await (const _ of await this.#kv.keys(`${replicaKey("*")}`)) live++;
    const share = fairShare(partitions, live);
    for (const p of this.held().reverse()) {
      if (this.#held.size <= share || this.#stopped) break;
      await this.#release(p, "partition.handed-back", "handing a partition back to share the work");
    }
    if (this.#stopped) return;
    // Start at a replica-dependent offset, so replicas starting together rarely race for the same key.
    const offset = [...replica].reduce((h, c) => (h * 31 + c.charCodeAt(0)) >>> 0, 0) % partitions;
    for (let i = 0; i < partitions && this.#held.size < share && !this.#stopped; i++) {
      const p = (offset + i) % partitions;
      if (this.#held.has(p)) continue;
      const sentAt = clock();
      const revision = await this.#claim(p, value);
      if (revision === undefined) continue;
      this.#held.set(p, { revision, validUntil: sentAt + ttlMs - Math.floor(ttlMs / 5) });
      logger.info({ partition: p, share, live }, "partition lease claimed");
      try {
        await handlers.acquired(p);
      } catch (err) {
        logger.error({ partition: p, err }, "could not take the partition over");
        if (this.#held.has(p))
          await this.#release(
            p,
            "partition.start-failed",
            "giving the lease back after a failed start",
            false,
          );
      }
    }
  }

  /**
   * Creates the lease if absent; also takes back a lease this replica's name still holds (the same
   * pod restarted: its previous process is gone), instead of waiting for it to expire.
   */
  async #claim(partition: number, value: string): Promise<number | undefined> {
    try {
      return await this.#kv.create(leaseKey(partition), value);
    } catch {
      const entry = await this.#kv.get(leaseKey(partition)).catch(() => null);
      if (entry === null || entry.operation !== "PUT") return undefined;
      let holder: unknown;
      try {
        holder = (JSON.parse(entry.string()) as { replica?: unknown }).replica;
      } catch {
        return undefined;
      }
      if (holder !== this.#o.replica) return undefined;
      return this.#kv.update(leaseKey(partition), value, entry.revision).catch(() => undefined);
    }
  }

  async #release(partition: number, event: string, why: string, graceful = true): Promise<void> {
    const held = this.#held.get(partition);
    if (held === undefined) return;
    if (graceful) await this.#o.handlers.releasing(partition);
    this.#held.delete(partition);
    await this.#kv.delete(leaseKey(partition), { previousSeq: held.revision }).catch(() => undefined);
    this.#o.logger.info({ event, partition }, why);
  }

  /** Hands every partition back gracefully and removes the heartbeat. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    await this.#round;
    for (const p of this.held())
      await this.#release(p, "partition.released", "partition handed back at shutdown");
    await this.#kv.delete(replicaKey(this.#o.replica)).catch(() => undefined);
  }
}
