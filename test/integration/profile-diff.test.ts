/** `seccompose profile diff --exit-code` on files, through the real CLI binary. */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "./cli.ts";

let dir: string;
const file = (name: string) => join(dir, name);
const profile = (names: string[]) =>
  JSON.stringify({
    defaultAction: "SCMP_ACT_ERRNO",
    architectures: ["SCMP_ARCH_X86_64"],
    syscalls: [{ names, action: "SCMP_ACT_ALLOW" }],
  });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "seccompose-diff-test-"));
  await writeFile(file("in-use.json"), profile(["close", "read", "write"]));
  await writeFile(file("wider.json"), profile(["close", "ptrace", "read", "write"]));
  await writeFile(file("narrower.json"), profile(["read", "write"]));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("seccompose profile diff --exit-code", () => {
  it("exits 1 when the second profile allows a syscall the first does not", async () => {
    const r = await runCli(["profile", "diff", "--exit-code", file("in-use.json"), file("wider.json")]);
    expect(r.stdout).toContain("+ ptrace");
    expect(r.code).toBe(1);
  });

  it("exits 0 when the second profile only removes, or nothing changed", async () => {
    const narrower = await runCli([
      "profile",
      "diff",
      "--exit-code",
      file("in-use.json"),
      file("narrower.json"),
    ]);
    expect(narrower.stdout).toContain("- close");
    expect(narrower.code).toBe(0);
    const same = await runCli(["profile", "diff", "--exit-code", file("in-use.json"), file("in-use.json")]);
    expect(same.stdout).toContain("(no difference)");
    expect(same.code).toBe(0);
  });

  it("exits 0 on a widening without --exit-code, and reports it in the JSON", async () => {
    const r = await runCli(["profile", "diff", "--output", "json", file("in-use.json"), file("wider.json")]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ added: ["ptrace"], rightAllowsMore: true });
  });

  it("names a mistyped file as a missing file, not as a lookup that needs NATS", async () => {
    const env = { ...process.env, SECCOMPOSE_NATS_URL: "", KUBECONFIG: join(dir, "no-kubeconfig") };
    const r = await runCli(["profile", "diff", file("in-use.json"), file("in-use.jsn.json")], { env });
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/error \[SC_FILE_READ\]: .*in-use\.jsn\.json: no such file/);
    expect(r.stderr).not.toMatch(/NATS/);
  });
});
