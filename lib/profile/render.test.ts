import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { isSeccomposeError } from "../errors.ts";
import { toJsonText } from "./json.ts";
import { ociProfileJson, renderOciProfile, spoProfileYaml } from "./render.ts";
import type { ProfileSource } from "./profile-source.ts";

const X86_64 = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"];
const source = (syscalls: ProfileSource["syscalls"], argSyscalls: string[] = []): ProfileSource => ({
  architectures: X86_64,
  syscalls,
  argSyscalls,
});
const plain = (...names: string[]) => names.map((name) => ({ name, argTuples: null }));

describe("OCI renderer", () => {
  it("allows the observed names, sorted in one group, and denies the rest with EPERM", () => {
    const { profile } = renderOciProfile(source(plain("write", "read", "openat")), { baseline: "none" });
    expect(profile).toEqual({
      defaultAction: "SCMP_ACT_ERRNO",
      defaultErrnoRet: 1,
      architectures: X86_64,
      syscalls: [
        {
          names: ["exit", "exit_group", "openat", "read", "rt_sigreturn", "sigreturn", "write"],
          action: "SCMP_ACT_ALLOW",
        },
      ],
    });
  });

  it("adds the syscalls that never return and reports them as implied", () => {
    const result = renderOciProfile(source(plain("read")), { baseline: "none" });
    expect(result.impliedSyscalls).toEqual(["exit", "exit_group", "rt_sigreturn", "sigreturn"]);
  });

  it("adds the runc baseline unless told not to", () => {
    const names = renderOciProfile(source(plain("read"))).profile.syscalls[0]!.names;
    expect(names).toContain("capset");
    expect(names).toContain("close_range");
    expect(
      renderOciProfile(source(plain("read")), { baseline: "none" }).profile.syscalls[0]!.names,
    ).not.toContain("capset");
    expect(
      renderOciProfile(source(plain("read")), { baseline: "crun" }).profile.syscalls[0]!.names,
    ).toContain("pivot_root");
  });

  it("uses SCMP_ACT_LOG without an errno in complain mode", () => {
    const { profile } = renderOciProfile(source(plain("read")), { complain: true, baseline: "none" });
    expect(profile.defaultAction).toBe("SCMP_ACT_LOG");
    expect(profile).not.toHaveProperty("defaultErrnoRet");
  });

  it("never emits a rule whose action equals the default action", () => {
    for (const opts of [{}, { complain: true }, { defaultAction: "SCMP_ACT_KILL_PROCESS" as const }]) {
      const { profile } = renderOciProfile(source(plain("read", "personality")), opts);
      for (const rule of profile.syscalls) expect(rule.action).not.toBe(profile.defaultAction);
    }
  });

  it("reports names unknown on every target architecture instead of emitting them", () => {
    const result = renderOciProfile(source(plain("read", "not_a_syscall", "open")), { baseline: "none" });
    expect(result.unknownSyscalls).toEqual(["not_a_syscall"]);
    expect(JSON.stringify(result.profile)).not.toContain("not_a_syscall");
    const arm = renderOciProfile(
      { ...source(plain("read", "open")), architectures: ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"] },
      { baseline: "none" },
    );
    expect(arm.unknownSyscalls).toEqual([]);
    const aarch64Only = renderOciProfile(
      { ...source(plain("read", "open")), architectures: ["SCMP_ARCH_AARCH64"] },
      { baseline: "none" },
    );
    expect(aarch64Only.unknownSyscalls).toEqual(["open"]);
  });

  it("turns argument tuples into one rule each, grouping syscalls with the same condition", () => {
    const { profile } = renderOciProfile(
      source(
        [
          { name: "read", argTuples: null },
          { name: "socket", argTuples: [["10"], ["2"]] },
          { name: "socketpair", argTuples: [["2"]] },
          { name: "personality", argTuples: [["4294967295"], ["0"]] },
        ],
        ["socket", "socketpair", "personality"],
      ),
      { baseline: "none" },
    );
    expect(profile.syscalls.slice(1)).toEqual([
      {
        names: ["personality"],
        action: "SCMP_ACT_ALLOW",
        args: [{ index: 0, value: 0xffffffffn, valueTwo: 0n, op: "SCMP_CMP_MASKED_EQ" }],
      },
      {
        names: ["personality"],
        action: "SCMP_ACT_ALLOW",
        args: [{ index: 0, value: 0xffffffffn, valueTwo: 4294967295n, op: "SCMP_CMP_MASKED_EQ" }],
      },
      {
        names: ["socket"],
        action: "SCMP_ACT_ALLOW",
        args: [{ index: 0, value: 0xffffffffn, valueTwo: 10n, op: "SCMP_CMP_MASKED_EQ" }],
      },
      {
        names: ["socket", "socketpair"],
        action: "SCMP_ACT_ALLOW",
        args: [{ index: 0, value: 0xffffffffn, valueTwo: 2n, op: "SCMP_CMP_MASKED_EQ" }],
      },
    ]);
  });

  it("writes masked conditions with the mask in value and the datum in valueTwo", () => {
    const { profile } = renderOciProfile(source([{ name: "clone", argTuples: [["0"]] }], ["clone"]), {
      baseline: "none",
    });
    expect(profile.syscalls[1]).toEqual({
      names: ["clone"],
      action: "SCMP_ACT_ALLOW",
      args: [{ index: 0, value: 0x7e020000n, valueTwo: 0n, op: "SCMP_CMP_MASKED_EQ" }],
    });
  });

  it("allows an argument syscall unconditionally, with a warning, when some calls' arguments were not recorded", () => {
    const result = renderOciProfile(source(plain("personality"), ["personality"]), { baseline: "none" });
    expect(result.profile.syscalls).toHaveLength(1);
    expect(result.warnings[0]).toMatch(/personality: some calls were recorded without their arguments/);
  });

  it("drops argument rules of a syscall the baseline needs unconditionally, and says so", () => {
    const result = renderOciProfile(source([{ name: "prctl", argTuples: [["38"]] }], ["prctl"]), {
      baseline: "runc",
    });
    expect(result.profile.syscalls).toHaveLength(1);
    expect(result.profile.syscalls[0]!.names).toContain("prctl");
    expect(result.warnings.join()).toMatch(/prctl: the runc baseline needs it/);
  });

  it("writes exact 64-bit argument values as JSON numbers and is byte-identical across runs", () => {
    const src = source(
      [
        { name: "ioctl", argTuples: [["3221775936"]] },
        { name: "clone", argTuples: [["0"], ["268435456"]] },
      ],
      ["ioctl", "clone"],
    );
    const a = ociProfileJson(renderOciProfile(src).profile);
    const b = ociProfileJson(renderOciProfile({ ...src, syscalls: [...src.syscalls].reverse() }).profile);
    expect(a).toBe(b);
    expect(a).toContain('"value": 2114060288');
    expect(toJsonText({ value: 18446744073709551615n })).toBe('{\n  "value": 18446744073709551615\n}\n');
    expect(a).toContain('"valueTwo": 3221775936');
  });
});

describe("SPO renderer", () => {
  const workload = { namespace: "shop", kind: "Deployment", name: "web", container: "nginx" };

  it("emits a v1 SeccompProfile whose spec carries the same rules", () => {
    const { profile } = renderOciProfile(
      source(
        [
          { name: "read", argTuples: null },
          { name: "socket", argTuples: [["2"]] },
        ],
        ["socket"],
      ),
    );
    const manifest = parseYaml(spoProfileYaml(profile, { workload, session: "s1" }), { intAsBigInt: true });
    expect(manifest.apiVersion).toBe("security-profiles-operator.x-k8s.io/v1");
    expect(manifest.kind).toBe("SeccompProfile");
    expect(manifest.metadata.name).toBe("shop.deployment.web.nginx");
    expect(manifest.metadata.annotations["seccompose.dev/workload"]).toBe("shop/Deployment/web/nginx");
    expect(manifest.spec.defaultAction).toBe("SCMP_ACT_ERRNO");
    expect(manifest.spec.syscalls[1]).toEqual({
      action: "SCMP_ACT_ALLOW",
      names: ["socket"],
      args: [{ index: 0n, value: 4294967295n, valueTwo: 2n, op: "SCMP_CMP_MASKED_EQ" }],
    });
  });

  it("refuses values SPO's int64 fields cannot hold", () => {
    const { profile } = renderOciProfile(
      source([{ name: "personality", argTuples: [["18446744073709551615"]] }], ["personality"]),
    );
    try {
      spoProfileYaml(profile, { workload });
      expect.unreachable();
    } catch (err) {
      expect(isSeccomposeError(err, "SC_RENDER_UNSUPPORTED")).toBe(true);
    }
  });
});
