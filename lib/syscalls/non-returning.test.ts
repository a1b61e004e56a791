import { describe, expect, it } from "vitest";
import { nonReturningSyscalls } from "./non-returning.ts";

describe("nonReturningSyscalls", () => {
  it("gives exit, exit_group and rt_sigreturn on 64-bit-only arches", () => {
    expect(nonReturningSyscalls(["SCMP_ARCH_X86_64"])).toEqual(["exit", "exit_group", "rt_sigreturn"]);
    expect(nonReturningSyscalls(["SCMP_ARCH_AARCH64"])).toEqual(["exit", "exit_group", "rt_sigreturn"]);
    expect(nonReturningSyscalls(["SCMP_ARCH_RISCV64"])).toEqual(["exit", "exit_group", "rt_sigreturn"]);
  });

  it("adds sigreturn when one of the arches has it", () => {
    const expected = ["exit", "exit_group", "rt_sigreturn", "sigreturn"];
    expect(nonReturningSyscalls(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"])).toEqual(expected);
    expect(nonReturningSyscalls(["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"])).toEqual(expected);
    expect(nonReturningSyscalls(["SCMP_ARCH_ARM"])).toEqual(expected);
  });

  it("leaves out restart_syscall, which returns and so is reported", () => {
    expect(nonReturningSyscalls(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"])).not.toContain("restart_syscall");
  });

  it("gives nothing for no arches", () => {
    expect(nonReturningSyscalls([])).toEqual([]);
  });

  it("rejects an architecture without a syscall table", () => {
    expect(() => nonReturningSyscalls(["SCMP_ARCH_MIPS"])).toThrow(/"SCMP_ARCH_MIPS"/);
  });
});
