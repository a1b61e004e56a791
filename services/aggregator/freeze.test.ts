import { describe, expect, it } from "vitest";
import type { SessionRecord } from "../../lib/contracts/types.ts";
import { isSeccomposeError } from "../../lib/errors.ts";
import type { KV } from "@nats-io/kv";
import { handleFreeze, withFrozen } from "./freeze.ts";

const record: SessionRecord = {
  schemaVersion: 1,
  id: "c1",
  mode: "continuous",
  state: "running",
  createdAt: "2026-11-27T10:00:00Z",
  targets: {},
  profile: {},
  continuous: { convergenceWindowSeconds: 600, frozen: ["b_Pod_x_c"] },
};

describe("withFrozen", () => {
  it("adds workload tokens to the frozen list once, sorted, keeping the other continuous settings", () => {
    const next = withFrozen(record, { session: "c1", workloadTokens: ["a_Pod_y_c", "b_Pod_x_c"] });
    expect(next.continuous).toEqual({ convergenceWindowSeconds: 600, frozen: ["a_Pod_y_c", "b_Pod_x_c"] });
    expect(record.continuous?.frozen).toEqual(["b_Pod_x_c"]);
  });

  it("removes workload tokens on unfreeze", () => {
    const next = withFrozen(record, { session: "c1", workloadTokens: ["b_Pod_x_c"], unfreeze: true });
    expect(next.continuous?.frozen).toEqual([]);
  });

  it("refuses to freeze a one-shot session", () => {
    try {
      withFrozen({ ...record, mode: "oneshot" }, { session: "c1", workloadTokens: ["b_Pod_x_c"] });
      expect.unreachable();
    } catch (err) {
      expect(isSeccomposeError(err, "SC_USAGE")).toBe(true);
      expect((err as Error).message).toBe(
        "session c1 is a one-shot session; only continuous sessions can be frozen",
      );
    }
  });
});

describe("handleFreeze", () => {
  it("refuses to accept and unfreeze in one request, before reading anything", async () => {
    const accept = () => Promise.reject(new Error("not to be called"));
    await expect(
      handleFreeze({} as KV, accept, {
        session: "c1",
        workloadTokens: ["b_Pod_x_c"],
        unfreeze: true,
        accept: ["ptrace"],
      }),
    ).rejects.toMatchObject({ code: "SC_USAGE" });
  });
});
