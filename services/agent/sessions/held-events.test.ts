import { describe, expect, it } from "vitest";
import type { FalcoSyscallAlert } from "../intake/alert.ts";
import { HeldEvents } from "./held-events.ts";

const alert = (syscall: string) => ({ syscall }) as FalcoSyscallAlert;

describe("HeldEvents", () => {
  it("drops the oldest event when full and says so", () => {
    const held = new HeldEvents(2);
    expect(held.push({ alert: alert("a"), heldAt: 1 })).toBe(0);
    expect(held.push({ alert: alert("b"), heldAt: 2 })).toBe(0);
    expect(held.push({ alert: alert("c"), heldAt: 3 })).toBe(1);
    expect(held.takeAll().map((e) => e.alert.syscall)).toEqual(["b", "c"]);
    expect(held.size).toBe(0);
  });

  it("expires the events held for the hold time, oldest first", () => {
    const held = new HeldEvents(10);
    for (const [name, at] of [
      ["a", 0],
      ["b", 5],
      ["c", 10],
    ] as const)
      held.push({ alert: alert(name), heldAt: at });
    expect(held.expire(14, 10)).toBe(1);
    expect(held.expire(15, 10)).toBe(1);
    expect(held.takeAll().map((e) => e.alert.syscall)).toEqual(["c"]);
  });

  it("stays correct across many drops from the front", () => {
    const held = new HeldEvents(100);
    let dropped = 0;
    for (let i = 0; i < 5000; i++) dropped += held.push({ alert: alert(`s${i}`), heldAt: i });
    expect(dropped).toBe(4900);
    expect(held.size).toBe(100);
    expect(held.expire(4950, 1)).toBe(50);
    const rest = held.takeAll();
    expect(rest.map((e) => e.heldAt)).toEqual(Array.from({ length: 50 }, (_, i) => 4950 + i));
  });
});
