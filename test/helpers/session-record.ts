import type { SessionRecord } from "../../lib/contracts/types.ts";

/** A valid session record as `seccompose start` writes it: running, one-shot, no targets, no options. */
export function sessionRecord(id: string, overrides: Partial<SessionRecord> = {}): SessionRecord {
  return {
    schemaVersion: 1,
    id,
    mode: "oneshot",
    state: "running",
    createdAt: new Date().toISOString(),
    targets: {},
    profile: {},
    ...overrides,
  };
}

/** A running session recording the pods of `namespaces` (every pod without), created at a fixed time. */
export function sessionInNamespaces(id: string, namespaces?: string[]): SessionRecord {
  return sessionRecord(id, {
    createdAt: "2026-11-27T16:00:00Z",
    targets: namespaces === undefined ? {} : { namespaces },
  });
}
