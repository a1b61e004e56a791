/**
 * `seccompose install` / `uninstall`: server-side applies (or deletes) the rendered manifests of an
 * overlay, with the NATS credential Secrets generated for the cluster's nodes (default overlay),
 * after checking what can be checked first, and waits for the rollout.
 */
import type { Command } from "commander";
import { stringify as toYaml } from "yaml";
import { ErrorCodes, SeccomposeError, isSeccomposeError } from "../../lib/errors.ts";
import {
  applyManifests,
  deleteManifests,
  waitForRollout,
  type AppliedObject,
  type DeletedObject,
  type ManifestObject,
  type RolloutKind,
  type RolloutProgress,
} from "../../lib/k8s/apply.ts";
import type { Kube } from "../../lib/k8s/client.ts";
import { checkNodes, type NodeCheck } from "../../lib/k8s/nodes.ts";
import { AGENT_DAEMONSET } from "../cluster/agents.ts";
import { withCluster } from "../cluster/connection.ts";
import { addClusterOptions, clusterSettings, type ClusterFlags } from "../cluster/options.ts";
import { outputOption } from "../output-option.ts";
import { note, parseDuration, printJson, warn } from "../output.ts";
import { createProgress } from "../progress.ts";
import {
  CREDENTIAL_SECRETS,
  NATS_AUTH_ANNOTATION,
  completeCredentials,
  credentialSecrets,
  readExistingCredentials,
} from "./nats-credentials.ts";
import { inNamespace, loadManifests, objectName, parseOverlay, type Overlay } from "./manifests.ts";

interface InstallFlags extends Omit<ClusterFlags, "output"> {
  overlay: string;
  dryRun?: boolean;
  output?: string;
  timeout: string;
  forceConflicts?: boolean;
}

const ROLLOUT_KINDS: readonly RolloutKind[] = ["StatefulSet", "Deployment", "DaemonSet"];

export function registerInstall(program: Command): void {
  const install = program
    .command("install")
    .summary("install seccompose in the cluster (NATS, agents, aggregator)")
    .description(
      "Checks the cluster, generates the NATS credentials for its nodes (keeping existing ones), " +
        "server-side applies the rendered manifests and waits for the rollout. Idempotent.",
    )
    .option(
      "--overlay <overlay>",
      "default (3 NATS servers) or dev (1 server, sample credentials)",
      "default",
    )
    .option("--dry-run", "print what would be applied (-o yaml or json) and change nothing")
    .addOption(outputOption(["text", "json", "yaml"]))
    .option("--timeout <duration>", "how long to wait for the rollout", "5m")
    .option("--force-conflicts", "take over fields another field manager owns");
  addClusterOptions(install, { output: false });
  install.action(async (flags: InstallFlags) => {
    if (flags.output === "yaml" && !flags.dryRun)
      throw new SeccomposeError("SC_USAGE", "-o yaml needs --dry-run: only the manifests print as YAML");
    const overlay = parseOverlay(flags.overlay);
    const timeoutMs = parseDuration(flags.timeout, "--timeout");
    const { output: _output, ...cluster } = flags;
    const settings = await clusterSettings(cluster);
    const output = flags.output ?? settings.output;
    await withCluster(settings, async (ctx) => {
      const kube = ctx.kube();
      const plan = await planInstall(kube, overlay, settings.namespace);
      if (flags.dryRun) {
        if (output === "yaml")
          process.stdout.write(plan.objects.map((o) => toYaml(o, { lineWidth: 0 })).join("---\n"));
        else if (output === "json") printJson({ apiVersion: "v1", kind: "List", items: plan.objects });
        else for (const o of plan.objects) process.stdout.write(`${objectName(o)}\n`);
        return;
      }
      const applied: AppliedObject[] = await applyManifests(kube, plan.objects, {
        ...(flags.forceConflicts ? { forceConflicts: true } : {}),
        onApplied: (a) => {
          if (output === "text")
            note(
              `${a.action} ${objectName({ kind: a.kind, metadata: { name: a.name, ...(a.namespace ? { namespace: a.namespace } : {}) } })}`,
            );
        },
      });
      const rollouts = await waitForRollouts(kube, plan.objects, timeoutMs);
      if (output === "json")
        printJson({ overlay, namespace: settings.namespace, applied, rollouts, findings: plan.findings });
      else
        process.stdout.write(
          `seccompose installed in namespace ${settings.namespace} of ${kube.context} (${overlay} overlay)\n`,
        );
    });
  });

  const uninstall = program
    .command("uninstall")
    .summary("remove seccompose from the cluster, with its recorded data")
    .description(
      "Deletes everything install applied, the generated credentials and the namespace (NATS volumes included).",
    )
    .option("--overlay <overlay>", "the overlay that was installed", "default");
  addClusterOptions(uninstall);
  uninstall.action(async (flags: ClusterFlags & { overlay: string }) => {
    const overlay = parseOverlay(flags.overlay);
    const settings = await clusterSettings(flags);
    await withCluster(settings, async (ctx) => {
      const kube = ctx.kube();
      const objects = inNamespace(await loadManifests(overlay), settings.namespace);
      const generated: ManifestObject[] =
        overlay === "default"
          ? CREDENTIAL_SECRETS.map((name) => ({
              apiVersion: "v1",
              kind: "Secret",
              metadata: { name, namespace: settings.namespace },
            }))
          : [];
      const deleted: DeletedObject[] = await deleteManifests(kube, [...objects, ...generated], {
        onDeleted: (d) => {
          if (settings.output === "text")
            note(
              `${d.action} ${objectName({ kind: d.kind, metadata: { name: d.name, ...(d.namespace ? { namespace: d.namespace } : {}) } })}`,
            );
        },
      });
      if (settings.output === "json") printJson({ overlay, namespace: settings.namespace, deleted });
      else
        process.stdout.write(`seccompose removed from namespace ${settings.namespace} of ${kube.context}\n`);
    });
  });
}

interface InstallPlan {
  objects: ManifestObject[];
  findings: string[];
}

/** Checks the cluster and assembles what to apply; prints its findings on stderr as it goes. */
async function planInstall(kube: Kube, overlay: Overlay, namespace: string): Promise<InstallPlan> {
  const findings: string[] = [];
  const say = (line: string, warning = false) => {
    findings.push(line);
    if (warning) warn(line);
    else note(line);
  };
  const existing = await existingInstall(kube, namespace);
  say(existing ?? `no existing install in namespace ${namespace} of ${kube.context}`);
  const nodes: NodeCheck = await checkNodes(kube);
  if (nodes.nodes.length === 0) say("the cluster reports no nodes: no agent will run", true);
  for (const f of nodes.findings) say(f.message, f.modernEbpf !== "supported");
  for (const u of nodes.unsupportedArchitectures) {
    say(
      `Node ${u.node}: architecture ${u.architecture} is not supported by seccompose's syscall tables`,
      true,
    );
  }

  const objects = inNamespace(await loadManifests(overlay), namespace);
  if (overlay === "dev") {
    say(
      "dev overlay: using its PUBLIC sample NATS credentials (kind nodes kind-control-plane, kind-worker, kind-worker2 only)",
      true,
    );
    return { objects, findings };
  }
  const previous = await readExistingCredentials(kube, namespace);
  const credentials = completeCredentials(
    previous,
    nodes.nodes.map((n) => n.name),
  );
  const added = Object.keys(credentials.agents).filter((n) => previous.agents[n] === undefined);
  if (Object.keys(previous.agents).length > 0 && added.length > 0)
    say(
      `new NATS users for node(s) ${added.join(", ")}; the NATS servers restart one at a time to load them`,
    );
  const nats = objects.find((o) => o.kind === "StatefulSet" && o.metadata.name === "nats");
  const servers = (nats as { spec?: { replicas?: number } } | undefined)?.spec?.replicas ?? 1;
  const { secrets, natsAuthDigest } = await credentialSecrets(credentials, previous, namespace, servers);
  if (nats !== undefined) {
    const template = (
      nats as unknown as { spec: { template: { metadata?: { annotations?: Record<string, string> } } } }
    ).spec.template;
    template.metadata ??= {};
    template.metadata.annotations = {
      ...template.metadata.annotations,
      [NATS_AUTH_ANNOTATION]: natsAuthDigest,
    };
  }
  return { objects: [...objects, ...secrets], findings };
}

async function existingInstall(kube: Kube, namespace: string): Promise<string | undefined> {
  try {
    const ds = await kube.call(
      { verb: "get", resource: "daemonsets", namespace, name: AGENT_DAEMONSET },
      () => kube.apps.readNamespacedDaemonSet({ namespace, name: AGENT_DAEMONSET }),
    );
    const image = ds.spec?.template?.spec?.containers?.[0]?.image ?? "unknown image";
    const s = ds.status;
    return `found an existing install in namespace ${namespace}: ${AGENT_DAEMONSET} (${image}) ready on ${s?.numberReady ?? 0} of ${s?.desiredNumberScheduled ?? 0} node(s); applying again keeps its NATS passwords`;
  } catch (err) {
    if (isSeccomposeError(err, ErrorCodes.SC_K8S_NOT_FOUND)) return undefined;
    throw err;
  }
}

/** Waits for NATS, then the aggregator, then the agents, within one overall timeout. */
async function waitForRollouts(
  kube: Kube,
  objects: readonly ManifestObject[],
  timeoutMs: number,
): Promise<RolloutProgress[]> {
  const deadline = Date.now() + timeoutMs;
  const results: RolloutProgress[] = [];
  for (const kind of ROLLOUT_KINDS) {
    for (const o of objects.filter((x) => x.kind === kind)) {
      const target = { kind, namespace: o.metadata.namespace ?? "default", name: o.metadata.name };
      const progress = createProgress(`rollout ${kind} ${target.name}`);
      try {
        const done = await waitForRollout(kube, target, {
          timeoutMs: Math.max(1, deadline - Date.now()),
          onProgress: (p) => progress.update(Math.min(p.ready, p.desired), p.desired, p.message),
        });
        // The last update already showed the final message.
        progress.stop();
        results.push(done);
      } catch (err) {
        progress.stop();
        throw err;
      }
    }
  }
  return results;
}
