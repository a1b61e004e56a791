import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assertValid } from "../../lib/contracts/validators.ts";
import { runUnderProfile } from "../helpers/enforce.ts";
import { runCli } from "./cli.ts";

let dir: string;
const file = (name: string) => join(dir, name);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "seccompose-merge-test-"));
  for (const [name, cmd] of [
    ["ls", ["ls", "/"]],
    ["cat", ["cat", "/etc/hostname"]],
  ] as const) {
    const res = await runCli([
      "record",
      "--baseline",
      "none",
      "--output-file",
      file(`${name}.json`),
      "--observations",
      file(`${name}.obs.json`),
      "--",
      ...cmd,
    ]);
    expect(res.code).toBe(0);
  }
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const allowed = async (path: string) =>
  new Set(
    (JSON.parse(await readFile(path, "utf8")).syscalls as Array<{ names: string[] }>).flatMap((r) => r.names),
  );

describe("seccompose merge", () => {
  it("merges recorded observations into one valid document whose syscalls are the union", async () => {
    const res = await runCli([
      "merge",
      "--format",
      "document",
      "--output-file",
      file("both.obs.json"),
      file("ls.obs.json"),
      file("cat.obs.json"),
    ]);
    expect(res.stderr).toBe("");
    expect(res.code).toBe(0);
    const doc = assertValid(
      "profileDocument",
      JSON.parse(await readFile(file("both.obs.json"), "utf8")),
      "merge output",
    );
    const names = new Set(doc.syscalls.map((s) => s.name));
    for (const part of ["ls.obs.json", "cat.obs.json"]) {
      for (const s of JSON.parse(await readFile(file(part), "utf8")).syscalls)
        expect(names).toContain(s.name);
    }
    expect(doc.nodes).toHaveLength(2);
  });

  it("is idempotent and order-independent: byte-identical output", async () => {
    const a = await runCli(["merge", "--format", "document", file("ls.obs.json"), file("cat.obs.json")]);
    const b = await runCli([
      "merge",
      "--format",
      "document",
      file("cat.obs.json"),
      file("ls.obs.json"),
      file("cat.obs.json"),
    ]);
    const once = await runCli(["merge", "--format", "document", file("ls.obs.json")]);
    const twice = await runCli(["merge", "--format", "document", file("ls.obs.json"), file("ls.obs.json")]);
    expect(b.stdout).toBe(a.stdout);
    expect(twice.stdout).toBe(once.stdout);
    expect(JSON.parse(once.stdout).syscalls).toEqual(
      JSON.parse(await readFile(file("ls.obs.json"), "utf8")).syscalls,
    );
  });

  it("merges rendered OCI profiles into one that runs both commands", async () => {
    const res = await runCli([
      "merge",
      "--baseline",
      "none",
      "--output-file",
      file("merged.json"),
      file("ls.json"),
      file("cat.json"),
    ]);
    expect(res.code).toBe(0);
    const merged = await allowed(file("merged.json"));
    for (const part of ["ls.json", "cat.json"])
      for (const n of await allowed(file(part))) expect(merged).toContain(n);
    expect((await runUnderProfile(file("merged.json"), ["ls", "/"])).code).toBe(0);
    expect((await runUnderProfile(file("merged.json"), ["cat", "/etc/hostname"])).code).toBe(0);
  });

  it("renders an SPO SeccompProfile from documents", async () => {
    const res = await runCli(["merge", "--format", "spo", file("ls.obs.json")]);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(
      /^apiVersion: security-profiles-operator.x-k8s.io\/v1\nkind: SeccompProfile\n/,
    );
  });

  it("rejects a file that is no profile with a clear error and exit code 3, without a stack trace", async () => {
    await writeFile(file("junk.json"), JSON.stringify({ hello: "world" }));
    const res = await runCli(["merge", file("ls.json"), file("junk.json")]);
    expect(res.code).toBe(3);
    expect(res.stderr).toMatch(/error \[SC_MERGE_INPUT\]: .*junk\.json is neither a ProfileDocument/);
    expect(res.stderr).not.toMatch(/\n\s+at /);
  });

  it("names the field when a document breaks its schema", async () => {
    const doc = JSON.parse(await readFile(file("ls.obs.json"), "utf8"));
    doc.syscalls[0].count = "many";
    await writeFile(file("bad.obs.json"), JSON.stringify(doc));
    const res = await runCli(["merge", "--format", "document", file("bad.obs.json")]);
    expect(res.code).toBe(3);
    expect(res.stderr).toMatch(
      /\[SC_DOCUMENT_INVALID\]: invalid profileDocument from .*bad\.obs\.json: \/syscalls\/0\/count must be integer/,
    );
  });

  it("checks names of an input without architectures against this machine's syscall tables", async () => {
    await writeFile(
      file("noarch.json"),
      JSON.stringify({
        defaultAction: "SCMP_ACT_ERRNO",
        syscalls: [{ names: ["read", "../../etc", "not_a_syscall"], action: "SCMP_ACT_ALLOW" }],
      }),
    );
    const res = await runCli(["merge", "--baseline", "none", file("noarch.json")]);
    expect(res.code).toBe(0);
    expect(res.stderr).toContain(
      "not emitted, unknown on every target architecture: ../../etc, not_a_syscall",
    );
    const merged = JSON.parse(res.stdout) as {
      architectures: string[];
      syscalls: Array<{ names: string[] }>;
    };
    const names = merged.syscalls.flatMap((r) => r.names);
    expect(names).toContain("read");
    expect(names).not.toContain("../../etc");
    // The input applies to the runtime's native architecture only; so does the result.
    expect(merged.architectures).toEqual([]);
    // Syscalls that never return are added as for any profile, now that the tables are known.
    expect(names).toContain("exit_group");
  });

  it("checks an input without architectures against the other inputs' architectures", async () => {
    await writeFile(
      file("arm.json"),
      JSON.stringify({
        defaultAction: "SCMP_ACT_ERRNO",
        architectures: ["SCMP_ARCH_AARCH64"],
        syscalls: [{ names: ["read"], action: "SCMP_ACT_ALLOW" }],
      }),
    );
    await writeFile(
      file("noarch-open.json"),
      JSON.stringify({
        defaultAction: "SCMP_ACT_ERRNO",
        // open exists on x86_64, not on aarch64
        syscalls: [{ names: ["open", "openat", "../x"], action: "SCMP_ACT_ALLOW" }],
      }),
    );
    const res = await runCli(["merge", "--baseline", "none", file("arm.json"), file("noarch-open.json")]);
    expect(res.code).toBe(0);
    expect(res.stderr).toContain("not emitted, unknown on every target architecture: ../x, open");
    const names = (JSON.parse(res.stdout) as { syscalls: Array<{ names: string[] }> }).syscalls.flatMap(
      (r) => r.names,
    );
    expect(names).toEqual(expect.arrayContaining(["openat", "read"]));
  });

  it("refuses an allow-by-default input instead of turning it into a deny-by-default profile", async () => {
    for (const defaultAction of ["SCMP_ACT_ALLOW", "SCMP_ACT_LOG"]) {
      await writeFile(
        file("allow.json"),
        JSON.stringify({
          defaultAction,
          syscalls: [{ names: ["ptrace"], action: "SCMP_ACT_ERRNO" }],
        }),
      );
      const res = await runCli(["merge", file("ls.json"), file("allow.json")]);
      expect(res.code, defaultAction).toBe(3);
      expect(res.stdout).toBe("");
      expect(res.stderr).toMatch(
        new RegExp(
          `\\[SC_MERGE_INPUT\\]: .*allow\\.json allows every syscall by default \\(defaultAction ${defaultAction}\\)`,
        ),
      );
    }
  });

  it("keeps what a deny-by-default input allows with a LOG rule", async () => {
    await writeFile(
      file("logged.json"),
      JSON.stringify({
        defaultAction: "SCMP_ACT_ERRNO",
        syscalls: [
          { names: ["read"], action: "SCMP_ACT_ALLOW" },
          { names: ["getpid"], action: "SCMP_ACT_LOG" },
        ],
      }),
    );
    const res = await runCli(["merge", "--baseline", "none", file("logged.json")]);
    expect(res.code).toBe(0);
    const names = (JSON.parse(res.stdout) as { syscalls: Array<{ names: string[] }> }).syscalls.flatMap(
      (r) => r.names,
    );
    expect(names).toEqual(expect.arrayContaining(["getpid", "read"]));
  });

  it("reports a missing file with exit code 5", async () => {
    const res = await runCli(["merge", file("nope.json")]);
    expect(res.code).toBe(5);
    expect(res.stderr).toMatch(/\[SC_FILE_READ\]: cannot read .*nope\.json/);
  });
});

describe("seccompose record errors", () => {
  it("names an unsupported --args syscall and lists the supported ones", async () => {
    const res = await runCli(["record", "--args", "openat", "--", "true"]);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(
      /\[SC_ARGS_UNSUPPORTED\]: argument rules are not supported for "openat".*supported: arch_prctl/,
    );
  });

  it("says how to install strace when it is missing", async () => {
    const res = await runCli(["record", "--", "/bin/true"], {
      env: { ...process.env, PATH: "/nonexistent" },
    });
    expect(res.code).toBe(4);
    expect(res.stderr).toMatch(/\[SC_STRACE_MISSING\]: strace is not installed.*apt-get install strace/);
  });

  it("reports a command that does not exist", async () => {
    const res = await runCli(["record", "--", "no-such-command-xyz"]);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/command not found or not executable: no-such-command-xyz/);
  });
});
