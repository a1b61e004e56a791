/**
 * Line-oriented parser for the output of `strace -f -e raw=all` (see `command.ts` for the flags).
 *
 * Line shapes it reads, each after an optional pid prefix (`1234 ` from `-f -o FILE`, `[pid 1234] `
 * on stderr, either with `<comm>`) and an optional timestamp (`-t`, `-tt`, `-ttt`, `-r`):
 *
 *     openat(0xffffff9c, 0x7f1c, 0x80000, 0) = 0x3        a complete call
 *     futex(0x2a98, 0x189, 0, 0 <unfinished ...>          the first half of an interleaved call
 *     <... futex resumed>)          = 0                   its second half (`-f` interleaving)
 *     exit_group(0)                 = ?                   no return value (`= ? <unavailable>` too)
 *     [ Process PID=1234 runs in 32 bit mode. ]           later names are i386 ones ("x32", "64 bit")
 *     --- SIGCHLD {...} ---  and  +++ exited with 0 +++   no syscall
 *
 * Arguments: under `raw=all` every argument is a hex or decimal scalar and comes out as a bigint.
 * Output without `raw` prints strings, structs and flag names; for such a call `args` is null rather
 * than a prefix, because a prefix cannot be told apart from a call with fewer arguments.
 *
 * Names are strace's, which on x86_64 and i386 are the kernel's (`newfstatat`, `pread64`, `_llseek`,
 * `mmap2`). Two exceptions: a syscall number strace does not know is printed as `syscall_0x1d5`
 * (see `unknownSyscallNumber`), and in 32-bit mode strace prints `socketcall` under the name of its
 * subcall (`socket(0x1, 0x1, 0)`) with the subcall's arguments; its source does the same for `ipc`
 * (`semop`, `msgsnd`, ...). A profile needs `socketcall`/`ipc` there, which libseccomp's rule rewriting
 * for `socket` etc. on SCMP_ARCH_X86 provides.
 */
import { ErrorCodes, SeccomposeError } from "../errors.ts";

/** A syscall that was made. `result` is strace's text after `= ` (`0x3`, `-1 ENOENT (...)`, `?`). */
export interface SyscallRecord {
  kind: "syscall";
  pid: number;
  name: string;
  /** Raw argument values, or null when strace printed something other than scalars. */
  args: bigint[] | null;
  result: string;
}

/** strace's notice that a process switched personality; `arch` is "64 bit", "32 bit" or "x32". */
export interface ArchRecord {
  kind: "arch";
  pid: number;
  arch: string;
}

export type StraceRecord = SyscallRecord | ArchRecord;

/** What one line says before `-f` halves are paired. */
type StraceLine =
  | StraceRecord
  | { kind: "unfinished"; pid: number; name: string; argsText: string }
  | { kind: "resumed"; pid: number; name: string; argsText: string; result: string }
  | { kind: "exited"; pid: number }
  | { kind: "none" };

type PendingCall = Extract<StraceLine, { kind: "unfinished" }>;

/** The result strace would print for a call whose return it never saw. */
const NO_RESULT = "?";

// Pid from `-f -o FILE` ("1234  ") or stderr ("[pid  1234] "), then -t/-tt/-ttt and/or -r timestamps.
const PREFIX =
  /^\s*(?:\[pid\s+(\d+)(?:<[^>]*>)?\]\s+|(\d+)(?:<[^>]*>)?\s+)?(?:\d\d:\d\d:\d\d(?:\.\d+)?\s+|\d+\.\d+\s+)?(?:\(\+\s*\d+\.\d+\)\s+)?/;
const CALL_START = /^([A-Za-z_][A-Za-z0-9_]*)\(/;
const RESUMED = /^<\.\.\. ([A-Za-z_][A-Za-z0-9_]*) resumed>/;
const ARCH_NOTICE = /^\[ Process PID=(\d+) runs in (.+) mode\. \]$/;
const CUT_SHORT = /\s*<(?:unfinished|detached) \.\.\.>$/;
const RESULT = /^\s*=\s*(.*?)(?:\s+<\d+\.\d+>)?$/;
const SCALAR = /^(?:0x[0-9a-f]+|0|[1-9][0-9]*)$/i;
const UNKNOWN_SYSCALL = /^syscall_0x([0-9a-f]+)$/;
// After execve by a non-leader thread, strace prints the resume under the leader's pid.
const EXEC_NAMES = new Set(["execve", "execveat"]);

/** The syscall number in strace's name for a number it does not know (`syscall_0x1d5` -> 469), else null. */
export function unknownSyscallNumber(name: string): number | null {
  const match = UNKNOWN_SYSCALL.exec(name);
  return match ? Number.parseInt(match[1] ?? "", 16) : null;
}

/**
 * Parse one complete line: a call, an arch notice, or null for a line that carries no syscall.
 * Throws SC_STRACE_PARSE for a garbled line and for half of an interleaved call, which only
 * `StraceParser` can pair.
 */
export function parseStraceLine(line: string): StraceRecord | null {
  const scanned = scanLine(line);
  if (scanned === undefined) throw garbled(line, "strace line");
  switch (scanned.kind) {
    case "syscall":
    case "arch":
      return scanned;
    case "unfinished":
    case "resumed":
      throw new SeccomposeError(
        ErrorCodes.SC_STRACE_PARSE,
        `strace line is half of an interleaved ${scanned.name} call; pair it with StraceParser: ${clip(line)}`,
      );
    case "exited":
    case "none":
      return null;
  }
}

export interface StraceParserOptions {
  /** Count garbled lines in `garbledLines` instead of throwing SC_STRACE_PARSE. */
  lenient?: boolean;
  /** Where the lines come from, e.g. the file path, for error messages. */
  source?: string;
}

/**
 * Streaming parser: feed lines in order with `push`, then call `end`. Pairs `<unfinished ...>` with
 * `<... NAME resumed>` per pid; a call whose process died before it returned (or which `end` finds
 * still open) is reported as made, with result "?".
 */
export class StraceParser {
  readonly #lenient: boolean;
  readonly #source: string;
  readonly #pending = new Map<number, PendingCall>();
  #lineNumber = 0;
  #garbledLines = 0;

  constructor(options: StraceParserOptions = {}) {
    this.#lenient = options.lenient ?? false;
    this.#source = options.source ?? "strace output";
  }

  /** Lines skipped as garbled (lenient mode only; strict mode throws on the first). */
  get garbledLines(): number {
    return this.#garbledLines;
  }

  push(line: string): StraceRecord[] {
    this.#lineNumber += 1;
    const scanned = scanLine(line);
    if (scanned === undefined) {
      if (!this.#lenient) throw garbled(line, `${this.#source} line ${this.#lineNumber}`);
      this.#garbledLines += 1;
      return [];
    }
    switch (scanned.kind) {
      case "syscall":
        return [...this.#interrupt(scanned.pid), scanned];
      case "arch":
        return [scanned];
      case "unfinished": {
        const interrupted = this.#interrupt(scanned.pid);
        this.#pending.set(scanned.pid, scanned);
        return interrupted;
      }
      case "resumed":
        return this.#resume(scanned);
      case "exited":
        return this.#interrupt(scanned.pid);
      case "none":
        return [];
    }
  }

  /** Calls still waiting for their second half, reported as made. */
  end(): StraceRecord[] {
    const open = [...this.#pending.values()].map((call) => completed(call, "", NO_RESULT));
    this.#pending.clear();
    return open;
  }

  #interrupt(pid: number): SyscallRecord[] {
    const call = this.#pending.get(pid);
    if (call === undefined) return [];
    this.#pending.delete(pid);
    return [completed(call, "", NO_RESULT)];
  }

  #resume(half: Extract<StraceLine, { kind: "resumed" }>): SyscallRecord[] {
    const own = this.#pending.get(half.pid);
    if (own?.name === half.name) {
      this.#pending.delete(half.pid);
      return [completed(own, half.argsText, half.result)];
    }
    const records = this.#interrupt(half.pid);
    const entry = EXEC_NAMES.has(half.name)
      ? [...this.#pending.values()].find((call) => call.name === half.name)
      : undefined;
    if (entry === undefined) {
      // Its first half came before the trace started: the call was made, its arguments are unknown.
      records.push({ kind: "syscall", pid: half.pid, name: half.name, args: null, result: half.result });
    } else {
      this.#pending.delete(entry.pid);
      records.push(completed(entry, half.argsText, half.result));
    }
    return records;
  }
}

function completed(call: PendingCall, moreArgsText: string, result: string): SyscallRecord {
  return {
    kind: "syscall",
    pid: call.pid,
    name: call.name,
    args: parseArgs(call.argsText + moreArgsText),
    result,
  };
}

/** Classify one line; undefined when it is none of the shapes strace prints. */
function scanLine(line: string): StraceLine | undefined {
  if (line.trim() === "") return { kind: "none" };
  const prefix = PREFIX.exec(line);
  const pid = Number(prefix?.[1] ?? prefix?.[2] ?? 0);
  const body = line.slice(prefix?.[0].length ?? 0).trimEnd();

  if (body.startsWith("--- ") && body.endsWith(" ---")) return { kind: "none" };
  if (body.startsWith("+++ ") && body.endsWith(" +++")) return { kind: "exited", pid };
  const arch = ARCH_NOTICE.exec(body);
  if (arch) return { kind: "arch", pid: Number(arch[1]), arch: arch[2] ?? "" };

  const resumed = RESUMED.exec(body);
  if (resumed) {
    const rest = body.slice(resumed[0].length);
    const close = closingParen(rest);
    const result = close < 0 ? null : RESULT.exec(rest.slice(close + 1));
    if (!result?.[1]) return undefined;
    const argsText = rest.slice(0, close).replace(/^\s*<unfinished \.\.\.>/, "");
    return { kind: "resumed", pid, name: resumed[1] ?? "", argsText, result: result[1] };
  }

  const call = CALL_START.exec(body);
  if (!call) return undefined;
  const name = call[1] ?? "";
  const rest = body.slice(call[0].length);
  const close = closingParen(rest);
  if (close < 0) {
    if (!CUT_SHORT.test(rest)) return undefined;
    return { kind: "unfinished", pid, name, argsText: rest.replace(CUT_SHORT, "") };
  }
  const result = RESULT.exec(rest.slice(close + 1));
  if (!result?.[1]) return undefined;
  // "= ?" after "<unfinished ...>)": the process died inside the call.
  const args = parseArgs(rest.slice(0, close).replace(CUT_SHORT, ""));
  return { kind: "syscall", pid, name, args, result: result[1] };
}

/** Index of the `)` that closes an argument list, skipping strings, comments and nested brackets; -1 if none. */
function closingParen(text: string): number {
  let depth = 0;
  for (let i = 0; i < text.length; i += 1) {
    const char = text[i];
    if (char === '"') {
      i = closingQuote(text, i);
      if (i < 0) return -1;
    } else if (char === "/" && text[i + 1] === "*") {
      i = text.indexOf("*/", i + 2);
      if (i < 0) return -1;
      i += 1;
    } else if (char === "(" || char === "[" || char === "{") {
      depth += 1;
    } else if (char === ")" || char === "]" || char === "}") {
      if (depth === 0) return char === ")" ? i : -1;
      depth -= 1;
    }
  }
  return -1;
}

function closingQuote(text: string, open: number): number {
  for (let i = open + 1; i < text.length; i += 1) {
    if (text[i] === "\\") i += 1;
    else if (text[i] === '"') return i;
  }
  return -1;
}

function parseArgs(text: string): bigint[] | null {
  if (text.trim() === "") return [];
  const values: bigint[] = [];
  for (const token of text.split(",")) {
    const arg = token.trim();
    if (!SCALAR.test(arg)) return null;
    values.push(BigInt(arg));
  }
  return values;
}

function garbled(line: string, where: string): SeccomposeError {
  return new SeccomposeError(ErrorCodes.SC_STRACE_PARSE, `${where} is not strace output: ${clip(line)}`);
}

function clip(line: string): string {
  const max = 120;
  return JSON.stringify(line.length > max ? `${line.slice(0, max)}…` : line);
}
