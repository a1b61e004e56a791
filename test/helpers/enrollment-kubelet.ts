/**
 * Plays the kubelet for the enrollment pods `seccompose install` creates on the stand-in API
 * server: for each new pod it runs the real agent entry point (services/agent/main.ts) with the
 * pod's own arguments and environment, its identity hostPath mapped to a directory per node under
 * `root`, and then sets the pod's status as a kubelet would (terminated, with the termination
 * message the process wrote). A node can instead be left unstarted with a waiting reason.
 */
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { promisify } from "node:util";
import type { V1Pod } from "@kubernetes/client-node";
import { AGENT_MAIN } from "./agent-process.ts";
import type { FakeApiServer, FakeObject } from "./fake-apiserver.ts";

const execFileAsync = promisify(execFile);

export interface EnrollmentRun {
  node: string;
  pod: V1Pod;
  exitCode: number;
  message: string;
}

export interface EnrollmentKubelet {
  /** Every pod run so far, in order. */
  readonly runs: EnrollmentRun[];
  /** The directory standing in for `node`'s identity hostPath. */
  identityDir(node: string): string;
  stop(): Promise<void>;
}

export interface EnrollmentKubeletOptions {
  namespace: string;
  /** One subdirectory per node stands in for its identity hostPath. */
  root: string;
  /** Nodes whose pods never start: the kubelet leaves them waiting with this reason and message. */
  stuck?: Record<string, { reason: string; message: string }>;
}

export function startEnrollmentKubelet(
  api: FakeApiServer,
  opts: EnrollmentKubeletOptions,
): EnrollmentKubelet {
  const runs: EnrollmentRun[] = [];
  const seen = new Set<string>();
  const identityDir = (node: string) => join(opts.root, node);
  let stopped = false;

  const run = async (pod: V1Pod): Promise<void> => {
    const node = pod.spec!.nodeName!;
    const stuck = opts.stuck?.[node];
    if (stuck !== undefined) {
      api.update({
        ...(pod as FakeObject),
        status: {
          phase: "Pending",
          containerStatuses: [{ name: "enroll", ready: false, state: { waiting: stuck } }],
        },
      });
      return;
    }
    const container = pod.spec!.containers[0]!;
    const mount = container.volumeMounts![0]!;
    const env: Record<string, string> = {};
    for (const e of container.env ?? []) {
      if (e.valueFrom?.fieldRef?.fieldPath === "spec.nodeName") env[e.name] = node;
      else if (e.value !== undefined && e.value.startsWith(`${mount.mountPath}/`))
        env[e.name] = join(identityDir(node), relative(mount.mountPath, e.value));
      else if (e.value !== undefined) env[e.name] = e.value;
    }
    const scratch = await mkdtemp(join(tmpdir(), "sc-kubelet-"));
    const messageFile = join(scratch, "termination-log");
    let exitCode = 0;
    try {
      await execFileAsync(
        process.execPath,
        [AGENT_MAIN, ...(container.args ?? []), "--message-file", messageFile],
        { env: { ...process.env, ...env } },
      );
    } catch (err) {
      exitCode = (err as { code?: number }).code ?? 1;
    }
    const message = await readFile(messageFile, "utf8").catch(() => "");
    await rm(scratch, { recursive: true, force: true });
    runs.push({ node, pod, exitCode, message });
    const current = api.get("Pod", pod.metadata!.namespace, pod.metadata!.name!);
    if (current === undefined) return;
    api.update({
      ...current,
      status: {
        phase: exitCode === 0 ? "Succeeded" : "Failed",
        containerStatuses: [
          {
            name: "enroll",
            ready: false,
            restartCount: 0,
            image: container.image,
            imageID: "",
            state: {
              terminated: {
                exitCode,
                reason: exitCode === 0 ? "Completed" : "Error",
                message,
                startedAt: new Date().toISOString(),
                finishedAt: new Date().toISOString(),
              },
            },
          },
        ],
      },
    });
  };

  // Like kubelets on different nodes, pods run side by side.
  const running: Array<Promise<void>> = [];
  const loop = (async () => {
    while (!stopped) {
      for (const pod of api.list("Pod", opts.namespace) as V1Pod[]) {
        const uid = pod.metadata?.uid ?? "";
        if (pod.metadata?.labels?.["app.kubernetes.io/name"] !== "seccompose-enroll" || seen.has(uid))
          continue;
        seen.add(uid);
        running.push(run(pod));
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    await Promise.all(running);
  })();

  return {
    runs,
    identityDir,
    async stop() {
      stopped = true;
      await loop;
    },
  };
}
