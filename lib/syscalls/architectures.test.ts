import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { isSeccomposeError } from "../errors.ts";
import {
  localNodeArch,
  nativeScmpArch,
  normalizeNodeArch,
  scmpArchesForNode,
  scmpArchesForNodes,
} from "./architectures.ts";
import { tableArchitectures } from "./tables.ts";

const ALL_SPELLINGS = [
  ["x86_64", "x86_64"],
  ["amd64", "x86_64"],
  ["x64", "x86_64"],
  ["i386", "x86"],
  ["i686", "x86"],
  ["ia32", "x86"],
  ["386", "x86"],
  ["x86", "x86"],
  ["aarch64", "aarch64"],
  ["arm64", "aarch64"],
  ["arm", "arm"],
  ["armv7l", "arm"],
  ["armv8l", "arm"],
  ["riscv64", "riscv64"],
  ["s390x", "s390x"],
  ["ppc64le", "ppc64le"],
] as const;

describe("normalizeNodeArch", () => {
  it.each(ALL_SPELLINGS)("reads %s as %s", (raw, canonical) => {
    expect(normalizeNodeArch(raw)).toBe(canonical);
  });

  it("ignores case and surrounding whitespace", () => {
    expect(normalizeNodeArch(" AMD64\n")).toBe("x86_64");
  });

  it.each(["mips64", "ppc64", "loong64", ""])("rejects %j, naming it and the accepted values", (raw) => {
    let thrown: unknown;
    try {
      normalizeNodeArch(raw);
    } catch (err) {
      thrown = err;
    }
    expect(isSeccomposeError(thrown, "SC_ARCH_UNKNOWN")).toBe(true);
    expect((thrown as Error).message).toContain(`"${raw}"`);
    expect((thrown as Error).message).toContain("amd64, x64");
  });
});

describe("scmpArchesForNode", () => {
  it.each([
    ["x86_64", ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]],
    ["amd64", ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]],
    ["i686", ["SCMP_ARCH_X86"]],
    ["arm64", ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]],
    ["armv7l", ["SCMP_ARCH_ARM"]],
    ["riscv64", ["SCMP_ARCH_RISCV64"]],
    ["s390x", ["SCMP_ARCH_S390X", "SCMP_ARCH_S390"]],
    ["ppc64le", ["SCMP_ARCH_PPC64LE"]],
  ])("gives a %s node the native arch followed by its compat arches", (raw, arches) => {
    expect(scmpArchesForNode(raw)).toEqual(arches);
  });

  it("returns a fresh array the caller may change", () => {
    scmpArchesForNode("x86_64").push("SCMP_ARCH_MIPS" as never);
    expect(scmpArchesForNode("x86_64")).toHaveLength(3);
  });

  it("only names architectures that have syscall tables", () => {
    const tabled = new Set(tableArchitectures());
    for (const [raw] of ALL_SPELLINGS) {
      for (const arch of scmpArchesForNode(raw)) expect(tabled.has(arch), `${raw} -> ${arch}`).toBe(true);
    }
  });
});

describe("nativeScmpArch", () => {
  it("gives the node's native seccomp arch", () => {
    expect(nativeScmpArch("amd64")).toBe("SCMP_ARCH_X86_64");
    expect(nativeScmpArch("aarch64")).toBe("SCMP_ARCH_AARCH64");
    expect(nativeScmpArch("i386")).toBe("SCMP_ARCH_X86");
  });
});

describe("scmpArchesForNodes", () => {
  it("lists native arches first, then compat arches, each in canonical order", () => {
    expect(scmpArchesForNodes(["arm64", "amd64", "x86_64"])).toEqual([
      "SCMP_ARCH_X86_64",
      "SCMP_ARCH_AARCH64",
      "SCMP_ARCH_X86",
      "SCMP_ARCH_X32",
      "SCMP_ARCH_ARM",
    ]);
  });

  it("gives the same result whatever the order of the nodes", () => {
    const nodes = ["s390x", "arm64", "riscv64", "amd64"];
    expect(scmpArchesForNodes([...nodes].reverse())).toEqual(scmpArchesForNodes(nodes));
  });

  it("counts an arch as native when one node runs it natively", () => {
    expect(scmpArchesForNodes(["x86_64", "i686"])).toEqual([
      "SCMP_ARCH_X86_64",
      "SCMP_ARCH_X86",
      "SCMP_ARCH_X32",
    ]);
    expect(scmpArchesForNodes(["armv7l", "aarch64"])).toEqual(["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]);
  });

  it("accepts any iterable and returns nothing for no nodes", () => {
    expect(scmpArchesForNodes(new Set(["riscv64"]))).toEqual(["SCMP_ARCH_RISCV64"]);
    expect(scmpArchesForNodes([])).toEqual([]);
  });

  it("rejects an unsupported node architecture among the nodes", () => {
    expect(() => scmpArchesForNodes(["amd64", "mips64le"])).toThrow(/"mips64le"/);
  });
});

describe("localNodeArch", () => {
  it("agrees with uname -m on this machine", () => {
    const uname = execFileSync("uname", ["-m"], { encoding: "utf8" });
    expect(localNodeArch()).toBe(normalizeNodeArch(uname));
  });
});
