import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorCodes, isSeccomposeError } from "../errors.ts";
import { STRACE_ARGS, straceCommand } from "./command.ts";
import { StraceParser, type StraceRecord, type SyscallRecord } from "./parse.ts";
import { readStraceFile } from "./read.ts";
import { recordStrace, type StraceRecording } from "./record.ts";

// These tests run real commands under the real strace and parse what it wrote.

const PYTHON = "/usr/bin/python3";

const THREADS_SCRIPT = `
import threading
threads = [threading.Thread(target=sum, args=(range(1000),)) for _ in range(4)]
for t in threads: t.start()
for t in threads: t.join()
`;

// i386 getpid (20) through int 0x80 from a 64-bit process: strace switches to its 32-bit personality.
const INT80_SCRIPT = `
import ctypes, mmap
code = bytes([0xb8, 20, 0, 0, 0, 0xcd, 0x80, 0xc3])  # mov eax, 20; int 0x80; ret
page = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
page.write(code)
getpid32 = ctypes.CFUNCTYPE(ctypes.c_int)(ctypes.addressof(ctypes.c_char.from_buffer(page)))
print(getpid32())
`;

// i386 socketcall(SYS_SOCKET, [AF_UNIX, SOCK_STREAM, 0]) through int 0x80; the arguments must sit below 4 GiB.
const SOCKETCALL_SCRIPT = `
import ctypes, struct
libc = ctypes.CDLL(None)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
page = libc.mmap(None, 4096, 7, 0x02 | 0x20 | 0x40, -1, 0)  # RWX, MAP_PRIVATE|MAP_ANONYMOUS|MAP_32BIT
args = page + 64
ctypes.memmove(args, struct.pack("<III", 1, 1, 0), 12)
# mov eax, 102; mov ebx, 1; mov ecx, args; int 0x80; ret
code = bytes([0xb8, 102, 0, 0, 0, 0xbb, 1, 0, 0, 0, 0xb9]) + struct.pack("<I", args) + bytes([0xcd, 0x80, 0xc3])
ctypes.memmove(page, code, len(code))
print(ctypes.CFUNCTYPE(ctypes.c_int)(page)())
`;

const UNKNOWN_SYSCALL_SCRIPT = `
import ctypes
ctypes.CDLL(None).syscall(1000, 7)
`;

function calls(recording: StraceRecording, name?: string): SyscallRecord[] {
  return recording.records.filter(
    (r): r is SyscallRecord => r.kind === "syscall" && (name === undefined || r.name === name),
  );
}

function pids(recording: StraceRecording): Set<number> {
  return new Set(recording.records.map((r) => r.pid));
}

async function runsNatively(script: string): Promise<boolean> {
  try {
    const { stdout } = await promisify(execFile)(PYTHON, ["-c", script]);
    return /^\d+\n$/.test(stdout);
  } catch {
    return false;
  }
}

// Kernels built without IA32 emulation refuse int 0x80; then there is no 32-bit mode to observe.
const ia32Available = await runsNatively(INT80_SCRIPT);

describe("straceCommand", () => {
  it("puts strace, its fixed flags, the output path and the command in order", () => {
    expect(straceCommand("/tmp/out", ["ls", "-l"])).toEqual([
      "strace",
      ...STRACE_ARGS,
      "-o",
      "/tmp/out",
      "--",
      "ls",
      "-l",
    ]);
    expect(STRACE_ARGS).toContain("raw=all");
    expect(STRACE_ARGS).not.toContain("-qq");
  });
});

describe("recording real commands", () => {
  let ls: StraceRecording;
  let pipeline: StraceRecording;
  let threads: StraceRecording;

  beforeAll(async () => {
    [ls, pipeline, threads] = await Promise.all([
      recordStrace(["ls", "/"]),
      recordStrace(["sh", "-c", "cat /etc/passwd | wc -l"]),
      recordStrace([PYTHON, "-c", THREADS_SCRIPT]),
    ]);
  });

  it("parses every line of ls with every argument as a bigint", () => {
    expect(ls.code).toBe(0);
    expect(ls.stdout).toContain("etc");
    expect(ls.garbledLines).toBe(0);
    expect(calls(ls).every((call) => call.args !== null)).toBe(true);
    const [execve] = calls(ls, "execve");
    expect(execve?.args).toHaveLength(3);
    expect(execve?.result).toBe("0");
    const openat = calls(ls, "openat");
    expect(openat.length).toBeGreaterThan(0);
    for (const call of openat) expect(typeof call.args?.[2]).toBe("bigint");
    // AT_FDCWD is an int: its register holds 0xffffff9c, not a sign-extended 64-bit -100.
    expect(openat[0]?.args?.[0]).toBe(0xffffff9cn);
    expect(calls(ls, "getdents64").length).toBeGreaterThan(0);
    expect(calls(ls).at(-1)).toMatchObject({ name: "exit_group", args: [0n], result: "?" });
  });

  it("follows both children of a shell pipeline through fork and execve", () => {
    expect(pipeline.code).toBe(0);
    expect(Number(pipeline.stdout.trim())).toBeGreaterThan(0);
    expect(pipeline.garbledLines).toBe(0);
    expect(pids(pipeline).size).toBeGreaterThanOrEqual(3);
    const forks = [...calls(pipeline, "clone"), ...calls(pipeline, "clone3"), ...calls(pipeline, "fork")];
    expect(forks.length).toBeGreaterThanOrEqual(2);
    expect(calls(pipeline, "execve").length).toBeGreaterThanOrEqual(3);
    expect(calls(pipeline, "pipe2").length + calls(pipeline, "pipe").length).toBeGreaterThan(0);
    expect(calls(pipeline, "exit_group").length).toBeGreaterThanOrEqual(3);
    expect(calls(pipeline).every((call) => call.args !== null)).toBe(true);
  });

  it("follows the threads of a multi-threaded python through clone3", () => {
    expect(threads.code).toBe(0);
    expect(threads.garbledLines).toBe(0);
    expect(calls(threads, "clone3")).toHaveLength(4);
    expect(pids(threads).size).toBe(5);
    expect(calls(threads, "exit").length).toBe(4);
    expect(calls(threads, "exit_group")).toHaveLength(1);
    expect(calls(threads).every((call) => call.args !== null)).toBe(true);
  });

  it("names a syscall number strace does not know syscall_0x...", async () => {
    const recording = await recordStrace([PYTHON, "-c", UNKNOWN_SYSCALL_SCRIPT]);
    expect(recording.garbledLines).toBe(0);
    expect(calls(recording, "syscall_0x3e8")).toHaveLength(1);
    expect(calls(recording, "syscall_0x3e8")[0]?.args?.[0]).toBe(7n);
  });

  it.skipIf(!ia32Available)(
    "reports the switch to 32-bit mode and back around an int 0x80 syscall",
    async () => {
      const recording = await recordStrace([PYTHON, "-c", INT80_SCRIPT]);
      expect(recording.garbledLines).toBe(0);
      const pid = Number(recording.stdout.trim());
      const around = recording.records.filter((r) => r.pid === pid);
      const switchTo32 = around.findIndex((r) => r.kind === "arch" && r.arch === "32 bit");
      expect(switchTo32).toBeGreaterThan(0);
      expect(around[switchTo32 + 1]).toMatchObject({ kind: "syscall", name: "getpid", args: [] });
      expect(around[switchTo32 + 2]).toEqual({ kind: "arch", pid, arch: "64 bit" });
    },
  );

  it.skipIf(!ia32Available)(
    "prints an i386 socketcall under its subcall's name and arguments, not socketcall's",
    async () => {
      const recording = await recordStrace([PYTHON, "-c", SOCKETCALL_SCRIPT]);
      expect(recording.garbledLines).toBe(0);
      const fd = BigInt(recording.stdout.trim());
      const socket = calls(recording, "socket");
      expect(socket).toEqual([
        expect.objectContaining({ args: [1n, 1n, 0n], result: `0x${fd.toString(16)}` }),
      ]);
      expect(calls(recording, "socketcall")).toEqual([]);
    },
  );

  it("returns the command's failing exit status", async () => {
    const recording = await recordStrace(["sh", "-c", "exit 3"]);
    expect(recording.code).toBe(3);
    expect(calls(recording, "exit_group")[0]?.args).toEqual([3n]);
  });
});

describe("readStraceFile", () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "seccompose-strace-test-"));
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function readAll(path: string, parser?: StraceParser): Promise<StraceRecord[]> {
    const records: StraceRecord[] = [];
    for await (const record of readStraceFile(path, parser)) records.push(record);
    return records;
  }

  it("flushes at the end a call left unfinished and reads a last line without a newline", async () => {
    const path = join(dir, "unfinished.txt");
    await writeFile(path, "1 exit_group(0 <unfinished ...>\n2 getpid() = 0x2");
    expect(await readAll(path)).toEqual([
      { kind: "syscall", pid: 2, name: "getpid", args: [], result: "0x2" },
      { kind: "syscall", pid: 1, name: "exit_group", args: [0n], result: "?" },
    ]);
  });

  it("throws SC_STRACE_PARSE naming the file and line of a garbled line", async () => {
    const path = join(dir, "garbled.txt");
    await writeFile(path, "1 getpid() = 0x1\nnot strace\n");
    await expect(readAll(path)).rejects.toThrow(`${path} line 2 is not strace output: "not strace"`);
  });

  it("counts garbled lines through a lenient parser", async () => {
    const path = join(dir, "lenient.txt");
    await writeFile(path, "1 getpid() = 0x1\nnot strace\n");
    const parser = new StraceParser({ lenient: true });
    expect(await readAll(path, parser)).toHaveLength(1);
    expect(parser.garbledLines).toBe(1);
  });

  it("throws SC_FILE_READ for a missing file", async () => {
    const err = await readAll(join(dir, "missing.txt")).catch((e: unknown) => e);
    expect(isSeccomposeError(err, ErrorCodes.SC_FILE_READ)).toBe(true);
    expect((err as Error).message).toContain("missing.txt");
  });
});
