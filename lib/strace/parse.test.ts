import { describe, expect, it } from "vitest";
import { ErrorCodes, isSeccomposeError } from "../errors.ts";
import { StraceParser, parseStraceLine, unknownSyscallNumber, type StraceRecord } from "./parse.ts";

function parseAll(lines: string[], parser = new StraceParser()): StraceRecord[] {
  return [...lines.flatMap((line) => parser.push(line)), ...parser.end()];
}

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error("expected a throw");
}

describe("parseStraceLine", () => {
  it("reads a raw call with its pid, hex arguments as bigints and its result", () => {
    expect(parseStraceLine("3962  openat(0xffffff9c, 0x7efd6cb5c0b1, 0x80000, 0) = 0x3")).toEqual({
      kind: "syscall",
      pid: 3962,
      name: "openat",
      args: [0xffffff9cn, 0x7efd6cb5c0b1n, 0x80000n, 0n],
      result: "0x3",
    });
  });

  it("keeps the full 64-bit value of an argument", () => {
    const record = parseStraceLine("7 lseek(0x3, 0xffffffffffffffff, 0) = -1 EINVAL (Invalid argument)");
    expect(record).toMatchObject({
      args: [3n, 0xffffffffffffffffn, 0n],
      result: "-1 EINVAL (Invalid argument)",
    });
  });

  it("reads a call without arguments", () => {
    expect(parseStraceLine("4138  getuid()                          = 0")).toMatchObject({
      name: "getuid",
      args: [],
      result: "0",
    });
  });

  it("reads the stderr pid prefix, with and without the process name", () => {
    expect(parseStraceLine("[pid  4140] close(0x3) = 0")).toMatchObject({ pid: 4140, name: "close" });
    expect(parseStraceLine("[pid 4140<wc>] close(0x3) = 0")).toMatchObject({ pid: 4140, name: "close" });
    expect(parseStraceLine("4140<wc> close(0x3) = 0")).toMatchObject({ pid: 4140, name: "close" });
  });

  it("reports pid 0 for a line from strace without -f", () => {
    expect(parseStraceLine("brk(0) = 0x55a962be7000")).toMatchObject({ pid: 0, name: "brk", args: [0n] });
  });

  it.each([
    ["-t", "12  10:11:12 read(0x3, 0x7ffe, 0x340) = 0x340"],
    ["-tt", "12  10:11:12.123456 read(0x3, 0x7ffe, 0x340) = 0x340"],
    ["-ttt", "12  1755600000.123456 read(0x3, 0x7ffe, 0x340) = 0x340"],
    ["-r", "12       0.000123 read(0x3, 0x7ffe, 0x340) = 0x340"],
    ["-t -r", "12  10:11:12 (+     0.000123) read(0x3, 0x7ffe, 0x340) = 0x340"],
    ["-T", "12  read(0x3, 0x7ffe, 0x340) = 0x340 <0.000012>"],
  ])("reads a line written with %s", (_flag, line) => {
    expect(parseStraceLine(line)).toEqual({
      kind: "syscall",
      pid: 12,
      name: "read",
      args: [3n, 0x7ffen, 0x340n],
      result: "0x340",
    });
  });

  it("reads calls that return no value", () => {
    expect(parseStraceLine("3962  exit_group(0)                     = ?")).toMatchObject({
      name: "exit_group",
      args: [0n],
      result: "?",
    });
    expect(parseStraceLine("9 futex(0x5, 0x80, 0x2, 0) = ? <unavailable>")).toMatchObject({
      result: "? <unavailable>",
    });
    expect(
      parseStraceLine("9 nanosleep(0x7ff, 0) = ? ERESTART_RESTARTBLOCK (Interrupted by signal)"),
    ).toMatchObject({
      result: "? ERESTART_RESTARTBLOCK (Interrupted by signal)",
    });
  });

  it("reads a call cut short by the death of its process on one line", () => {
    expect(parseStraceLine("9 futex(0x5, 0x80, 0x2, 0 <unfinished ...>) = ?")).toMatchObject({
      name: "futex",
      args: [5n, 0x80n, 2n, 0n],
      result: "?",
    });
  });

  it("keeps strace's names, including the one for a syscall number it does not know", () => {
    expect(parseStraceLine("5 _llseek(0x3, 0, 0, 0xffd0, 0) = 0")).toMatchObject({ name: "_llseek" });
    expect(
      parseStraceLine("5 syscall_0x1d5(0x1, 0x2, 0x3, 0, 0, 0) = -1 EINVAL (Invalid argument)"),
    ).toMatchObject({
      name: "syscall_0x1d5",
    });
  });

  it("gives null arguments when strace printed strings, structs or flag names", () => {
    const openat = parseStraceLine('1 openat(AT_FDCWD, "/etc/passwd", O_RDONLY|O_CLOEXEC) = 3');
    expect(openat).toMatchObject({ name: "openat", args: null, result: "3" });
    const stat = parseStraceLine(
      '1 newfstatat(3, "", {st_mode=S_IFREG|0644, st_size=1234, ...}, AT_EMPTY_PATH) = 0',
    );
    expect(stat).toMatchObject({ name: "newfstatat", args: null, result: "0" });
  });

  it("finds the end of the arguments past parentheses and '= ' inside strings and comments", () => {
    const write = parseStraceLine('1 write(1, "f(x) = \\") = 9\\n", 12 /* ) = 3 */) = 12');
    expect(write).toMatchObject({ name: "write", args: null, result: "12" });
    const execve = parseStraceLine(
      '1 execve("/bin/sh", ["sh", "-c", "echo (hi)"], 0x7ffd /* 20 vars */) = 0',
    );
    expect(execve).toMatchObject({ name: "execve", result: "0" });
  });

  it("reads the arch notices of 32-bit, x32 and 64-bit personalities", () => {
    expect(parseStraceLine("4715  [ Process PID=4715 runs in 32 bit mode. ]")).toEqual({
      kind: "arch",
      pid: 4715,
      arch: "32 bit",
    });
    expect(parseStraceLine("[ Process PID=8 runs in x32 mode. ]")).toEqual({
      kind: "arch",
      pid: 8,
      arch: "x32",
    });
    expect(parseStraceLine("8 [ Process PID=8 runs in 64 bit mode. ]")).toMatchObject({ arch: "64 bit" });
  });

  it("returns null for signal, exit and blank lines", () => {
    expect(
      parseStraceLine("4138  --- SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=4140} ---"),
    ).toBeNull();
    expect(parseStraceLine("4138  --- stopped by SIGSTOP ---")).toBeNull();
    expect(parseStraceLine("4138  +++ exited with 0 +++")).toBeNull();
    expect(parseStraceLine("4138  +++ killed by SIGKILL +++")).toBeNull();
    expect(parseStraceLine("4138  +++ superseded by execve in pid 4139 +++")).toBeNull();
    expect(parseStraceLine("")).toBeNull();
  });

  it.each([
    ["free text", "hello world"],
    ["a call without a result", "12  read(0x3, 0x7ffe, 0x340)"],
    ["a call without a closing parenthesis", "12  read(0x3, 0x7ffe"],
    ["an empty result", "12  read(0x3) = "],
    ["strace's own diagnostics", "strace: Process 12 attached"],
  ])("throws SC_STRACE_PARSE for %s", (_what, line) => {
    const err = thrown(() => parseStraceLine(line));
    expect(isSeccomposeError(err, ErrorCodes.SC_STRACE_PARSE)).toBe(true);
    expect((err as Error).message).toContain(JSON.stringify(line));
  });

  it("refuses half of an interleaved call, which only StraceParser can pair", () => {
    const err = thrown(() => parseStraceLine("4139  close(0x3 <unfinished ...>"));
    expect(isSeccomposeError(err, ErrorCodes.SC_STRACE_PARSE)).toBe(true);
    expect((err as Error).message).toContain("StraceParser");
  });
});

describe("StraceParser", () => {
  it("pairs interleaved halves per pid and takes the arguments from the first half", () => {
    const records = parseAll([
      "4139  set_robust_list(0x7fe5032baa20, 0x18 <unfinished ...>",
      "4138  close(0x4 <unfinished ...>",
      "4139  <... set_robust_list resumed>)    = 0",
      "4138  <... close resumed>)              = 0",
      "4148  gettid( <unfinished ...>",
      "4148  <... gettid resumed>)             = 0x1034",
    ]);
    expect(records).toEqual([
      { kind: "syscall", pid: 4139, name: "set_robust_list", args: [0x7fe5032baa20n, 0x18n], result: "0" },
      { kind: "syscall", pid: 4138, name: "close", args: [4n], result: "0" },
      { kind: "syscall", pid: 4148, name: "gettid", args: [], result: "0x1034" },
    ]);
  });

  it("joins arguments split across the halves of a call decoded without raw", () => {
    const records = parseAll([
      "7 read(3, <unfinished ...>",
      "8 getpid() = 8",
      "7 <... read resumed>4096, 0) = 0",
    ]);
    expect(records).toContainEqual({
      kind: "syscall",
      pid: 7,
      name: "read",
      args: [3n, 4096n, 0n],
      result: "0",
    });
  });

  it("reports a resumed call whose process then died as made", () => {
    const records = parseAll([
      "9 futex(0x5, 0x80, 0x2, 0 <unfinished ...>",
      "10 exit_group(0) = ?",
      "9 <... futex resumed> <unfinished ...>) = ?",
    ]);
    expect(records).toContainEqual({
      kind: "syscall",
      pid: 9,
      name: "futex",
      args: [5n, 0x80n, 2n, 0n],
      result: "?",
    });
  });

  it("flushes at end the calls that never resumed, such as exit_group", () => {
    const parser = new StraceParser();
    expect(parser.push("4139  exit_group(0 <unfinished ...>")).toEqual([]);
    expect(parser.push("4140  read(0, 0x7ffe, 0x3fc0 <unfinished ...>")).toEqual([]);
    expect(parser.end()).toEqual([
      { kind: "syscall", pid: 4139, name: "exit_group", args: [0n], result: "?" },
      { kind: "syscall", pid: 4140, name: "read", args: [0n, 0x7ffen, 0x3fc0n], result: "?" },
    ]);
    expect(parser.end()).toEqual([]);
  });

  it("reports a pending call as made when its process exits or starts another call", () => {
    const records = parseAll([
      "5 wait4(0xffffffff, 0, 0, 0 <unfinished ...>",
      "5 +++ killed by SIGKILL +++",
      "6 read(0x3, 0x1, 0x2 <unfinished ...>",
      "6 close(0x3) = 0",
    ]);
    expect(records.map((r) => (r.kind === "syscall" ? `${r.pid} ${r.name} ${r.result}` : r.kind))).toEqual([
      "5 wait4 ?",
      "6 read ?",
      "6 close 0",
    ]);
  });

  it("pairs an execve made by a thread with its resume under the leader's pid", () => {
    const records = parseAll([
      "20 futex(0x1, 0x80, 0, 0 <unfinished ...>",
      "21 execve(0x5612, 0x5613, 0x5614 <unfinished ...>",
      "20 +++ superseded by execve in pid 21 +++",
      "20 <... execve resumed>) = 0",
    ]);
    expect(records).toEqual([
      { kind: "syscall", pid: 20, name: "futex", args: [1n, 0x80n, 0n, 0n], result: "?" },
      { kind: "syscall", pid: 21, name: "execve", args: [0x5612n, 0x5613n, 0x5614n], result: "0" },
    ]);
  });

  it("reports a resume whose first half it never saw, without arguments", () => {
    expect(parseAll(["3 <... wait4 resumed>) = 0x10"])).toEqual([
      { kind: "syscall", pid: 3, name: "wait4", args: null, result: "0x10" },
    ]);
  });

  it("passes arch notices through and drops signal lines", () => {
    const records = parseAll([
      "4715  [ Process PID=4715 runs in 32 bit mode. ]",
      "4715  getpid()                          = 0x126b",
      "4715  --- SIGCHLD {si_signo=SIGCHLD} ---",
      "4715  [ Process PID=4715 runs in 64 bit mode. ]",
    ]);
    expect(records).toEqual([
      { kind: "arch", pid: 4715, arch: "32 bit" },
      { kind: "syscall", pid: 4715, name: "getpid", args: [], result: "0x126b" },
      { kind: "arch", pid: 4715, arch: "64 bit" },
    ]);
  });

  it("throws SC_STRACE_PARSE naming the source, the line number and the line", () => {
    const parser = new StraceParser({ source: "/tmp/trace.txt" });
    parser.push("1 getpid() = 1");
    const err = thrown(() => parser.push("1 getpid( = 1 garbage"));
    expect(isSeccomposeError(err, ErrorCodes.SC_STRACE_PARSE)).toBe(true);
    expect((err as Error).message).toBe(
      '/tmp/trace.txt line 2 is not strace output: "1 getpid( = 1 garbage"',
    );
  });

  it("truncates a long garbled line in the error message", () => {
    const err = thrown(() => new StraceParser().push(`x${"y".repeat(500)}`));
    expect((err as Error).message.length).toBeLessThan(200);
    expect((err as Error).message).toContain("…");
  });

  it("counts garbled lines in lenient mode and keeps parsing", () => {
    const parser = new StraceParser({ lenient: true });
    const records = parseAll(["1 getpid() = 1", "garbage", "1 getpid(", "1 gettid() = 1"], parser);
    expect(records.map((r) => (r.kind === "syscall" ? r.name : r.kind))).toEqual(["getpid", "gettid"]);
    expect(parser.garbledLines).toBe(2);
  });
});

describe("unknownSyscallNumber", () => {
  it("reads the number from strace's name for an unknown syscall and nothing from a real name", () => {
    expect(unknownSyscallNumber("syscall_0x1d5")).toBe(469);
    expect(unknownSyscallNumber("syscall_0x3e8")).toBe(1000);
    expect(unknownSyscallNumber("openat")).toBeNull();
  });
});
