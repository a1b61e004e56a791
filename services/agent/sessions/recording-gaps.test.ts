import { describe, expect, it } from "vitest";
import {
  bookDrops,
  closeCaptureGaps,
  closeUncovered,
  finGaps,
  noteCaptureChange,
  type RecordingGaps,
} from "./recording-gaps.ts";

function book(startedAt = 1_000): RecordingGaps {
  return { gaps: [], startedAt, captured: false, down: undefined, uncovered: undefined, dirty: false };
}

describe("recording gaps", () => {
  it("books a window without capture once capture resumes, and one from the start if Falco never captured", () => {
    const b = book();
    noteCaptureChange(b, { capturing: false, at: 1_500, reason: "not yet" });
    expect(b.down).toBeUndefined();
    noteCaptureChange(b, { capturing: true, at: 2_000 });
    noteCaptureChange(b, { capturing: false, at: 3_000, reason: "Falco exited (signal SIGKILL)" });
    noteCaptureChange(b, { capturing: true, at: 4_500 });
    expect(finGaps(b.gaps)).toEqual([{ from: 3_000, to: 4_500, reason: "Falco exited (signal SIGKILL)" }]);
    expect(b.dirty).toBe(true);

    const never = book(1_000);
    closeCaptureGaps(never, 9_000, () => "state failed");
    expect(finGaps(never.gaps)).toEqual([
      {
        from: 1_000,
        to: 9_000,
        reason: "Falco never captured on this node during the session (state failed)",
      },
    ]);
  });

  it("joins drop seconds of one Falco within 5 s, keeps the two Falcos of a split apart, and starts anew after a pause", () => {
    const b = book();
    const hot = ["read", "write"];
    bookDrops(b, 10_000, 5, hot);
    bookDrops(b, 10_000, 2, undefined);
    bookDrops(b, 11_000, 4, hot);
    bookDrops(b, 12_000, 1, undefined);
    bookDrops(b, 30_000, 6, undefined);
    expect(finGaps(b.gaps)).toEqual([
      {
        from: 9_000,
        to: 11_000,
        reason:
          "the hot-syscall Falco dropped 9 events (all processes of the node; only read, write can be missing)",
      },
      { from: 9_000, to: 12_000, reason: "Falco dropped 3 events (all processes of the node)" },
      { from: 29_000, to: 30_000, reason: "Falco dropped 6 events (all processes of the node)" },
    ]);
  });

  it("names the workloads that ran while syscalls they had not shown were left out", () => {
    const b = book();
    b.captured = true;
    b.uncovered = {
      from: 5_000,
      syscalls: ["read", "write"],
      workloads: new Map([
        ["b", { namespace: "shop", kind: "Deployment", name: "web", container: "nginx" }],
        ["a", { namespace: "shop", kind: "StatefulSet", name: "db", container: "pg" }],
      ]),
    };
    closeUncovered(b, 4_000);
    expect(b.uncovered).toBeUndefined();
    expect(finGaps(b.gaps)).toEqual([
      {
        from: 5_000,
        to: 5_000,
        reason:
          "Falco's driver was not asked for read, write (adaptive syscall set) when shop/Deployment/web/nginx, shop/StatefulSet/db/pg first ran",
      },
    ]);
  });
});
