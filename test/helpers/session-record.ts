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
