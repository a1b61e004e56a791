/**
 * The recorded Falco alerts against strace runs of the same two programs on this machine. Per
 * container, Falco's syscall set (kernel names, after the event-name mapping) must equal
 * strace's minus the syscalls that never return, whose exit event Falco ≥ 0.42 cannot report.
 *
 * How the fixtures were recorded matters, and two details are not in their README:
 * - stdout was a character device that is not a terminal (/dev/null): `wc` made an
 *   `ioctl(TCGETS)` that failed with ENOTTY, which glibc only does for character devices. These
 *   runs use /dev/null for stdio.
 * - the python script was given by an absolute path of four components: the recording has 7
 *   `readlink` calls and no `getcwd`, exactly what Python 3.11 / glibc 2.36 `realpath()` make for
 *   `/a/b/workloads/sockets_threads.py`. Started literally as the README says
 *   (`python3 workloads/sockets_threads.py`), the relative path makes glibc call `getcwd`; that
 *   is the only difference, and the test pins it.
 */
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FalcoAlert } from "./alert.ts";
import { FALCO_FIXTURES_DIR, readFixtureLines } from "../../../test/helpers/falco-fixtures.ts";
import { parseJsonAlert } from "./json-alert.ts";

const PYTHON_CONTAINER = "4f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff01";
const PIPELINE_CONTAINER = "9a8b7c6d5e4f30211203f4e5d6c7b8a99a8b7c6d5e4f30211203f4e5d6c7b8a9";
const NON_RETURNING = new Set(["exit", "exit_group", "rt_sigreturn"]);
// `PID name(` starts a call, `PID <... name resumed>` finishes one strace saw start in another line.
const STRACE_CALL = /^\d+\s+(?:<\.\.\. (\w+) resumed>|(\w+)\()/;

const alerts: FalcoAlert[] = readFixtureLines("node-a.alerts.jsonl").map(parseJsonAlert);

function falcoSyscalls(containerId: string): string[] {
  const names = new Set<string>();
  for (const alert of alerts)
    if (alert.kind === "syscall" && alert.containerId === containerId) names.add(alert.syscall);
  return [...names].sort();
}

function falcoNonSyscallEvents(containerId: string): string[] {
  const names = new Set<string>();
  for (const alert of alerts) {
    if (alert.kind === "non-syscall" && alert.containerId === containerId) names.add(alert.falcoType);
  }
  return [...names].sort();
}

let workdir = "";
let traceCount = 0;

/** Runs `program` in a copy of the fixture workloads the way the fixtures README describes. */
function straceSyscalls(program: string[]): Set<string> {
  const output = join(workdir, `trace-${++traceCount}.txt`);
  const environment = ["-i", "PATH=/usr/bin:/bin", "HOME=/tmp", `PWD=${workdir}`];
  const result = spawnSync("/usr/bin/env", [...environment, "strace", "-f", "-o", output, ...program], {
    cwd: workdir,
    stdio: "ignore",
    timeout: 30_000,
  });
  expect(result.status, `strace ${program.join(" ")}`).toBe(0);
  const names = new Set<string>();
  for (const line of readFileSync(output, "utf8").split("\n")) {
    const call = STRACE_CALL.exec(line);
    if (call) names.add(call[1] ?? call[2]!);
  }
  return names;
}

function returning(names: Set<string>): string[] {
  return [...names].filter((name) => !NON_RETURNING.has(name)).sort();
}

beforeAll(() => {
  workdir = mkdtempSync(join(tmpdir(), "falco-vs-strace-"));
  cpSync(`${FALCO_FIXTURES_DIR}/workloads`, join(workdir, "workloads"), { recursive: true });
});

afterAll(() => {
  rmSync(workdir, { recursive: true, force: true });
});

describe("recorded Falco syscalls against strace", () => {
  it("gives the pipeline container exactly strace's syscalls minus those that never return", () => {
    const traced = straceSyscalls(["sh", "workloads/pipeline.sh"]);
    expect(traced.has("exit_group") && traced.has("rt_sigreturn")).toBe(true);
    expect(falcoSyscalls(PIPELINE_CONTAINER)).toEqual(returning(traced));
  });

  it("gives the python container exactly strace's syscalls minus those that never return", () => {
    const traced = straceSyscalls(["python3", join(workdir, "workloads/sockets_threads.py")]);
    expect(["exit", "exit_group", "rt_sigreturn"].every((name) => traced.has(name))).toBe(true);
    expect(falcoSyscalls(PYTHON_CONTAINER)).toEqual(returning(traced));
  });

  it("differs only by getcwd from python started with the README's relative script path", () => {
    const traced = returning(straceSyscalls(["python3", "workloads/sockets_threads.py"]));
    const recorded = falcoSyscalls(PYTHON_CONTAINER);
    expect(traced.filter((name) => !recorded.includes(name))).toEqual(["getcwd"]);
    expect(recorded.filter((name) => !traced.includes(name))).toEqual([]);
  });

  it("never reports the non-returning syscalls but shows procexit and signaldeliver for both containers", () => {
    for (const container of [PYTHON_CONTAINER, PIPELINE_CONTAINER]) {
      expect(falcoSyscalls(container).filter((name) => NON_RETURNING.has(name))).toEqual([]);
      expect(falcoNonSyscallEvents(container)).toEqual(["procexit", "signaldeliver"]);
    }
  });
});
