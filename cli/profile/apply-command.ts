/**
 * `seccompose profile apply|unapply|installed|uninstall`: from a recorded profile to an enforced
 * workload. `apply` installs the profile on every node that has an agent (pods move, so every node
 * that may run the workload needs it before a pod lands there), marks it in KV sc_installed so that
 * agents starting later install it too, and only once every expected agent confirmed, binds the
 * container through server-side apply (lib/k8s/seccomp-binding.ts) and follows the rollout.
 */
import type { Command } from "commander";
import { stringify as toYaml } from "yaml";
import type { KubernetesObject } from "@kubernetes/client-node";
import type { InstalledProfileMark, ProfileDocument, WorkloadKey } from "../../lib/contracts/types.ts";
import { ErrorCodes, SeccomposeError } from "../../lib/errors.ts";
import { waitForRollout, type RolloutProgress } from "../../lib/k8s/apply.ts";
import type { Kube } from "../../lib/k8s/client.ts";
import {
  applyBinding,
  assertTemplateMutable,
  bindingFieldManager,
  bindingManaged,
  bindingPatch,
  bindingTarget,
  findContainer,
  localhostProfilePath,
  readOwner,
  unbindingPatch,
  type BindingTarget,
  type ContainerState,
} from "../../lib/k8s/seccomp-binding.ts";
import { InstalledMarks, profileSha256, type MarkEntry } from "../../lib/nats/installed-marks.ts";
import { renderOciProfile, ociProfileJson } from "../../lib/profile/render.ts";
import { sourceFromDocument } from "../../lib/profile/profile-source.ts";
import { assertDistinctProfileNames, profileName, workloadId } from "../../lib/profile/workload-key.ts";
import { ExitCodes } from "../exit-codes.ts";
import { note, parseDuration, printJson, printLines, table, terminalSafe, warn } from "../output.ts";
import { createProgress } from "../progress.ts";
import { expectedAgents } from "../cluster/agents.ts";
import { withCluster, type ClusterContext } from "../cluster/connection.ts";
import { addClusterOptions, clusterSettings, type ClusterFlags } from "../cluster/options.ts";
import { outputOption } from "../output-option.ts";
import { ProfileStore } from "../cluster/profile-store.ts";
import { SessionStore } from "../cluster/session-store.ts";
import { installOnNodes } from "./install-profile.ts";
import { compareWithMarks, listNodeProfiles, uninstallFromNodes } from "./node-profiles.ts";
import { knownWorkloads, parseRevision, resolveWorkload } from "./workload-ref.ts";

/** Profile names never contain `_` (lib/profile/workload-key.ts), so this suffix cannot collide. */
const COMPLAIN_SUFFIX = "_complain";

export function complainProfileName(name: string): string {
  return `${name}${COMPLAIN_SUFFIX}`;
}

interface RolloutFlags {
  wait?: boolean;
  timeout: string;
}

interface ApplyFlags extends Omit<ClusterFlags, "output">, RolloutFlags {
  complain?: boolean;
  dryRun?: boolean;
  revision?: string;
  expectAgents?: string;
  forceConflicts?: boolean;
  output?: string;
}

interface UnapplyFlags extends ClusterFlags, RolloutFlags {}

interface UninstallFlags extends ClusterFlags {
  expectAgents?: string;
  force?: boolean;
}

export function registerProfileApply(profile: Command, setExitCode: (code: number) => void): void {
  const apply = profile
    .command("apply")
    .description(
      "install a workload container's profile on every node with an agent, then bind the container to it (server-side apply on its owner's pod template) and follow the rollout",
    )
    .argument("<session>")
    .argument("<workload>", "namespace/Kind/name/container, a tail of it, or its token")
    .option("--complain", "install and bind the SCMP_ACT_LOG variant (<name>_complain): log, do not deny")
    .option("--dry-run", "print what would be installed and the patch, and change nothing")
    .addOption(outputOption(["text", "json", "yaml"]))
    .option("--revision <n>", "a revision of a continuous session (default: the latest)")
    .option("--expect-agents <n|nodes>", "the agents to expect instead of the agent DaemonSet's")
    .option("--force-conflicts", "take over the container's seccompProfile from another field manager")
    .option("--no-wait", "do not wait for the rollout")
    .option("--timeout <duration>", "how long to wait for the rollout", "5m");
  addClusterOptions(apply, { output: false });
  apply.action(async (session: string, query: string, flags: ApplyFlags) => {
    const output = outputFormat(flags.output, flags.dryRun === true);
    const timeoutMs = parseDuration(flags.timeout, "--timeout");
    const { output: _output, ...cluster } = flags;
    const settings = await clusterSettings(cluster);
    await withCluster(settings, async (ctx) => {
      const kube = ctx.kube();
      const plan = await planApply(ctx, kube, session, query, flags);
      if (flags.dryRun) {
        printPlan(plan, output);
        return;
      }
      assertTemplateMutable(plan.target);
      const { nc } = await ctx.broker();
      // Marked first, so an agent that starts while this runs installs it too.
      await (await InstalledMarks.open(nc)).put(plan.mark);
      const outcome = await installOnNodes(ctx, nc, plan.mark.name, plan.mark.profile, flags.expectAgents);
      const failed = [
        ...outcome.nodes.filter((n) => n.installed === undefined).map((n) => `${n.node} (${n.error ?? ""})`),
        ...outcome.missing,
      ];
      for (const n of outcome.nodes) {
        if (n.installed)
          note(
            `${terminalSafe(n.node)}: ${n.installed.unchanged ? "already installed" : "installed"} ${terminalSafe(n.installed.path)}`,
          );
      }
      if (failed.length > 0 || outcome.nodes.length === 0) {
        throw new SeccomposeError(
          ErrorCodes.SC_INSTALL_INCOMPLETE,
          `profile ${plan.mark.name} is not confirmed on ${failed.length > 0 ? failed.join(", ") : "any node (no agent answered)"}; ${plan.target.kind} ${plan.target.namespace}/${plan.target.name} was not patched (the profile stays marked: agents install it when they start; profile uninstall removes it)`,
          { details: { failed } },
        );
      }
      const bound = await applyBinding(kube, plan.target, plan.patch, {
        ...(flags.forceConflicts ? { forceConflicts: true } : {}),
      });
      const changed = bound.metadata?.resourceVersion !== plan.owner.metadata?.resourceVersion;
      note(
        `${plan.target.kind} ${plan.target.namespace}/${plan.target.name}: container ${plan.target.container} ${changed ? "now uses" : "already used"} ${plan.localhostProfile} (field manager ${bindingFieldManager(plan.target.container)})`,
      );
      const rollout = await followRollout(kube, plan.target, flags, timeoutMs);
      if (output === "json") {
        printJson({
          ...planSummary(plan),
          nodes: outcome.nodes.map((n) => ({ node: n.node, ...n.installed })),
          patched: { changed, generation: bound.metadata?.generation },
          ...(rollout !== undefined ? { rollout } : {}),
        });
      } else {
        printLines([
          `${workloadId(plan.doc.workload)}: bound to ${plan.localhostProfile} on ${outcome.nodes.length} node(s)${rollout?.done ? `, ${rollout.message}` : ""}`,
        ]);
      }
    });
  });

  const unapply = profile
    .command("unapply")
    .description(
      "unbind a workload container from its seccompose profile: the fields profile apply set are removed, fields others set stay",
    )
    .argument("<session>")
    .argument("<workload>", "namespace/Kind/name/container, a tail of it, or its token")
    .option("--no-wait", "do not wait for the rollout")
    .option("--timeout <duration>", "how long to wait for the rollout", "5m");
  addClusterOptions(unapply);
  unapply.action(async (session: string, query: string, flags: UnapplyFlags) => {
    const timeoutMs = parseDuration(flags.timeout, "--timeout");
    const settings = await clusterSettings(flags);
    await withCluster(settings, async (ctx) => {
      const kube = ctx.kube();
      const { workload } = await resolveStored(ctx, session, query);
      const target = bindingTarget(workload);
      const owner = await readOwner(kube, target);
      const manager = bindingFieldManager(target.container);
      if (!bindingManaged(target, owner)) {
        note(
          `${target.kind} ${target.namespace}/${target.name}: container ${target.container} is not bound by seccompose (no fields of field manager ${manager}); nothing to do`,
        );
        if (settings.output === "json") printJson({ workload: workloadId(workload), changed: false });
        return;
      }
      const unbound = await applyBinding(kube, target, unbindingPatch(target));
      const left = findContainer(target, unbound).seccompProfile;
      note(
        `${target.kind} ${target.namespace}/${target.name}: removed the fields of field manager ${manager}; container ${target.container}'s seccompProfile is now ${left !== undefined ? JSON.stringify(left) : "unset"}`,
      );
      const rollout = await followRollout(kube, target, flags, timeoutMs);
      if (settings.output === "json")
        printJson({
          workload: workloadId(workload),
          changed: true,
          ...(left !== undefined ? { seccompProfile: left } : {}),
          ...(rollout !== undefined ? { rollout } : {}),
        });
    });
  });

  const installed = profile
    .command("installed")
    .description(
      "list the profiles on every node, as the agents report them, against those profile apply marked as installed",
    )
    .option("--expect-agents <n|nodes>", "the agents to expect instead of the agent DaemonSet's");
  addClusterOptions(installed);
  installed.action(async (flags: ClusterFlags & { expectAgents?: string }) => {
    const settings = await clusterSettings(flags);
    await withCluster(settings, async (ctx) => {
      const { nc } = await ctx.broker();
      const expectation = await expectedAgents(ctx, flags.expectAgents);
      const [listing, marks] = await Promise.all([listNodeProfiles(nc, expectation), readMarks(nc)]);
      const rows = compareWithMarks(listing.nodes, marks);
      if (settings.output === "json") {
        printJson({
          nodes: listing.nodes,
          marks: marks.flatMap((m) => (m.state === "installed" ? [markSummary(m.mark)] : [])),
          rows,
          missingAgents: listing.missing,
        });
      } else {
        for (const n of listing.nodes) {
          if (n.error !== undefined) warn(`${n.node}: ${n.error}`);
          for (const e of n.sync?.errors ?? [])
            warn(`${n.node}: sync of ${e.name} failed: ${e.code}: ${e.message}`);
        }
        if (rows.length === 0) note("no profiles on any node that answered");
        else
          printLines(
            table(
              ["NODE", "PROFILE", "STATE", "SHA256", "BYTES"],
              rows.map((r) => [
                r.node,
                r.name,
                r.state,
                r.sha256?.slice(0, 12) ?? "-",
                r.bytes !== undefined ? String(r.bytes) : "-",
              ]),
            ),
          );
      }
      for (const m of listing.missing) warn(`no list from ${m}`);
      if (listing.missing.length > 0 || listing.nodes.some((n) => n.error !== undefined))
        setExitCode(ExitCodes.PARTIAL);
    });
  });

  const uninstall = profile
    .command("uninstall")
    .description(
      "remove profiles from every node: NAME (a profile name), or SESSION WORKLOAD (its profile and its complain variant); unmarks them so agents starting later remove them too",
    )
    .argument("<name-or-session>")
    .argument("[workload]")
    .option("--expect-agents <n|nodes>", "the agents to expect instead of the agent DaemonSet's")
    .option("--force", "remove even while the workload's pod template still uses the profile");
  addClusterOptions(uninstall);
  uninstall.action(async (first: string, query: string | undefined, flags: UninstallFlags) => {
    const settings = await clusterSettings(flags);
    await withCluster(settings, async (ctx) => {
      const { nc } = await ctx.broker();
      let names: string[];
      if (query !== undefined) {
        const { workload } = await resolveStored(ctx, first, query);
        const name = profileName(workload);
        names = [name, complainProfileName(name)];
        if (!flags.force) await refuseWhileBound(ctx, workload, names);
      } else names = [checkName(first)];
      const marks = await InstalledMarks.open(nc);
      for (const name of names) await marks.remove(name);
      const expectation = await expectedAgents(ctx, flags.expectAgents);
      const { removals, missing } = await uninstallFromNodes(nc, names, expectation);
      const failed = removals.filter((r) => r.error !== undefined);
      if (settings.output === "json") printJson({ names, removals, missingAgents: missing });
      else
        printLines(
          table(
            ["NODE", "PROFILE", "RESULT"],
            removals.map((r) => [
              r.node,
              r.name,
              r.error !== undefined ? `failed: ${r.error}` : r.uninstalled!.removed ? "removed" : "absent",
            ]),
          ),
        );
      for (const m of missing) warn(`not confirmed by ${m}: it removes the profile when its agent starts`);
      if (missing.length > 0 || failed.length > 0) setExitCode(ExitCodes.PARTIAL);
    });
  });
}

function outputFormat(value: string | undefined, dryRun: boolean): "text" | "json" | "yaml" {
  const output = (value ?? "text") as "text" | "json" | "yaml";
  if (output === "yaml" && !dryRun) {
    throw new SeccomposeError("SC_USAGE", "-o yaml needs --dry-run: only the plan prints as YAML");
  }
  return output;
}

function checkName(name: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/.test(name)) {
    throw new SeccomposeError(
      "SC_USAGE",
      `"${name}" is not a profile name (letters, digits, '.', '_' and '-', as profile installed lists them); to name a workload give SESSION WORKLOAD`,
    );
  }
  return name;
}

interface ApplyPlan {
  doc: ProfileDocument;
  target: BindingTarget;
  owner: KubernetesObject;
  container: ContainerState;
  mark: InstalledProfileMark;
  localhostProfile: string;
  patch: KubernetesObject;
}

async function resolveStored(
  ctx: ClusterContext,
  session: string,
  query: string,
  revision?: number,
): Promise<{ workload: WorkloadKey; doc: ProfileDocument; profiles: ProfileStore }> {
  const { nc, js } = await ctx.broker();
  const profiles = await ProfileStore.open(nc, js);
  const known = await knownWorkloads(profiles, session);
  const { token, workload } = resolveWorkload(query, known, session);
  const doc = await profiles.require(session, token, revision);
  // The installed file must not be another workload's of the session too.
  assertDistinctProfileNames([
    workload,
    ...known.filter((k) => profileName(k.workload) === profileName(workload)).map((k) => k.workload),
  ]);
  return { workload, doc, profiles };
}

async function planApply(
  ctx: ClusterContext,
  kube: Kube,
  session: string,
  query: string,
  flags: ApplyFlags,
): Promise<ApplyPlan> {
  const revision = flags.revision !== undefined ? parseRevision(flags.revision) : undefined;
  const { doc } = await resolveStored(ctx, session, query, revision);
  const target = bindingTarget(doc.workload);
  const { js } = await ctx.broker();
  const options = (await (await SessionStore.open(js)).get(session))?.record.profile ?? {};
  const result = renderOciProfile(sourceFromDocument(doc), {
    ...(options.defaultAction !== undefined ? { defaultAction: options.defaultAction } : {}),
    ...(options.defaultErrnoRet !== undefined ? { defaultErrnoRet: options.defaultErrnoRet } : {}),
    ...(options.baseline !== undefined ? { baseline: options.baseline } : {}),
    ...(flags.complain ? { complain: true } : {}),
  });
  const text = ociProfileJson(result.profile);
  const name = flags.complain ? complainProfileName(profileName(doc.workload)) : profileName(doc.workload);
  if (doc.status === "partial")
    warn(
      `this profile is partial: no complete data from ${terminalSafe((doc.missingNodes ?? []).join(", "))}`,
    );
  const owner = await readOwner(kube, target);
  const container = findContainer(target, owner);
  const localhostProfile = localhostProfilePath(name);
  return {
    doc,
    target,
    owner,
    container,
    localhostProfile,
    mark: {
      schemaVersion: 1,
      name,
      profile: text,
      sha256: profileSha256(text),
      session,
      workload: doc.workload,
      mode: flags.complain ? "complain" : "enforce",
      markedAt: new Date().toISOString(),
    },
    patch: bindingPatch(target, container.list, localhostProfile),
  };
}

function planSummary(plan: ApplyPlan) {
  return {
    session: plan.doc.session,
    workload: workloadId(plan.doc.workload),
    revision: plan.doc.revision,
    status: plan.doc.status,
    profile: {
      name: plan.mark.name,
      mode: plan.mark.mode,
      localhostProfile: plan.localhostProfile,
      sha256: plan.mark.sha256,
      bytes: Buffer.byteLength(plan.mark.profile),
    },
    owner: {
      kind: plan.target.kind,
      namespace: plan.target.namespace,
      name: plan.target.name,
      container: plan.target.container,
      list: plan.container.list,
      ...(plan.container.seccompProfile !== undefined
        ? { seccompProfile: plan.container.seccompProfile }
        : {}),
    },
    fieldManager: bindingFieldManager(plan.target.container),
  };
}

function printPlan(plan: ApplyPlan, output: "text" | "json" | "yaml"): void {
  const summary = { ...planSummary(plan), patch: plan.patch };
  if (output === "json") printJson(summary);
  else if (output === "yaml") process.stdout.write(toYaml(summary));
  else {
    const was = plan.container.seccompProfile;
    printLines([
      `would install ${plan.mark.name} (${plan.mark.mode}, sha256 ${plan.mark.sha256.slice(0, 12)}, ${summary.profile.bytes} bytes) on every node with an agent`,
      `would bind ${plan.target.kind} ${plan.target.namespace}/${plan.target.name} container ${plan.target.container} to ${plan.localhostProfile} (now: ${was !== undefined ? JSON.stringify(was) : "unset"}) with server-side apply as ${summary.fieldManager}:`,
    ]);
    process.stdout.write(toYaml(plan.patch));
  }
  if (plan.target.kind === "Job")
    warn(
      "a Job's pod template is immutable: profile apply refuses it; create the Job again with this securityContext",
    );
}

/**
 * Waits for a Deployment, StatefulSet or DaemonSet to roll out the new template. A CronJob has no
 * rollout: its next Job gets the template, running Jobs keep theirs.
 */
async function followRollout(
  kube: Kube,
  target: BindingTarget,
  flags: RolloutFlags,
  timeoutMs: number,
): Promise<RolloutProgress | undefined> {
  if (target.kind === "CronJob") {
    note(
      `CronJob ${target.namespace}/${target.name}: the next Job it creates uses the new template; running Jobs keep theirs`,
    );
    return undefined;
  }
  if (target.kind === "Job") return undefined;
  if (flags.wait === false) {
    note(
      `not waiting for the rollout (seccompose status, or kubectl rollout status ${target.kind.toLowerCase()}/${target.name} -n ${target.namespace})`,
    );
    return undefined;
  }
  const progress = createProgress(`rollout ${target.kind} ${target.name}`);
  try {
    const done = await waitForRollout(
      kube,
      { kind: target.kind, namespace: target.namespace, name: target.name },
      {
        timeoutMs,
        onProgress: (p) =>
          progress.update(
            Math.min(p.updated, p.desired),
            p.desired,
            `${p.message} (observedGeneration ${p.observedGeneration ?? "-"} of ${p.generation ?? "-"})`,
          ),
      },
    );
    progress.stop();
    return done;
  } catch (err) {
    progress.stop();
    throw err;
  }
}

async function readMarks(nc: Awaited<ReturnType<ClusterContext["broker"]>>["nc"]): Promise<MarkEntry[]> {
  try {
    return await (await InstalledMarks.open(nc)).entries();
  } catch (err) {
    warn(`cannot read the installed-profile marks: ${(err as Error).message}`);
    return [];
  }
}

function markSummary(mark: InstalledProfileMark) {
  const { profile: _profile, ...rest } = mark;
  return { ...rest, workload: workloadId(mark.workload) };
}

/** Refuses to remove a profile the workload's pod template still names: its next pods could not start. */
async function refuseWhileBound(ctx: ClusterContext, workload: WorkloadKey, names: readonly string[]) {
  const found = ctx.optionalKube();
  if ("reason" in found) return;
  let target: BindingTarget;
  try {
    target = bindingTarget(workload);
  } catch {
    return;
  }
  const owner = await readOwner(found.kube, target).catch(() => undefined);
  if (owner === undefined) return;
  const used = findContainerOrUndefined(target, owner)?.seccompProfile?.localhostProfile;
  const name = names.find((n) => localhostProfilePath(n) === used);
  if (name !== undefined) {
    throw new SeccomposeError(
      ErrorCodes.SC_PROFILE_IN_USE,
      `${target.kind} ${target.namespace}/${target.name} container ${target.container} still uses ${used}: its next pods could not start without it; run profile unapply first (or --force)`,
    );
  }
}

function findContainerOrUndefined(
  target: BindingTarget,
  owner: KubernetesObject,
): ContainerState | undefined {
  try {
    return findContainer(target, owner);
  } catch {
    return undefined;
  }
}
