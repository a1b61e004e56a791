/**
 * Events the stand-in sees although it cannot see syscalls (see standin-falco.ts): files created
 * in its config directory, the agent's probes and a test's `pod-open-<n>` / `pod-exec-<n>`.
 */
import { statSync, watch } from "node:fs";
import { join } from "node:path";
import { type CommandSpec, cgroupPath, nowNs } from "./alert-format.ts";
import type { RunningFalco } from "./running-falco.ts";

/** The process of STANDIN_POD_OPENS events. */
const POD_OPENS_PID = 4242;

/**
 * Files created in the config directory become `openat` events of a host process, for the
 * agent's probe rule (services/agent/falco/config-writer.ts): the stand-in cannot see syscalls,
 * but it sees the files the agent creates there.
 */
export function watchOpens(falco: RunningFalco, dir: string): void {
  const seen = new Set<string>();
  const host: CommandSpec = { cmd: [], podUid: "", containerId: "" };
  const [podUid, containerId] = (process.env["STANDIN_POD_OPENS"] ?? "/").split("/") as [string, string];
  const pod: CommandSpec = { cmd: [], podUid, containerId };
  let knowsPodProcess = process.env["STANDIN_LEARN_AT_EXEC"] !== "1";
  const probeLoss = Number(process.env["STANDIN_PROBE_LOSS"] ?? 0);
  watch(dir, (_event, name) => {
    if (name === null || seen.has(name)) return;
    seen.add(name);
    const podThread = podUid === "" ? null : /^pod-(open|exec)-(\d+)$/.exec(name);
    if (!podThread && Math.random() < probeLoss) return;
    // Only its creation is the pod's syscall, not its removal. Its time is the file's, the same
    // in every stand-in, as a kernel's timestamp is the same in every Falco's copy of an event.
    const created = podThread ? createdNs(join(dir, name)) : undefined;
    if (podThread && created === undefined) return;
    if (podThread?.[1] === "exec") knowsPodProcess = true;
    if (podThread && !knowsPodProcess) return;
    const tid = podThread ? Number(podThread[2]) : 1;
    falco.event({
      type: podThread?.[1] === "exec" ? "execve" : "openat",
      timeNs: created ?? nowNs(),
      rawres: 3n,
      pid: podThread ? POD_OPENS_PID : 1,
      tid,
      ppid: null,
      processName: podThread ? "app" : "node",
      cgroup: podThread ? cgroupPath(pod) : "/",
      rawArgs: new Map(),
      container: podThread ? pod : host,
      fdName: join(dir, name),
    });
  }).unref();
}

function createdNs(path: string): bigint | undefined {
  try {
    return statSync(path, { bigint: true }).mtimeNs;
  } catch {
    return undefined;
  }
}
