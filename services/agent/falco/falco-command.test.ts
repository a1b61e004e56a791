import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import { runFalcoCommand } from "./falco-command.ts";

function node(script: string, timeoutMs = 10_000) {
  return { spawn, binary: process.execPath, argv: ["-e", script], env: process.env, timeoutMs };
}

describe("runFalcoCommand", () => {
  it("returns what the command printed", async () => {
    await expect(
      runFalcoCommand(node("process.stdout.write('Falco version: 0.44.1\\n')"), "--version"),
    ).resolves.toBe("Falco version: 0.44.1\n");
  });

  it("names the exit and the head of stderr when the command fails", async () => {
    await expect(
      runFalcoCommand(
        node("process.stderr.write('Error: rules invalid\\n'); process.exit(3)"),
        "--list=syscall",
      ),
    ).rejects.toThrow("--list=syscall: exit code 3 Error: rules invalid");
  });

  it("kills a command that takes longer than its time", async () => {
    await expect(runFalcoCommand(node("setTimeout(() => {}, 60_000)", 300), "--version")).rejects.toThrow(
      /--version: .*SIGKILL/,
    );
  });
});
