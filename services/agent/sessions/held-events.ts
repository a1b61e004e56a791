import type { FalcoSyscallAlert } from "../intake/alert.ts";

export interface HeldEvent {
  alert: FalcoSyscallAlert;
  /** When it was first held (ms), kept when it is held again after a failed attribution. */
  heldAt: number;
}

/**
 * Events of containers whose pod the directory does not know yet, in the order they were held,
 * bounded: when full, the oldest gives way. Kept as an array with a moving head so that dropping
 * from the front costs nothing per event.
 */
export class HeldEvents {
  readonly #capacity: number;
  #items: HeldEvent[] = [];
  #head = 0;

  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  get size(): number {
    return this.#items.length - this.#head;
  }

  /** Holds an event; returns the number of events dropped to make room (0 or 1). */
  push(event: HeldEvent): number {
    let dropped = 0;
    if (this.size >= this.#capacity) {
      this.#advance(1);
      dropped = 1;
    }
    this.#items.push(event);
    return dropped;
  }

  /** Drops the events held for `holdMs` or longer at `now`; returns how many. */
  expire(now: number, holdMs: number): number {
    let expired = 0;
    while (
      this.#head + expired < this.#items.length &&
      this.#items[this.#head + expired]!.heldAt + holdMs <= now
    ) {
      expired++;
    }
    this.#advance(expired);
    return expired;
  }

  /** Empties the queue and returns its events, oldest first. */
  takeAll(): HeldEvent[] {
    const events = this.#items.slice(this.#head);
    this.#items = [];
    this.#head = 0;
    return events;
  }

  #advance(count: number): void {
    this.#head += count;
    // Compact once the dead prefix outweighs the live part.
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
  }
}
