import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runUnderProfile, SYSTEM_PYTHON } from "../helpers/enforce.ts";
import { runCli } from "./cli.ts";

/**
 * The proof that a recorded profile works: each command is recorded with `seccompose record`,
 * then run again under the profile, enforced by libseccomp; removing one syscall it needs
 * makes it fail with EPERM.
 */
const THREADS = [
  "import threading",
  "out = []",
  "def work(i):",
  "    out.append(sum(range(i * 1000)))",
  "ts = [threading.Thread(target=work, args=(i,)) for i in range(8)]",
  "[t.start() for t in ts]",
  "[t.join() for t in ts]",
  "print(len(out))",
].join("\n");

interface Workload {
  title: string;
  cmd: string[];
  /** A syscall the command cannot do without, and what its failure looks like. */
  needs: string;
  failure: RegExp;
}

const WORKLOADS: Workload[] = [
  { title: "ls", cmd: ["ls", "-la", "/usr"], needs: "getdents64", failure: /Operation not permitted/ },
  {
    title: "a shell pipeline of five processes",
    cmd: ["sh", "-c", "cat /etc/passwd | cut -d: -f7 | sort | uniq -c | wc -l"],
    needs: "pipe2",
    failure: /Operation not permitted|Cannot create pipe|pipe/i,
  },
  {
    title: "a multi-threaded python program",
    cmd: [SYSTEM_PYTHON, "-c", THREADS],
    needs: "clone3",
    failure: /can't start new thread|Operation not permitted/,
  },
];

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "seccompose-enforce-test-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function record(
  name: string,
  cmd: string[],
  extra: string[] = [],
): Promise<{ profile: Record<string, unknown>; path: string; stdout: string }> {
  const path = join(dir, `${name}.json`);
  const res = await runCli(["record", "--output-file", path, ...extra, "--", ...cmd]);
  expect(res.stderr).toMatch(/profile written to/);
  expect(res.code).toBe(0);
  return { profile: JSON.parse(await readFile(path, "utf8")), path, stdout: res.stdout };
}

type Rule = { names: string[]; action: string; args?: unknown[] };

function without(profile: Record<string, unknown>, syscall: string): Record<string, unknown> {
  const rules = (profile.syscalls as Rule[]).map((r) => ({
    ...r,
    names: r.names.filter((n) => n !== syscall),
  }));
  return { ...profile, syscalls: rules.filter((r) => r.names.length > 0) };
}

describe("profiles recorded by seccompose record", () => {
  for (const w of WORKLOADS) {
    it(`let ${w.title} run under the profile, and fail with EPERM without ${w.needs}`, async () => {
      const { profile, path, stdout } = await record(w.title.replace(/\W+/g, "-"), w.cmd, [
        "--baseline",
        "none",
      ]);
      const names = (profile.syscalls as Rule[]).flatMap((r) => r.names);
      expect(names).toContain(w.needs);

      const confined = await runUnderProfile(path, w.cmd);
      expect(confined.stderr).toBe("");
      expect(confined.code).toBe(0);
      expect(confined.stdout).toBe(stdout);

      const broken = await runUnderProfile(without(profile, w.needs), w.cmd);
      expect(broken.code).not.toBe(0);
      expect(broken.stderr).toMatch(w.failure);
    });
  }

  it("records every process of a pipeline and every thread, not just the first", async () => {
    const res = await runCli([
      "record",
      "--output-file",
      join(dir, "threads.json"),
      "--",
      SYSTEM_PYTHON,
      "-c",
      THREADS,
    ]);
    const processes = Number(/from (\d+) processes\/threads/.exec(res.stderr)?.[1]);
    expect(processes).toBeGreaterThanOrEqual(9);
  });

  it("turns recorded personality arguments into a rule that admits the recorded value only", async () => {
    const call = (persona: string) => [
      SYSTEM_PYTHON,
      "-c",
      `import ctypes, os; libc = ctypes.CDLL(None, use_errno=True); r = libc.personality(${persona}); print(r, os.strerror(ctypes.get_errno()) if r == -1 else "ok")`,
    ];
    const { profile, path } = await record("personality", call("0xffffffff"), [
      "--args",
      "personality",
      "--baseline",
      "none",
    ]);
    expect((profile.syscalls as Rule[]).find((r) => r.names.includes("personality"))?.args).toEqual([
      { index: 0, value: 4294967295, valueTwo: 4294967295, op: "SCMP_CMP_MASKED_EQ" },
    ]);
    const allowed = await runUnderProfile(path, call("0xffffffff"));
    expect(allowed.stdout).toMatch(/ ok/);
    const denied = await runUnderProfile(path, call("0x0040000"));
    expect(denied.stdout.trim()).toBe("-1 Operation not permitted");
  });

  it("turns recorded socket families into rules that deny other families", async () => {
    const open = (family: string) => [
      SYSTEM_PYTHON,
      "-c",
      `import socket; s = socket.socket(socket.${family}); print("opened")`,
    ];
    const { path } = await record("socket", open("AF_INET"), ["--args", "socket"]);
    expect((await runUnderProfile(path, open("AF_INET"))).stdout).toBe("opened\n");
    const denied = await runUnderProfile(path, open("AF_INET6"));
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toMatch(/PermissionError: \[Errno 1\] Operation not permitted/);
  });

  it("passes the traced command's exit status through", async () => {
    const res = await runCli([
      "record",
      "--output-file",
      join(dir, "false.json"),
      "--",
      "sh",
      "-c",
      "exit 7",
    ]);
    expect(res.code).toBe(7);
  });
});
