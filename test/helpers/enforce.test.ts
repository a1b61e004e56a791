import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SyscallRecord } from "../../lib/strace/parse.ts";
import { recordStrace, type StraceRecording } from "../../lib/strace/record.ts";
import { RUNNER_SCRIPT, RUNNER_SYSCALLS_AFTER_LOAD, SYSTEM_PYTHON, runUnderProfile } from "./enforce.ts";

const X86_ARCHES = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"];
const C_LOCALE = { PATH: "/usr/bin:/bin", LC_ALL: "C" };

// personality(2) for each argument; prints "<persona> ok" or "<persona> errno <n>".
const PERSONALITY = [
  SYSTEM_PYTHON,
  "-I",
  "-S",
  "-c",
  `
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
for persona in sys.argv[1:]:
    ctypes.set_errno(0)
    failed = libc.personality(ctypes.c_ulong(int(persona, 0))) == -1
    print(persona, f"errno {ctypes.get_errno()}" if failed else "ok")
`,
];
// Three personas, each a valid one to set: UNAME26, ADDR_NO_RANDOMIZE, and both.
const [UNAME26, NO_RANDOMIZE, BOTH] = ["0x20000", "0x40000", "0x60000"];
const QUERY = "0xffffffff";

// getpid through the i386 entry point (int 0x80) from a 64-bit process; prints the pid.
const INT80 = [
  SYSTEM_PYTHON,
  "-I",
  "-S",
  "-c",
  `
import ctypes, mmap
code = bytes([0xb8, 20, 0, 0, 0, 0xcd, 0x80, 0xc3])  # mov eax, 20; int 0x80; ret
page = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
page.write(code)
print(ctypes.CFUNCTYPE(ctypes.c_int)(ctypes.addressof(ctypes.c_char.from_buffer(page)))())
`,
];

function syscallNames(recording: StraceRecording): string[] {
  const names = recording.records.filter((r): r is SyscallRecord => r.kind === "syscall").map((r) => r.name);
  return [...new Set(names)].sort();
}

function allowList(names: string[], extra: object[] = [], defaultAction = "SCMP_ACT_ERRNO"): object {
  return {
    defaultAction,
    architectures: X86_ARCHES,
    syscalls: [{ names, action: "SCMP_ACT_ALLOW" }, ...extra],
  };
}

function without(names: string[], name: string): string[] {
  expect(names).toContain(name);
  return names.filter((n) => n !== name);
}

/** Which of the personas personality(2) refused under `profile`, with their errno. */
async function refusedPersonas(profile: object, personas: string[]): Promise<string[]> {
  const run = await runUnderProfile(profile, [...PERSONALITY, ...personas]);
  expect(run.stderr).toBe("");
  expect(run.code).toBe(0);
  return run.stdout
    .trim()
    .split("\n")
    .filter((line) => !line.endsWith(" ok"));
}

function personalityRule(args: object[], errnoRet?: number): object {
  return {
    defaultAction: "SCMP_ACT_ALLOW",
    syscalls: [
      {
        names: ["personality"],
        action: "SCMP_ACT_ERRNO",
        ...(errnoRet === undefined ? {} : { errnoRet }),
        args,
      },
    ],
  };
}

async function runsNatively(cmd: string[]): Promise<boolean> {
  try {
    const [file = "", ...args] = cmd;
    const { stdout } = await promisify(execFile)(file, args);
    return /^\d+\n$/.test(stdout);
  } catch {
    return false;
  }
}

// Kernels built without IA32 emulation refuse int 0x80 whatever the profile says.
const ia32Available = await runsNatively(INT80);

describe("runUnderProfile with an allow-list recorded by strace", () => {
  let dir: string;
  let lsNames: string[];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "seccompose-enforce-test-"));
    await writeFile(join(dir, "marker"), "");
    const ls = await recordStrace(["ls", "/"], { env: C_LOCALE });
    expect(ls.code).toBe(0);
    lsNames = syscallNames(ls);
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("runs ls to completion when every syscall it made is allowed", async () => {
    const run = await runUnderProfile(allowList(lsNames), ["ls", "."], { cwd: dir, env: C_LOCALE });
    expect(run).toEqual({ code: 0, signal: null, stdout: "marker\n", stderr: "" });
  });

  it("makes ls fail with EPERM when getdents64 is missing from the list", async () => {
    const run = await runUnderProfile(allowList(without(lsNames, "getdents64")), ["ls", "/"], {
      env: C_LOCALE,
    });
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain("Operation not permitted");
    expect(run.stdout).toBe("");
  });

  it("returns defaultErrnoRet instead of EPERM when the profile sets it", async () => {
    const profile = { ...allowList(without(lsNames, "getdents64")), defaultErrnoRet: 13 };
    const run = await runUnderProfile(profile, ["ls", "/"], { env: C_LOCALE });
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain("Permission denied");
  });

  it("kills ls with SIGSYS when the default action is SCMP_ACT_KILL_PROCESS", async () => {
    const profile = allowList(without(lsNames, "getdents64"), [], "SCMP_ACT_KILL_PROCESS");
    const run = await runUnderProfile(profile, ["ls", "/"], { env: C_LOCALE });
    expect(run).toMatchObject({ code: null, signal: "SIGSYS", stdout: "" });
  });

  it("skips names libseccomp cannot resolve and rules whose action is the default one", async () => {
    const profile = allowList(
      [...lsNames, "no_such_syscall"],
      [{ names: ["getdents64"], action: "SCMP_ACT_ERRNO", errnoRet: 1 }],
    );
    const run = await runUnderProfile(profile, ["ls", "."], { cwd: dir, env: C_LOCALE });
    expect(run).toEqual({ code: 0, signal: null, stdout: "marker\n", stderr: "" });
  });

  it("fails to start the command, exiting 126, when execve is not allowed", async () => {
    const run = await runUnderProfile(allowList(without(lsNames, "execve")), ["ls", "/"]);
    expect(run.code).toBe(126);
    expect(run.stderr).toContain("Operation not permitted");
  });

  it("needs nothing but execve from the profile after the filter is loaded", async () => {
    const profilePath = join(dir, "allow-all.json");
    await writeFile(profilePath, JSON.stringify({ defaultAction: "SCMP_ACT_ALLOW" }));
    const runner = [SYSTEM_PYTHON, "-I", RUNNER_SCRIPT, profilePath, "--", "true"];
    const trace = await recordStrace(runner);
    expect(trace.code).toBe(0);
    const calls = trace.records.filter((r): r is SyscallRecord => r.kind === "syscall");
    // seccomp(SECCOMP_SET_MODE_FILTER, ...) = 0 is the load; the filter applies from the next call on.
    const load = calls.findIndex((c) => c.name === "seccomp" && c.args?.[0] === 1n && c.result === "0");
    expect(load).toBeGreaterThan(0);
    const exec = calls.findIndex((c, i) => i > load && c.name === "execve");
    expect(calls.slice(load + 1, exec + 1).map((c) => c.name)).toEqual(RUNNER_SYSCALLS_AFTER_LOAD);
    expect(await runUnderProfile(profilePath, ["true"])).toMatchObject({ code: 0, signal: null });
  });
});

describe("runUnderProfile with argument conditions", () => {
  it("allows personality only for the query value under an allow-list with an SCMP_CMP_EQ rule", async () => {
    const personas = [QUERY, NO_RANDOMIZE];
    const recording = await recordStrace([...PERSONALITY, ...personas]);
    expect(recording.stdout).toBe(`${QUERY} ok\n${NO_RANDOMIZE} ok\n`);
    const names = without(syscallNames(recording), "personality");
    const profile = allowList(names, [
      {
        names: ["personality"],
        action: "SCMP_ACT_ALLOW",
        args: [{ index: 0, value: 0xffffffff, op: "SCMP_CMP_EQ" }],
      },
    ]);
    expect(await refusedPersonas(profile, personas)).toEqual([`${NO_RANDOMIZE} errno 1`]);
  });

  it.each([
    ["SCMP_CMP_EQ", [NO_RANDOMIZE]],
    ["SCMP_CMP_NE", [UNAME26, BOTH]],
    ["SCMP_CMP_LT", [UNAME26]],
    ["SCMP_CMP_LE", [UNAME26, NO_RANDOMIZE]],
    ["SCMP_CMP_GT", [BOTH]],
    ["SCMP_CMP_GE", [NO_RANDOMIZE, BOTH]],
  ])("applies %s against value 0x40000", async (op, refused) => {
    const profile = personalityRule([{ index: 0, value: 0x40000, op }]);
    expect(await refusedPersonas(profile, [UNAME26, NO_RANDOMIZE, BOTH])).toEqual(
      refused.map((persona) => `${persona} errno 1`),
    );
  });

  it("reads SCMP_CMP_MASKED_EQ as (arg & value) == valueTwo, with the rule's errnoRet", async () => {
    const profile = personalityRule(
      [{ index: 0, value: 0x60000, valueTwo: 0x40000, op: "SCMP_CMP_MASKED_EQ" }],
      13,
    );
    expect(await refusedPersonas(profile, [UNAME26, NO_RANDOMIZE, BOTH])).toEqual([
      `${NO_RANDOMIZE} errno 13`,
    ]);
  });

  it("treats an absent valueTwo as 0, so a MASKED_EQ rule on flag bits matches none of them set", async () => {
    const profile = personalityRule([{ index: 0, value: 0x40000, op: "SCMP_CMP_MASKED_EQ" }]);
    expect(await refusedPersonas(profile, [UNAME26, NO_RANDOMIZE, BOTH])).toEqual([`${UNAME26} errno 1`]);
  });

  it("ORs conditions on the same argument index, as runc splits them into one rule each", async () => {
    const profile = personalityRule([
      { index: 0, value: 0x20000, op: "SCMP_CMP_EQ" },
      { index: 0, value: 0x40000, op: "SCMP_CMP_EQ" },
    ]);
    expect(await refusedPersonas(profile, [UNAME26, NO_RANDOMIZE, BOTH])).toEqual([
      `${UNAME26} errno 1`,
      `${NO_RANDOMIZE} errno 1`,
    ]);
  });

  it("passes bigint values above 2^53 to libseccomp exactly", async () => {
    const profile = personalityRule([{ index: 0, value: 0xffffffffffffffffn, op: "SCMP_CMP_LT" }]);
    expect(await refusedPersonas(profile, [UNAME26, BOTH])).toEqual([
      `${UNAME26} errno 1`,
      `${BOTH} errno 1`,
    ]);
  });
});

describe.skipIf(!ia32Available)("runUnderProfile architectures", () => {
  it("kills a process making an i386 syscall when SCMP_ARCH_X86 is not listed", async () => {
    const run = await runUnderProfile(
      { defaultAction: "SCMP_ACT_ALLOW", architectures: ["SCMP_ARCH_X86_64"] },
      INT80,
    );
    expect(run).toMatchObject({ code: null, signal: "SIGSYS" });
  });

  it("lets the i386 syscall through when SCMP_ARCH_X86 is listed", async () => {
    const run = await runUnderProfile({ defaultAction: "SCMP_ACT_ALLOW", architectures: X86_ARCHES }, INT80);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^\d+\n$/);
  });
});

describe("runUnderProfile with a bad profile", () => {
  it.each([
    ["an unknown default action", { defaultAction: "SCMP_ACT_MAYBE" }, "unknown action 'SCMP_ACT_MAYBE'"],
    [
      "defaultErrnoRet with an action that takes no errno",
      { defaultAction: "SCMP_ACT_ALLOW", defaultErrnoRet: 1 },
      "defaultErrnoRet",
    ],
    [
      "an architecture runc does not accept",
      { defaultAction: "SCMP_ACT_ALLOW", architectures: ["SCMP_ARCH_NATIVE"] },
      "architectures[0]",
    ],
    [
      "an unknown operator",
      personalityRule([{ index: 0, value: 1, op: "SCMP_CMP_ABOUT" }]),
      "syscalls[0].args[0].op: unknown operator 'SCMP_CMP_ABOUT'",
    ],
    [
      "an argument index past 5",
      personalityRule([{ index: 6, value: 1, op: "SCMP_CMP_EQ" }]),
      "syscalls[0].args[0].index",
    ],
    [
      "a value past 64 bits",
      personalityRule([{ index: 0, value: 2 ** 64, op: "SCMP_CMP_EQ" }]),
      "syscalls[0].args[0].value",
    ],
    [
      "an empty names list",
      { defaultAction: "SCMP_ACT_ERRNO", syscalls: [{ names: [], action: "SCMP_ACT_ALLOW" }] },
      "syscalls[0].names",
    ],
    ["SCMP_ACT_NOTIFY, which needs a listener", { defaultAction: "SCMP_ACT_NOTIFY" }, "SCMP_ACT_NOTIFY"],
    ["an unknown flag", { defaultAction: "SCMP_ACT_ALLOW", flags: ["SECCOMP_FILTER_FLAG_FAST"] }, "flags[0]"],
  ])("exits 2 without running the command for %s", async (_what, profile, message) => {
    const run = await runUnderProfile(profile, ["echo", "ran"]);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe("");
    expect(run.stderr).toContain(message);
  });

  it("exits 2 for a profile file that is not JSON", async () => {
    const dir = await mkdtemp(join(tmpdir(), "seccompose-enforce-test-"));
    try {
      const path = join(dir, "broken.json");
      await writeFile(path, "{ defaultAction");
      const run = await runUnderProfile(path, ["echo", "ran"]);
      expect(run.code).toBe(2);
      expect(run.stderr).toContain(`${path}: cannot read the profile`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
