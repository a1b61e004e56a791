/**
 * The strace invocation of local mode. Each flag is there for the parser in `parse.ts`:
 *
 * - `-f`: follow forks and threads; every line then starts with the pid.
 * - `-e quiet=attach,exit,thread-execve`: drop the attach/detach, `+++ exited +++`
 *   and `+++ superseded by execve +++` notices. Not `-qq`: it also silences
 *   `[ Process PID=N runs in 32 bit mode. ]`, the only sign that later names are i386 (or x32) ones.
 * - `-e signal=none`: no `--- SIGCHLD ... ---` lines; signals are not syscalls.
 * - `-e raw=all`: every argument as the raw register value in hex (`openat(0xffffff9c, 0x7f.., 0x80000, 0)`),
 *   which is what seccomp argument rules compare. Strings, structs and flag names never appear, and the
 *   second half of an interleaved call (`<... openat resumed>) = 0x3`) carries no arguments.
 *
 * Not used: `-X raw` changes only how named constants are decoded, and `raw=all` decodes none;
 * timestamps (`-t`, `-r`, `-T`) are accepted by the parser but add nothing to a profile.
 */
export const STRACE_ARGS: readonly string[] = [
  "-f",
  "-e",
  "quiet=attach,exit,thread-execve",
  "-e",
  "signal=none",
  "-e",
  "raw=all",
];

/** The argv (starting with `strace`) that runs `cmd` and writes the trace to `outputPath`, a file or a FIFO. */
export function straceCommand(outputPath: string, cmd: string[]): string[] {
  return ["strace", ...STRACE_ARGS, "-o", outputPath, "--", ...cmd];
}
