import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { SeccomposeError } from "../../../lib/errors.ts";
import type { FalcoStatus } from "../ports.ts";
import { HealthBook, type HealthMoment } from "./health-book.ts";

const T0 = 1_800_000_000_000;
const IDENTITY = { node: "node-a", arch: "aarch64", kernel: "6.18.0", agentVersion: "0.1.0" };
const DRIVER_SET = { excluded: ["futex"], swaps: 2, swapFailures: 0, swapping: false };

function moment(falco: Partial<FalcoStatus> = {}): HealthMoment {
  return {
    falco: { state: "running", restarts: 0, driverSet: DRIVER_SET, ...falco },
    adaptive: "active",
    activeSessions: ["s1"],
    spoolBytes: 2048,
    heldEvents: 3,
  };
}

describe("HealthBook", () => {
  it("reports the node, Falco's status with only the fields it has, and the counters with the spool and held events", () => {
    const book = new HealthBook(IDENTITY, 60_000, () => T0, pino({ level: "silent" }));
    book.counters.batchesSent += 4;
    const health = book.report(moment({ version: "0.44.1", lastExit: "exit code 1" }));
    expect(health).toMatchObject({ ...IDENTITY, activeSessions: ["s1"] });
    expect(health.falco).toEqual({
      state: "running",
      restarts: 0,
      version: "0.44.1",
      lastExit: "exit code 1",
      driverSet: { ...DRIVER_SET, adaptive: "active" },
    });
    expect(health.counters).toEqual({
      alertsRead: 0,
      parseErrors: 0,
      eventsSent: 0,
      batchesSent: 4,
      falcoDrops: 0,
      unattributedEvents: 0,
      spoolBytes: 2048,
      heldEvents: 3,
    });
  });

  it("keeps the last 20 errors with their codes, an unknown error as SC_INTERNAL", () => {
    const book = new HealthBook(IDENTITY, 60_000, () => T0, pino({ level: "silent" }));
    book.noteError(new SeccomposeError("SC_FILE_READ", "cannot read"));
    for (let i = 0; i < 20; i++) book.noteError(new Error(`broken ${i}`));
    const { lastErrors, recent } = book.report(moment());
    expect(lastErrors).toHaveLength(20);
    expect(lastErrors[0]).toEqual({
      code: "SC_INTERNAL",
      message: "broken 0",
      at: new Date(T0).toISOString(),
    });
    expect(recent).toMatchObject({ errors: 21 });
  });

  it("counts alerts and parse errors over the recent window, alerts once they are booked", () => {
    let now = T0;
    const book = new HealthBook(IDENTITY, 60_000, () => now, pino({ level: "silent" }));
    book.counters.alertsRead += 5;
    book.noteParseError(new SeccomposeError("SC_ALERT_MALFORMED", "Falco alert is not JSON"));
    book.bookAlerts();
    expect(book.report(moment()).recent).toEqual({
      windowSeconds: 60,
      alertsRead: 5,
      parseErrors: 1,
      errors: 1,
    });
    now += 61_000;
    book.counters.alertsRead += 2;
    const health = book.report(moment());
    expect(health.recent).toEqual({ windowSeconds: 60, alertsRead: 2, parseErrors: 0, errors: 0 });
    expect(health.counters).toMatchObject({ alertsRead: 7, parseErrors: 1 });
  });
});
