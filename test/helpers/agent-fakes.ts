/**
 * Fakes of the agent's ports (services/agent/ports.ts) for the session tests: Falco, the event
 * publisher and the pod directory, each recording what it was asked.
 */
import type { FinMarker, SyscallEventBatch } from "../../lib/contracts/types.ts";
import { SeccomposeError } from "../../lib/errors.ts";
import type {
  CaptureChange,
  EventPublisher,
  FalcoControl,
  FalcoState,
  FalcoStatus,
  FalcoTargets,
  PodDirectory,
  PodInfo,
} from "../../services/agent/ports.ts";

/** A Falco that always applies (unless `failure` is set) and whose capture the test switches. */
export class FakeFalco implements FalcoControl {
  readonly applied: string[][] = [];
  state: FalcoState = "running";
  lastExit: string | undefined;
  barrierResult = true;
  /** Thrown by every apply while set. */
  failure: Error | undefined;
  readonly #listeners: Array<(change: CaptureChange) => void> = [];
  async apply(targets: FalcoTargets): Promise<void> {
    this.applied.push(targets.sessions.map((s) => s.id));
    if (this.failure !== undefined) throw this.failure;
  }
  status(): FalcoStatus {
    const status: FalcoStatus = {
      state: this.state,
      version: "0.44.1",
      pid: 4242,
      restarts: 1,
      driverSet: { excluded: [], swaps: 0, swapFailures: 0, swapping: false },
    };
    if (this.lastExit !== undefined) status.lastExit = this.lastExit;
    return status;
  }
  async stop(): Promise<void> {}
  onCaptureChange(listener: (change: CaptureChange) => void): void {
    this.#listeners.push(listener);
  }
  capture(change: CaptureChange): void {
    this.state = change.capturing ? "running" : "backoff";
    for (const listener of this.#listeners) listener(change);
  }
  async barrier(): Promise<boolean> {
    return this.barrierResult;
  }
}

/** Keeps a deep copy of what it is given; fails the next `failures` publishes as a full spool. */
export class FakePublisher implements EventPublisher {
  readonly messages: Array<SyscallEventBatch | FinMarker> = [];
  failures = 0;
  async publish(message: SyscallEventBatch | FinMarker): Promise<void> {
    if (this.failures > 0) {
      this.failures--;
      throw new SeccomposeError("SC_SPOOL_FULL", "spool is full");
    }
    // Deep copy: the publisher must not see later changes of what it was given.
    this.messages.push(structuredClone(message));
  }
  async drain(): Promise<void> {}
  spoolBytes(): number {
    return 512;
  }
  batches(session: string): SyscallEventBatch[] {
    return this.messages.filter((m): m is SyscallEventBatch => m.kind === "batch" && m.session === session);
  }
  fins(session: string): FinMarker[] {
    return this.messages.filter((m): m is FinMarker => m.kind === "fin" && m.session === session);
  }
}

/** The pods of a node, which the test adds to. */
export class FakePods implements PodDirectory {
  readonly #pods = new Map<string, PodInfo>();
  readonly #listeners: Array<() => void> = [];
  constructor(pods: PodInfo[] = []) {
    for (const pod of pods) this.#pods.set(pod.uid, pod);
  }
  pods(): PodInfo[] {
    return [...this.#pods.values()];
  }

  byUid(uid: string): PodInfo | undefined {
    return this.#pods.get(uid);
  }
  onChange(listener: () => void): void {
    this.#listeners.push(listener);
  }
  add(pod: PodInfo): void {
    this.#pods.set(pod.uid, pod);
    for (const listener of this.#listeners) listener();
  }
}
