import { describe, expect, it } from "vitest";
import type { CaptureChange } from "../ports.ts";
import { CaptureWindows } from "./capture-windows.ts";

describe("CaptureWindows", () => {
  it("keeps when the window opened and tells every listener of each change, also past one that throws", () => {
    const errors: unknown[] = [];
    const windows = new CaptureWindows({
      error: (entry: { err: unknown }) => errors.push(entry.err),
    } as never);
    const heard: CaptureChange[] = [];
    windows.listen(() => {
      throw new Error("listener broke");
    });
    windows.listen((change) => heard.push(change));
    expect(windows.since).toBeUndefined();

    windows.open(1_000);
    expect(windows.since).toBe(1_000);
    // Opening alone tells nobody: the supervisor tells once its state says so too.
    expect(heard).toEqual([]);
    windows.tell({ capturing: true, at: 1_000 });
    windows.close(2_000, "Falco was stopped");
    expect(windows.since).toBeUndefined();
    expect(heard).toEqual([
      { capturing: true, at: 1_000 },
      { capturing: false, at: 2_000, reason: "Falco was stopped" },
    ]);
    expect(errors).toHaveLength(2);
  });
});
