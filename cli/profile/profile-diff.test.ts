import { describe, expect, it } from "vitest";
import type { ProfileSource } from "../../lib/profile/profile-source.ts";
import { diffProfiles, formatDiff, rightAllowsMore } from "./profile-diff.ts";

const source = (
  syscalls: ProfileSource["syscalls"],
  architectures = ["SCMP_ARCH_X86_64"],
): ProfileSource => ({
  architectures,
  syscalls,
  argSyscalls: ["socket", "personality"],
});

describe("profile diff", () => {
  it("lists syscalls added and removed, and argument values allowed now or no more", () => {
    const left = source([
      { name: "read", argTuples: null },
      { name: "getdents64", argTuples: null },
      { name: "socket", argTuples: [["1"], ["2"]] },
      { name: "personality", argTuples: [["0"]] },
    ]);
    const right = source(
      [
        { name: "read", argTuples: null },
        { name: "connect", argTuples: null },
        { name: "socket", argTuples: [["2"], ["10"]] },
        { name: "personality", argTuples: null },
      ],
      ["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"],
    );
    const diff = diffProfiles(left, right);
    expect(diff).toEqual({
      identical: false,
      added: ["connect"],
      removed: ["getdents64"],
      arguments: [
        { syscall: "personality", added: [], removed: [], leftAnyArgs: false, rightAnyArgs: true },
        { syscall: "socket", added: [["10"]], removed: [["1"]], leftAnyArgs: false, rightAnyArgs: false },
      ],
      architectures: { added: ["SCMP_ARCH_AARCH64"], removed: [] },
    });
    expect(formatDiff(diff, "a", "b")).toEqual([
      "--- a",
      "+++ b",
      "+ architecture SCMP_ARCH_AARCH64",
      "- getdents64",
      "+ connect",
      "~ personality: only the recorded values -> any arguments",
      "- socket(1)",
      "+ socket(10)",
    ]);
  });

  it("finds two profiles with the same rules identical, whatever their order", () => {
    const a = source([
      { name: "read", argTuples: null },
      { name: "socket", argTuples: [["1"], ["2"]] },
    ]);
    const b = source([
      { name: "socket", argTuples: [["2"], ["1"]] },
      { name: "read", argTuples: null },
    ]);
    expect(diffProfiles(a, b).identical).toBe(true);
    expect(formatDiff(diffProfiles(a, b), "a", "b").at(-1)).toBe("(no difference)");
  });

  it("tells whether the right profile allows more than the left, and not the other way round", () => {
    const base = source([
      { name: "read", argTuples: null },
      { name: "socket", argTuples: [["1"]] },
    ]);
    const wider = [
      source([...base.syscalls, { name: "ptrace", argTuples: null }]),
      source(base.syscalls, ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]),
      source([
        { name: "read", argTuples: null },
        { name: "socket", argTuples: [["1"], ["2"]] },
      ]),
      source([
        { name: "read", argTuples: null },
        { name: "socket", argTuples: null },
      ]),
    ];
    for (const w of wider) {
      expect(rightAllowsMore(diffProfiles(base, w))).toBe(true);
      // The same change read backwards only narrows.
      expect(rightAllowsMore(diffProfiles(w, base))).toBe(false);
    }
    expect(rightAllowsMore(diffProfiles(base, base))).toBe(false);
  });
});
