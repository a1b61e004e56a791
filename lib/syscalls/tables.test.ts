import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { isSeccomposeError } from "../errors.ts";
import {
  isKnownOn,
  syscallNameForNumber,
  syscallNames,
  syscallNumber,
  tableArchitectures,
  unknownOnAll,
} from "./tables.ts";

const X32_SYSCALL_BIT = 0x40000000;

describe("syscallNumber", () => {
  it.each([
    ["SCMP_ARCH_X86_64", "read", 0],
    ["SCMP_ARCH_X86_64", "execve", 59],
    ["SCMP_ARCH_AARCH64", "execve", 221],
    ["SCMP_ARCH_AARCH64", "openat", 56],
    ["SCMP_ARCH_RISCV64", "openat", 56],
    ["SCMP_ARCH_X86", "execve", 11],
    ["SCMP_ARCH_X86", "socketcall", 102],
    ["SCMP_ARCH_ARM", "execve", 11],
    ["SCMP_ARCH_S390X", "execve", 11],
    ["SCMP_ARCH_PPC64LE", "execve", 11],
  ])("gives %s %s the kernel number %i", (arch, name, number) => {
    expect(syscallNumber(arch, name)).toBe(number);
  });

  it("gives x32 syscalls their numbers with the x32 bit set", () => {
    expect(syscallNumber("SCMP_ARCH_X32", "read")).toBe(X32_SYSCALL_BIT + 0);
    expect(syscallNumber("SCMP_ARCH_X32", "execve")).toBe(X32_SYSCALL_BIT + 520);
  });

  it("gives multiplexed socket calls their own direct numbers, not socketcall's", () => {
    expect(syscallNumber("SCMP_ARCH_X86", "socket")).toBe(359);
    expect(syscallNumber("SCMP_ARCH_S390X", "socket")).toBe(359);
  });

  it("includes ARM's private syscalls in the 0x0f0000 range", () => {
    expect(syscallNumber("SCMP_ARCH_ARM", "cacheflush")).toBe(0x0f0002);
    expect(syscallNumber("SCMP_ARCH_ARM", "set_tls")).toBe(0x0f0005);
  });

  it("returns undefined for a syscall the architecture lacks", () => {
    expect(syscallNumber("SCMP_ARCH_AARCH64", "open")).toBeUndefined();
    expect(syscallNumber("SCMP_ARCH_X86_64", "socketcall")).toBeUndefined();
    expect(syscallNumber("SCMP_ARCH_X86_64", "frobnicate")).toBeUndefined();
  });

  it("rejects an architecture without a table, naming it and the tabled ones", () => {
    let thrown: unknown;
    try {
      syscallNumber("SCMP_ARCH_MIPS", "read");
    } catch (err) {
      thrown = err;
    }
    expect(isSeccomposeError(thrown, "SC_ARCH_UNKNOWN")).toBe(true);
    expect((thrown as Error).message).toContain('"SCMP_ARCH_MIPS"');
    expect((thrown as Error).message).toContain("SCMP_ARCH_X86_64");
  });
});

describe("isKnownOn", () => {
  it("is true when at least one of the architectures has the syscall", () => {
    expect(isKnownOn("open", ["SCMP_ARCH_AARCH64", "SCMP_ARCH_X86_64"])).toBe(true);
    expect(isKnownOn("socketcall", ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"])).toBe(true);
  });

  it("is false when none of the architectures has the syscall", () => {
    expect(isKnownOn("open", ["SCMP_ARCH_AARCH64", "SCMP_ARCH_RISCV64"])).toBe(false);
    expect(isKnownOn("read", [])).toBe(false);
  });

  it("rejects an architecture without a table", () => {
    expect(() => isKnownOn("read", ["SCMP_ARCH_X86_64", "x86_64"])).toThrow(/"x86_64"/);
  });
});

describe("unknownOnAll", () => {
  it("returns the distinct names no given architecture has, sorted", () => {
    const names = ["read", "open", "frobnicate", "arch_prctl", "frobnicate", "openat"];
    expect(unknownOnAll(names, ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"])).toEqual(["arch_prctl", "frobnicate"]);
    expect(unknownOnAll(new Set(names), ["SCMP_ARCH_X86_64"])).toEqual(["frobnicate"]);
  });

  it("returns nothing when every name is known", () => {
    expect(unknownOnAll(["read", "write", "execve"], ["SCMP_ARCH_RISCV64"])).toEqual([]);
  });
});

describe("table contents", () => {
  it("has tables for the architectures seccompose writes profiles for", () => {
    expect(tableArchitectures()).toEqual([
      "SCMP_ARCH_AARCH64",
      "SCMP_ARCH_ARM",
      "SCMP_ARCH_PPC64LE",
      "SCMP_ARCH_RISCV64",
      "SCMP_ARCH_S390",
      "SCMP_ARCH_S390X",
      "SCMP_ARCH_X32",
      "SCMP_ARCH_X86",
      "SCMP_ARCH_X86_64",
    ]);
  });

  it("lists each architecture's names sorted and without duplicates", () => {
    for (const arch of tableArchitectures()) {
      const names = syscallNames(arch);
      expect(names).toEqual([...new Set(names)].sort());
    }
  });

  it("holds plausibly complete tables", () => {
    expect(syscallNames("SCMP_ARCH_X86_64").length).toBeGreaterThanOrEqual(360);
    expect(syscallNames("SCMP_ARCH_X86_64").length).toBeLessThanOrEqual(400);
    expect(syscallNames("SCMP_ARCH_AARCH64").length).toBeGreaterThanOrEqual(300);
  });

  it("gives every name on an architecture a distinct number", () => {
    for (const arch of tableArchitectures()) {
      const numbers = syscallNames(arch).map((name) => syscallNumber(arch, name));
      expect(new Set(numbers).size, arch).toBe(numbers.length);
    }
  });
});

describe("tables.json generation", () => {
  const python = "/usr/bin/python3";
  const script = fileURLToPath(new URL("../../scripts/gen-syscall-tables.py", import.meta.url));
  const committed = fileURLToPath(new URL("./tables.json", import.meta.url));

  it("records which libseccomp produced the tables", () => {
    const { source } = JSON.parse(readFileSync(committed, "utf8")) as { source: string };
    expect(source).toMatch(/^libseccomp \d+\.\d+\.\d+/);
  });

  it("regenerates byte-for-byte identical to the committed tables.json", (ctx) => {
    const probe = spawnSync(python, ["-c", "import seccomp"], { encoding: "utf8" });
    ctx.skip(
      probe.status !== 0,
      `${python} cannot import the libseccomp binding (install python3-seccomp): ${probe.error?.message ?? probe.stderr.trim()}`,
    );
    const dir = mkdtempSync(join(tmpdir(), "seccompose-syscalls-"));
    try {
      const regenerated = join(dir, "tables.json");
      const run = spawnSync(python, [script, "--output", regenerated], { encoding: "utf8" });
      expect(run.stderr).toBe("");
      expect(run.status).toBe(0);
      expect(readFileSync(regenerated).equals(readFileSync(committed))).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("syscallNameForNumber", () => {
  it("resolves numbers a tracer printed without a name, per architecture", () => {
    expect(syscallNameForNumber("SCMP_ARCH_X86_64", 59)).toBe("execve");
    expect(syscallNameForNumber("SCMP_ARCH_X86", 11)).toBe("execve");
    expect(syscallNameForNumber("SCMP_ARCH_AARCH64", 221)).toBe("execve");
    expect(syscallNameForNumber("SCMP_ARCH_X86_64", 4000)).toBeUndefined();
  });
});
