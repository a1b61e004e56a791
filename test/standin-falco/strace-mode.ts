/**
 * The stand-in's strace mode (see standin-falco.ts): each command runs under strace to its end,
 * then what Falco would report of its syscalls (strace-events.ts) goes to the stand-in.
 */
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { straceCommand } from "../../lib/strace/command.ts";
import { StraceParser, type SyscallRecord } from "../../lib/strace/parse.ts";
import { readStraceFile } from "../../lib/strace/read.ts";
import type { CommandSpec } from "./alert-format.ts";
import type { RunningFalco } from "./running-falco.ts";
import { commandEvents } from "./strace-events.ts";

const children = new Set<number>();
const REPEAT_PAUSE_MS = 50;

/** Runs one command under strace to completion and returns its syscall records, in order. */
async function traceCommand(cmd: string[]): Promise<SyscallRecord[]> {
  const dir = await mkdtemp(join(tmpdir(), "standin-falco-"));
  try {
    const output = join(dir, "trace");
    const [file = "strace", ...args] = straceCommand(output, cmd);
    // Its own process group, so SIGTERM can take the traced command down with it.
    const child = spawn(file, args, { stdio: "ignore", detached: true });
    if (child.pid !== undefined) children.add(child.pid);
    await new Promise<void>((resolve, reject) => {
      child.on("error", reject);
      child.on("close", () => resolve());
    });
    if (child.pid !== undefined) children.delete(child.pid);
    const records: SyscallRecord[] = [];
    for await (const record of readStraceFile(output, new StraceParser({ lenient: true, source: output }))) {
      if (record.kind === "syscall") records.push(record);
    }
    return records;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function runCommands(falco: RunningFalco, specs: readonly CommandSpec[]): Promise<void> {
  for (const spec of specs) {
    const records = await traceCommand(spec.cmd);
    for (const event of commandEvents(spec, records, falco.config.notAsked)) falco.event(event);
  }
}

/** `STANDIN_REPEAT=1`: the commands again and again, until SIGTERM. */
export async function repeatCommands(falco: RunningFalco, specs: readonly CommandSpec[]): Promise<void> {
  while (process.env["STANDIN_REPEAT"] === "1") {
    await sleep(REPEAT_PAUSE_MS);
    await runCommands(falco, specs);
    falco.flush();
  }
}

/** At SIGTERM: the commands being traced, with their process groups. */
export function killTracedCommands(): void {
  for (const pid of children) {
    try {
      process.kill(-pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
}
