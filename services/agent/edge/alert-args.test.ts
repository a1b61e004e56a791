import { describe, expect, it } from "vitest";
import { ARG_SPECS, argTupleFromRaw } from "../../../lib/profile/arg-specs.ts";
import { NO_SYSCALL_ARGS } from "../../../test/helpers/falco-alerts.ts";
import type { FalcoSyscallArgs } from "../intake/alert.ts";
import { rawArgsFromAlert } from "./alert-args.ts";

const none = NO_SYSCALL_ARGS;

describe("rawArgsFromAlert", () => {
  it("places each carried argument at its syscall position, so the argument spec finds it", () => {
    const cases: Array<[string, Partial<FalcoSyscallArgs>, string[]]> = [
      ["socket", { domain: 10n }, ["10"]],
      ["socketpair", { domain: 1n }, ["1"]],
      ["ioctl", { request: 0x5401n }, ["21505"]],
      ["prctl", { option: 38n }, ["38"]],
    ];
    for (const [syscall, args, tuple] of cases) {
      const raw = rawArgsFromAlert(syscall, { ...none, ...args });
      expect(argTupleFromRaw(ARG_SPECS[syscall]!, raw!)).toEqual(tuple);
    }
  });

  it("masks an ioctl request to its 32 bits through the argument spec", () => {
    const raw = rawArgsFromAlert("ioctl", { ...none, request: 0xffffffff00005401n });
    expect(argTupleFromRaw(ARG_SPECS["ioctl"]!, raw!)).toEqual(["21505"]);
  });

  it("gives nothing when the alert lacks the argument", () => {
    expect(rawArgsFromAlert("socket", none)).toBeUndefined();
  });

  it("gives nothing for clone, whose flags Falco renumbers, and for syscalls whose arguments are not in the alert", () => {
    expect(rawArgsFromAlert("clone", { ...none, flags: 0x11n })).toBeUndefined();
    expect(rawArgsFromAlert("mmap", { ...none, flags: 0x22n })).toBeUndefined();
    expect(rawArgsFromAlert("constructor", none)).toBeUndefined();
  });
});
