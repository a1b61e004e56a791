/**
 * `seccompose install` / `uninstall`: server-side applies (or deletes) the rendered manifests of an
 * overlay, after checking what can be checked first, and waits for the rollout. With the default
 * overlay it first enrolls the nodes that have no NATS key yet (enrollment.ts) and generates the
 * NATS credential Secrets from their public keys (nats-credentials.ts).
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
import { enrollNodes, enrollmentTemplate } from "./enrollment.ts";
import {
  CREDENTIAL_SECRETS,
  NATS_AUTH_ANNOTATION,
  SECRET_AGENT_PASSWORDS,
  completeCredentials,
  credentialSecrets,
  readExistingCredentials,
  type ExistingCredentials,
} from "./nats-credentials.ts";
import { inNamespace, loadManifests, objectName, parseOverlay, type Overlay } from "./manifests.ts";
import { listItems } from "../../lib/list-items.ts";

interface InstallFlags extends Omit<ClusterFlags, "output"> {
  overlay: string;
  dryRun?: boolean;
  output?: string;
  timeout: string;
  forceConflicts?: boolean;
  enroll?: string;
}

const ROLLOUT_KINDS: readonly RolloutKind[] = ["StatefulSet", "Deployment", "DaemonSet"];

export function registerInstall(program: Command): void {
  const install = program
    .command("install")
    .summary("install seccompose in the cluster (NATS, agents, aggregator)")
    .description(
      "Checks the cluster, enrolls the nodes that have no NATS key yet (a one-shot pod per node " +
        "creates the key on the node and reports only its public key), generates the NATS users " +
        "(keeping existing keys and passwords), server-side applies the rendered manifests and " +
        "waits for the rollout. Idempotent.",
    )
    .option(
      "--overlay <overlay>",
      "default (3 NATS servers) or dev (1 server, sample credentials)",
      "default",
    )
    .option("--dry-run", "print what would be applied (-o yaml or json) and change nothing")
    .addOption(outputOption(["text", "json", "yaml"]))
    .option("--timeout <duration>", "how long to wait for the enrollment and the rollout", "5m")
    .option("--force-conflicts", "take over fields another field manager owns")
    .option(
      "--enroll <nodes>",
      "enroll these nodes again (comma-separated, or all), e.g. a reinstalled node that lost its identity directory; a seed still there is kept",
    );
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
      const plan = await planInstall(kube, overlay, settings.namespace, flags.enroll);
      if (flags.dryRun) {
        const objects = [...plan.objects, ...(await credentialObjects(plan, {}))];
        if (output === "yaml")
          process.stdout.write(objects.map((o) => toYaml(o, { lineWidth: 0 })).join("---\n"));
        else if (output === "json") printJson({ apiVersion: "v1", kind: "List", items: objects });
        else for (const o of objects) process.stdout.write(`${objectName(o)}\n`);
        return;
      }
      const deadline = Date.now() + timeoutMs;
      const applyOptions = {
        ...(flags.forceConflicts ? { forceConflicts: true } : {}),
        onApplied: (a: AppliedObject) => {
          if (output === "text")
            note(
              `${a.action} ${objectName({ kind: a.kind, metadata: { name: a.name, ...(a.namespace ? { namespace: a.namespace } : {}) } })}`,
            );
        },
      };
      // Enrollment pods need the namespace and the agent's service account.
      const first = plan.objects.filter((o) => PREREQUISITE_KINDS.includes(o.kind));
      const applied: AppliedObject[] = await applyManifests(kube, first, applyOptions);
      const enrolled = await enroll(kube, plan, deadline);
      const rest = [
        ...plan.objects.filter((o) => !PREREQUISITE_KINDS.includes(o.kind)),
        ...(await credentialObjects(plan, enrolled)),
      ];
      applied.push(...(await applyManifests(kube, rest, applyOptions)));
      if (plan.existing?.agentPasswordSecret) await removeAgentPasswords(kube, settings.namespace);
      const rollouts = await waitForRollouts(kube, plan.objects, Math.max(1, deadline - Date.now()));
      if (output === "json")
        printJson({
          overlay,
          namespace: settings.namespace,
          enrolled: Object.keys(enrolled),
          applied,
          rollouts,
          findings: plan.findings,
        });
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
          ? [...CREDENTIAL_SECRETS, SECRET_AGENT_PASSWORDS].map((name) => ({
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

/** Applied before enrollment: its pods need the namespace and the agent's service account. */
const PREREQUISITE_KINDS = ["Namespace", "ServiceAccount"];

interface InstallPlan {
  overlay: Overlay;
  namespace: string;
  objects: ManifestObject[];
  findings: string[];
  nodes: string[];
  /** The credentials of an existing install; undefined for the dev overlay, which brings its own. */
  existing?: ExistingCredentials;
  /** Nodes without an enrolled key (all of them at the first install). */
  toEnroll: string[];
}

/** Checks the cluster and assembles what to apply; prints its findings on stderr as it goes. */
async function planInstall(
  kube: Kube,
  overlay: Overlay,
  namespace: string,
  enrollAgain: string | undefined,
): Promise<InstallPlan> {
  const findings: string[] = [];
  const say = (line: string, warning = false) => {
    findings.push(line);
    if (warning) warn(line);
    else note(line);
  };
  const existingDs = await existingInstall(kube, namespace);
  say(existingDs ?? `no existing install in namespace ${namespace} of ${kube.context}`);
  const checked: NodeCheck = await checkNodes(kube);
  if (checked.nodes.length === 0) say("the cluster reports no nodes: no agent will run", true);
  for (const f of checked.findings) say(f.message, f.modernEbpf !== "supported");
  for (const u of checked.unsupportedArchitectures) {
    say(
      `Node ${u.node}: architecture ${u.architecture} is not supported by seccompose's syscall tables`,
      true,
    );
  }
  const nodes = checked.nodes.map((n) => n.name);
  const objects = inNamespace(await loadManifests(overlay), namespace);
  if (overlay === "dev") {
    if (enrollAgain !== undefined)
      throw new SeccomposeError(
        "SC_USAGE",
        "--enroll needs the default overlay: the dev overlay's agents use passwords",
      );
    say(
      "dev overlay: using its PUBLIC sample NATS credentials (kind nodes kind-control-plane, kind-worker, kind-worker2 only)",
      true,
    );
    return { overlay, namespace, objects, findings, nodes, toEnroll: [] };
  }
  const again = enrollmentRequest(enrollAgain, nodes);
  const existing = await readExistingCredentials(kube, namespace);
  const toEnroll = nodes.filter((n) => existing.agents[n] === undefined || again.has(n)).sort();
  const known = nodes.length - toEnroll.length;
  if (toEnroll.length > 0)
    say(
      `node(s) to enroll (a one-shot pod on each creates its NATS key): ${toEnroll.join(", ")}` +
        (known > 0
          ? `; ${known} node(s) keep their keys, and the NATS servers restart one at a time to load the new ones`
          : ""),
    );
  else if (known > 0) say(`all ${known} node(s) are enrolled already; their keys are kept`);
  if (existing.agentPasswordSecret)
    say(
      `Secret ${SECRET_AGENT_PASSWORDS} of an earlier install holds agent passwords nothing uses any more: it is deleted`,
    );
  return { overlay, namespace, objects, findings, nodes, existing, toEnroll };
}

/** The nodes `--enroll` names (all of them for "all"); a name that is not a node of the cluster is a usage error. */
function enrollmentRequest(value: string | undefined, nodes: readonly string[]): Set<string> {
  if (value === undefined) return new Set();
  if (value.trim() === "all") return new Set(nodes);
  const named = listItems(value);
  const unknown = named.filter((n) => !nodes.includes(n));
  if (named.length === 0 || unknown.length > 0) {
    throw new SeccomposeError(
      "SC_USAGE",
      `--enroll must name nodes of the cluster (comma-separated) or all; not nodes: ${unknown.map((n) => JSON.stringify(n)).join(", ") || "(none given)"}`,
    );
  }
  return new Set(named);
}

/** Enrolls the plan's new nodes, within what is left of the install's timeout. */
async function enroll(kube: Kube, plan: InstallPlan, deadline: number): Promise<Record<string, string>> {
  if (plan.toEnroll.length === 0) return {};
  const progress = createProgress("enrollment");
  try {
    return await enrollNodes(kube, {
      namespace: plan.namespace,
      template: enrollmentTemplate(plan.objects),
      nodes: plan.toEnroll,
      timeoutMs: Math.max(1, deadline - Date.now()),
      onProgress: (done, total, label) => progress.update(done, total, label),
    });
  } finally {
    progress.stop();
  }
}

/**
 * The credential Secrets for the enrolled and already known nodes (none for the dev overlay), with
 * their digest on the NATS StatefulSet's pod template so new users roll the servers.
 */
async function credentialObjects(
  plan: InstallPlan,
  enrolled: Readonly<Record<string, string>>,
): Promise<ManifestObject[]> {
  if (plan.existing === undefined) return [];
  const credentials = completeCredentials(plan.existing, plan.nodes, enrolled);
  const nats = plan.objects.find((o) => o.kind === "StatefulSet" && o.metadata.name === "nats");
  const servers = (nats as { spec?: { replicas?: number } } | undefined)?.spec?.replicas ?? 1;
  const { secrets, natsAuthDigest } = await credentialSecrets(
    credentials,
    plan.existing,
    plan.namespace,
    servers,
  );
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
  return secrets;
}

async function removeAgentPasswords(kube: Kube, namespace: string): Promise<void> {
  await deleteManifests(
    kube,
    [{ apiVersion: "v1", kind: "Secret", metadata: { name: SECRET_AGENT_PASSWORDS, namespace } }],
    { onDeleted: (d) => note(`${d.action} Secret ${namespace}/${d.name}`) },
  );
}

async function existingInstall(kube: Kube, namespace: string): Promise<string | undefined> {
  try {
    const ds = await kube.call(
      { verb: "get", resource: "daemonsets", namespace, name: AGENT_DAEMONSET },
      () => kube.apps.readNamespacedDaemonSet({ namespace, name: AGENT_DAEMONSET }),
    );
    const image = ds.spec?.template?.spec?.containers?.[0]?.image ?? "unknown image";
    const s = ds.status;
    return `found an existing install in namespace ${namespace}: ${AGENT_DAEMONSET} (${image}) ready on ${s?.numberReady ?? 0} of ${s?.desiredNumberScheduled ?? 0} node(s); applying again keeps its nodes' NATS keys and its passwords`;
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
