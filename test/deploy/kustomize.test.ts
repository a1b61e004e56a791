/**
 * Renders every kustomize overlay with `kubectl kustomize` and checks each object offline: the
 * kubernetes-models schema of its kind, no field that Kubernetes does not know (the models of
 * @kubernetes/client-node list every field), and the deployment's own rules (namespace, pinned
 * images, resources and probes, least privilege, NATS configuration and permissions).
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import * as k8s from "@kubernetes/client-node";
import type {
  V1ClusterRole,
  V1ClusterRoleBinding,
  V1PodDisruptionBudget,
  V1ConfigMap,
  V1Container,
  V1DaemonSet,
  V1Deployment,
  V1EnvVar,
  V1PodSpec,
  V1Secret,
  V1Service,
  V1ServiceAccount,
  V1StatefulSet,
} from "@kubernetes/client-node";
import * as apps from "kubernetes-models/apps/v1";
import * as policy from "kubernetes-models/policy/v1";
import * as rbac from "kubernetes-models/rbac.authorization.k8s.io/v1";
import * as core from "kubernetes-models/v1";
import { connect } from "@nats-io/transport-node";
import { parseAllDocuments } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import packageJson from "../../package.json" with { type: "json" };
import { resolveAgentConfig } from "../../services/agent/config.ts";
import { startNatsServer } from "../helpers/nats.ts";
import { enrollmentTemplate } from "../../cli/install/enrollment.ts";
import type { ManifestObject } from "../../lib/k8s/apply.ts";
import { natsUsers, passwordUsers, userName } from "./nats-users.ts";
import type { NatsUser } from "./nats-users.ts";

const execFileAsync = promisify(execFile);

const KUBECTL = process.env.KUBECTL ?? "kubectl";
const NATS_SERVER_BIN =
  process.env.NATS_SERVER_BIN ??
  (existsSync("/usr/sbin/nats-server") ? "/usr/sbin/nats-server" : "nats-server");
const KUSTOMIZE_ROOT = new URL("../../deploy/kustomize/", import.meta.url).pathname;
const DOCKER_DIR = new URL("../../deploy/docker/", import.meta.url).pathname;
const OVERLAYS = ["default", "dev"] as const;
type Overlay = (typeof OVERLAYS)[number];
const NAMESPACE = "seccompose";
const CLUSTER_SCOPED = new Set(["Namespace", "ClusterRole", "ClusterRoleBinding"]);
/** The capabilities Falco documents for least-privileged modern_ebpf, and nothing else. */
const AGENT_CAPABILITIES = ["BPF", "PERFMON", "SYS_PTRACE", "SYS_RESOURCE"];
/** Host paths only the kmod driver (or its loader) needs. */
const KMOD_HOST_PATHS = ["/dev", "/lib/modules", "/boot", "/usr", "/sys/module"];

interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: unknown;
}

interface Validatable {
  validate(): void;
}

/** kubernetes-models validators, by `apiVersion/kind`; every kind the manifests use must be here. */
const MODELS: Record<string, new (data: never) => Validatable> = {
  "v1/Namespace": core.Namespace,
  "v1/ServiceAccount": core.ServiceAccount,
  "v1/Service": core.Service,
  "v1/ConfigMap": core.ConfigMap,
  "v1/Secret": core.Secret,
  "apps/v1/StatefulSet": apps.StatefulSet,
  "apps/v1/DaemonSet": apps.DaemonSet,
  "apps/v1/Deployment": apps.Deployment,
  "policy/v1/PodDisruptionBudget": policy.PodDisruptionBudget,
  "rbac.authorization.k8s.io/v1/ClusterRole": rbac.ClusterRole,
  "rbac.authorization.k8s.io/v1/ClusterRoleBinding": rbac.ClusterRoleBinding,
  "rbac.authorization.k8s.io/v1/Role": rbac.Role,
  "rbac.authorization.k8s.io/v1/RoleBinding": rbac.RoleBinding,
};

async function render(dir: string): Promise<KubeObject[]> {
  let stdout: string;
  try {
    ({ stdout } = await execFileAsync(KUBECTL, ["kustomize", dir], { maxBuffer: 16 * 1024 * 1024 }));
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === "ENOENT") {
      throw new Error(
        `${KUBECTL} not found: these tests render the manifests with \`kubectl kustomize\` (set KUBECTL)`,
        {
          cause: err,
        },
      );
    }
    throw new Error(`kubectl kustomize ${dir} failed: ${e.stderr ?? e.message}`, { cause: err });
  }
  const objects = parseAllDocuments(stdout).map((doc) => doc.toJS() as KubeObject);
  // kustomize wraps long base64 values over lines, which the API server's decoder skips.
  for (const obj of objects) {
    if (obj.kind !== "Secret") continue;
    const data = (obj as unknown as V1Secret).data ?? {};
    for (const key of Object.keys(data)) data[key] = data[key]!.replace(/\s/g, "");
  }
  return objects;
}

interface AttributeType {
  baseName: string;
  type: string;
}

const SCALAR_TYPES = new Set(["string", "number", "boolean", "Date", "any", "object", "IntOrString"]);

/** Paths of fields in `value` that the @kubernetes/client-node model `type` does not define. */
function unknownFields(value: unknown, type: string, path: string): string[] {
  if (value === null || value === undefined || SCALAR_TYPES.has(type)) return [];
  const array = /^Array<(.+)>$/.exec(type);
  if (array) return (value as unknown[]).flatMap((v, i) => unknownFields(v, array[1]!, `${path}[${i}]`));
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) {
    return Object.entries(value as object).flatMap(([k, v]) => unknownFields(v, map[1]!, `${path}.${k}`));
  }
  const model = (k8s as unknown as Record<string, { getAttributeTypeMap?: () => AttributeType[] }>)[type];
  if (model?.getAttributeTypeMap === undefined) throw new Error(`no client-node model ${type} (at ${path})`);
  const attributes = model.getAttributeTypeMap();
  return Object.entries(value as object).flatMap(([key, v]) => {
    const attribute = attributes.find((a) => a.baseName === key);
    return attribute ? unknownFields(v, attribute.type, `${path}.${key}`) : [`${path}.${key}`];
  });
}

function podSpecOf(obj: KubeObject): V1PodSpec | undefined {
  if (!["StatefulSet", "DaemonSet", "Deployment"].includes(obj.kind)) return undefined;
  return (obj as unknown as V1StatefulSet).spec?.template.spec;
}

function containersOf(obj: KubeObject): V1Container[] {
  const spec = podSpecOf(obj);
  return [...(spec?.initContainers ?? []), ...(spec?.containers ?? [])];
}

function find<T>(objects: KubeObject[], kind: string, name: string): T {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!found) throw new Error(`no ${kind} ${name} in the rendered manifests`);
  return found as unknown as T;
}

/** A kustomize-generated object: its name is `<name>-<content hash>` unless the hash is turned off. */
function findGenerated<T>(objects: KubeObject[], kind: string, name: string): T {
  const found = objects.find(
    (o) => o.kind === kind && (o.metadata.name === name || o.metadata.name.startsWith(`${name}-`)),
  );
  if (!found) throw new Error(`no ${kind} ${name}(-hash) in the rendered manifests`);
  return found as unknown as T;
}

function envOf(container: V1Container, name: string): V1EnvVar {
  const env = container.env?.find((e) => e.name === name);
  if (!env) throw new Error(`container ${container.name} has no env ${name}`);
  return env;
}

/** The container's environment as the kubelet builds it for a pod on `nodeName`. */
function podEnvironment(container: V1Container, nodeName: string): Record<string, string> {
  const fields: Record<string, string> = {
    "spec.nodeName": nodeName,
    "metadata.name": "seccompose-agent-x7k2p",
    "metadata.namespace": NAMESPACE,
  };
  const env: Record<string, string> = {};
  for (const { name, value, valueFrom } of container.env ?? []) {
    if (valueFrom?.fieldRef) env[name] = fields[valueFrom.fieldRef.fieldPath]!;
    else if (value !== undefined)
      env[name] = value.replace(/\$\((\w+)\)/g, (ref, v: string) => env[v] ?? ref);
  }
  return env;
}

function secretData(secret: V1Secret): Record<string, string> {
  return Object.fromEntries(
    Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, "base64").toString("utf8")]),
  );
}

function withoutPasswords(users: NatsUser[]): Omit<NatsUser, "password">[] {
  return users.map(({ password: _password, ...rest }) => rest).sort((a, b) => a.user.localeCompare(b.user));
}

/** Runs `nats-server -t` on the rendered configuration files, as the pod would see them. */
async function natsConfigTest(files: Record<string, string>, env: Record<string, string>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "sc-nats-conf-"));
  try {
    for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
    await execFileAsync(NATS_SERVER_BIN, ["-t", "-c", join(dir, "nats.conf")], {
      env: { ...process.env, ...env },
    });
  } catch (err) {
    const e = err as Error & { stderr?: string; stdout?: string };
    throw new Error(`nats-server rejected the rendered configuration: ${e.stderr ?? ""}${e.stdout ?? ""}`, {
      cause: err,
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const rendered = {} as Record<Overlay, KubeObject[]>;

beforeAll(async () => {
  for (const overlay of OVERLAYS) rendered[overlay] = await render(join(KUSTOMIZE_ROOT, "overlays", overlay));
});

describe.each(OVERLAYS)("overlay %s", (overlay) => {
  const objects = () => rendered[overlay];

  it("renders only kinds with a schema, and every object passes its kind's schema", () => {
    expect(objects().length).toBeGreaterThan(10);
    for (const obj of objects()) {
      const Model = MODELS[`${obj.apiVersion}/${obj.kind}`];
      if (!Model) throw new Error(`no schema for ${obj.apiVersion} ${obj.kind} ${obj.metadata.name}`);
      expect(() => new Model(obj as never).validate(), `${obj.kind} ${obj.metadata.name}`).not.toThrow();
    }
  });

  it("uses no field Kubernetes does not know", () => {
    const unknown = objects().flatMap((obj) => {
      const { apiVersion: _a, kind: _k, ...fields } = obj;
      return unknownFields(fields, `V1${obj.kind}`, `${obj.kind}/${obj.metadata.name}`);
    });
    expect(unknown).toEqual([]);
  });

  it("puts every namespaced object in the seccompose namespace", () => {
    for (const obj of objects()) {
      const where = `${obj.kind} ${obj.metadata.name}`;
      if (CLUSTER_SCOPED.has(obj.kind)) expect(obj.metadata.namespace, where).toBeUndefined();
      else expect(obj.metadata.namespace, where).toBe(NAMESPACE);
    }
    expect(find<KubeObject>(objects(), "Namespace", NAMESPACE).metadata.name).toBe(NAMESPACE);
  });

  it("pins every image to a version or digest", () => {
    const images = objects().flatMap((obj) => containersOf(obj).map((c) => c.image ?? ""));
    expect(images.length).toBeGreaterThanOrEqual(3);
    for (const image of images) {
      const pinned = /@sha256:[0-9a-f]{64}$/.test(image) || /:[\w.-]+$/.test(image.split("/").pop() ?? "");
      expect(pinned && !image.endsWith(":latest"), image).toBe(true);
    }
  });

  it("gives every container resource requests, a memory limit and liveness and readiness probes", () => {
    for (const obj of objects()) {
      for (const c of containersOf(obj)) {
        const where = `${obj.kind} ${obj.metadata.name} container ${c.name}`;
        expect(c.resources?.requests?.cpu, where).toBeDefined();
        expect(c.resources?.requests?.memory, where).toBeDefined();
        expect(c.resources?.limits?.memory, where).toBeDefined();
        expect(c.livenessProbe, where).toBeDefined();
        expect(c.readinessProbe, where).toBeDefined();
      }
    }
  });

  it("runs the agent on every node with Falco's least privileges and no kmod mounts", () => {
    const ds = find<V1DaemonSet>(objects(), "DaemonSet", "seccompose-agent");
    const pod = ds.spec!.template.spec!;
    expect(pod.hostPID ?? false).toBe(false);
    expect(pod.hostNetwork ?? false).toBe(false);
    expect(pod.tolerations).toContainEqual({ operator: "Exists" });
    expect(pod.containers).toHaveLength(1);
    for (const c of [...pod.containers, ...(pod.initContainers ?? [])]) {
      expect(c.securityContext?.privileged ?? false, c.name).toBe(false);
    }
    const agent = pod.containers[0]!;
    expect(agent.securityContext?.capabilities?.add?.slice().sort()).toEqual(AGENT_CAPABILITIES);
    expect(agent.securityContext?.capabilities?.drop).toEqual(["ALL"]);
    expect(agent.securityContext?.appArmorProfile?.type).toBe("Unconfined");
    expect(envOf(agent, "NODE_NAME").valueFrom?.fieldRef?.fieldPath).toBe("spec.nodeName");

    const hostPaths = new Map(
      (pod.volumes ?? []).filter((v) => v.hostPath).map((v) => [v.name, v.hostPath!]),
    );
    const mountOf = (path: string) => agent.volumeMounts?.find((m) => m.mountPath === path);
    for (const [mountPath, hostPath] of [
      ["/host/proc", "/proc"],
      ["/host/etc", "/etc"],
      ["/sys/kernel", "/sys/kernel"],
    ] as const) {
      const mount = mountOf(mountPath);
      expect(mount?.readOnly, mountPath).toBe(true);
      expect(hostPaths.get(mount!.name)?.path, mountPath).toBe(hostPath);
    }
    for (const writable of ["/var/lib/kubelet/seccomp/seccompose", "/var/lib/seccompose"]) {
      const mount = mountOf(writable);
      expect(mount?.readOnly ?? false, writable).toBe(false);
      expect(hostPaths.get(mount!.name), writable).toEqual({ path: writable, type: "DirectoryOrCreate" });
    }
    for (const { path } of hostPaths.values()) {
      expect(
        KMOD_HOST_PATHS.some((kmod) => path === kmod || path.startsWith(`${kmod}/`)),
        path,
      ).toBe(false);
    }
  });

  it("gives NATS no Kubernetes API token", () => {
    const pod = podSpecOf(find<KubeObject>(objects(), "StatefulSet", "nats"))!;
    expect(pod.automountServiceAccountToken).toBe(false);
    const account = find<V1ServiceAccount>(objects(), "ServiceAccount", pod.serviceAccountName!);
    expect(account.automountServiceAccountToken).toBe(false);
  });

  it("lets the aggregator read pods and their owners, nothing else, and requires its pod ownership check", () => {
    const deployment = find<V1Deployment>(objects(), "Deployment", "seccompose-aggregator");
    const pod = deployment.spec!.template.spec!;
    const account = find<V1ServiceAccount>(objects(), "ServiceAccount", pod.serviceAccountName!);
    expect(pod.automountServiceAccountToken ?? true).toBe(true);
    expect(account.automountServiceAccountToken ?? true).toBe(true);
    const bindings = objects().filter(
      (o) =>
        (o.kind === "ClusterRoleBinding" || o.kind === "RoleBinding") &&
        (o as unknown as V1ClusterRoleBinding).subjects?.some(
          (s) =>
            s.kind === "ServiceAccount" && s.name === account.metadata!.name && s.namespace === NAMESPACE,
        ),
    ) as unknown as V1ClusterRoleBinding[];
    expect(bindings.map((b) => [b.kind, b.roleRef.kind, b.roleRef.name])).toEqual([
      ["ClusterRoleBinding", "ClusterRole", "seccompose-aggregator"],
    ]);
    const role = find<V1ClusterRole>(objects(), "ClusterRole", "seccompose-aggregator");
    const grants = (role.rules ?? []).flatMap((r) =>
      (r.apiGroups ?? []).flatMap((g) =>
        (r.resources ?? []).flatMap((res) => r.verbs.map((v) => `${g}/${res}:${v}`)),
      ),
    );
    expect(grants.sort()).toEqual([
      "/pods:get",
      "/pods:list",
      "/pods:watch",
      "apps/replicasets:get",
      "batch/jobs:get",
    ]);
    expect(role.rules?.every((r) => r.resourceNames === undefined && r.nonResourceURLs === undefined)).toBe(
      true,
    );
    const container = pod.containers[0]!;
    expect(envOf(container, "SECCOMPOSE_POD_OWNERSHIP").value).toBe("required");
  });

  it("lets the installer bind every role the manifests bind", () => {
    const installer = find<V1ClusterRole>(objects(), "ClusterRole", "seccompose-installer");
    const bindable = (kind: string) =>
      (installer.rules ?? [])
        .filter(
          (r) =>
            r.verbs.includes("bind") &&
            r.resources?.includes(kind === "ClusterRole" ? "clusterroles" : "roles"),
        )
        .flatMap((r) => r.resourceNames ?? []);
    const bound = objects().filter((o) => o.kind === "ClusterRoleBinding" || o.kind === "RoleBinding");
    expect(bound.length).toBeGreaterThan(0);
    for (const b of bound as unknown as V1ClusterRoleBinding[]) {
      expect(bindable(b.roleRef.kind), `${b.kind} ${b.metadata!.name}`).toContain(b.roleRef.name);
    }
  });

  it("probes NATS on its monitor port and puts it in lame duck mode before stopping", () => {
    const sts = find<V1StatefulSet>(objects(), "StatefulSet", "nats");
    const nats = sts.spec!.template.spec!.containers[0]!;
    expect(nats.image).toBe("nats:2.9.10-alpine");
    expect(nats.readinessProbe?.httpGet).toMatchObject({
      path: "/healthz?js-server-only=true",
      port: "monitor",
    });
    expect(nats.livenessProbe?.httpGet).toMatchObject({
      path: "/healthz?js-enabled-only=true",
      port: "monitor",
    });
    expect(nats.ports).toContainEqual({ name: "monitor", containerPort: 8222 });
    expect(nats.lifecycle?.preStop?.exec?.command).toEqual(["nats-server", "-sl=ldm=/var/run/nats/nats.pid"]);
    expect(sts.spec!.volumeClaimTemplates?.[0]?.metadata?.name).toBe("data");
    const headless = find<V1Service>(objects(), "Service", sts.spec!.serviceName!);
    expect(headless.spec?.clusterIP).toBe("None");
    expect(headless.spec?.publishNotReadyAddresses).toBe(true);
  });

  it("creates as many stream and bucket replicas as there are NATS servers", () => {
    const servers = find<V1StatefulSet>(objects(), "StatefulSet", "nats").spec!.replicas;
    const aggregator = find<V1Deployment>(objects(), "Deployment", "seccompose-aggregator");
    const container = aggregator.spec!.template.spec!.containers[0]!;
    expect(Number(envOf(container, "SECCOMPOSE_REPLICAS").value)).toBe(servers);
    expect(servers).toBe(overlay === "dev" ? 1 : 3);
  });

  it("runs 2+ aggregator replicas that roll without Recreate, name themselves by pod, and keep one through drains", () => {
    const aggregator = find<V1Deployment>(objects(), "Deployment", "seccompose-aggregator");
    expect(aggregator.spec!.replicas).toBeGreaterThanOrEqual(2);
    expect(aggregator.spec!.strategy?.type).toBe("RollingUpdate");
    expect(aggregator.spec!.strategy?.rollingUpdate?.maxUnavailable).toBe(0);
    const container = aggregator.spec!.template.spec!.containers[0]!;
    expect(envOf(container, "SECCOMPOSE_REPLICA_ID").valueFrom?.fieldRef?.fieldPath).toBe("metadata.name");
    expect(Number(envOf(container, "SECCOMPOSE_PARTITIONS").value)).toBeGreaterThanOrEqual(
      aggregator.spec!.replicas!,
    );
    const pdb = find<V1PodDisruptionBudget>(objects(), "PodDisruptionBudget", "seccompose-aggregator");
    expect(pdb.spec!.minAvailable).toBe(1);
    expect(pdb.spec!.selector!.matchLabels).toEqual(aggregator.spec!.selector.matchLabels);
  });

  it("connects each component as the NATS user the permission model names", () => {
    const agent = find<V1DaemonSet>(objects(), "DaemonSet", "seccompose-agent").spec!.template.spec!
      .containers[0]!;
    if (overlay === "dev") {
      expect(envOf(agent, "SECCOMPOSE_NATS_USER").value).toBe(userName("agent", "$(NODE_NAME)"));
      expect(envOf(agent, "SECCOMPOSE_NATS_PASS_FILE").value).toBe("/etc/seccompose/nats/$(NODE_NAME)");
    } else {
      // The node's own NKey, no user name and no password.
      expect(envOf(agent, "SECCOMPOSE_NATS_NKEY_FILE").value).toBe(
        "/var/lib/seccompose-identity/nats-user.nk",
      );
      expect(agent.env?.map((e) => e.name)).not.toContain("SECCOMPOSE_NATS_USER");
      expect(agent.env?.map((e) => e.name)).not.toContain("SECCOMPOSE_NATS_PASS_FILE");
    }
    const aggregator = find<V1Deployment>(objects(), "Deployment", "seccompose-aggregator").spec!.template
      .spec!.containers[0]!;
    expect(envOf(aggregator, "SECCOMPOSE_NATS_USER").value).toBe(userName("aggregator"));
  });

  it("gives the agent an environment that its configuration loader resolves to this pod's paths", async () => {
    const pod = find<V1DaemonSet>(objects(), "DaemonSet", "seccompose-agent").spec!.template.spec!;
    const agent = pod.containers[0]!;
    const config = await resolveAgentConfig([], podEnvironment(agent, "kind-worker"));
    if (config === "help") throw new Error("the pod's arguments ask for help");
    expect(config.nodeName).toBe("kind-worker");
    expect(config.nats.servers).toEqual(["nats://nats:4222"]);
    if (overlay === "dev") expect(config.nats.user).toBe(userName("agent", "kind-worker"));
    else expect(config.nats).not.toHaveProperty("user");
    expect(config.httpPort).toBe(agent.ports?.find((p) => p.name === "http")?.containerPort);
    const stateMount = agent.volumeMounts?.find((m) => m.mountPath === config.stateDir);
    expect(pod.volumes?.find((v) => v.name === stateMount?.name)?.hostPath?.path).toBe(config.stateDir);
    expect(config.falco.configDir.startsWith(`${config.stateDir}/`)).toBe(true);
  });

  it("mounts agent credentials the way the overlay promises: the node's identity read-only, or the dev passwords", async () => {
    const pod = find<V1DaemonSet>(objects(), "DaemonSet", "seccompose-agent").spec!.template.spec!;
    const agent = pod.containers[0]!;
    const secretVolumes = (pod.volumes ?? []).flatMap((v) => (v.secret ? [v.secret.secretName] : []));
    if (overlay === "dev") {
      expect(secretVolumes).toEqual([expect.stringMatching(/^seccompose-agent-nats-/)]);
      return;
    }
    // No Secret with agent credentials anywhere in the default overlay, and none mounted.
    expect(secretVolumes).toEqual([]);
    expect(JSON.stringify(objects())).not.toContain("seccompose-agent-nats");
    // The seed file lies in a read-only hostPath mount outside the read-write state directory, and
    // the enrollment pods install creates mount that same host directory.
    const config = await resolveAgentConfig([], podEnvironment(agent, "kind-worker"));
    if (config === "help") throw new Error("the pod's arguments ask for help");
    const template = enrollmentTemplate(objects() as unknown as ManifestObject[]);
    expect(template.seedFile).toBe(config.nats.nkeyFile);
    const mount = agent.volumeMounts!.find((m) => m.mountPath === template.mountPath)!;
    expect(mount.readOnly).toBe(true);
    expect(pod.volumes!.find((v) => v.name === mount.name)?.hostPath).toEqual({
      path: template.hostPath,
      type: "DirectoryOrCreate",
    });
    for (const m of agent.volumeMounts!.filter((m) => !m.readOnly)) {
      expect(template.mountPath.startsWith(`${m.mountPath}/`), m.mountPath).toBe(false);
      const host = pod.volumes!.find((v) => v.name === m.name)?.hostPath?.path;
      if (host !== undefined) expect(template.hostPath.startsWith(`${host}/`), host).toBe(false);
    }
  });

  it("includes the users and their permissions from the nats-auth Secret, and nats-server accepts the result", async () => {
    const config = findGenerated<V1ConfigMap>(objects(), "ConfigMap", "nats-config").data!;
    expect(config["nats.conf"]).toMatch(/authorization\s*\{\s*include\s+"users\.json"\s*\}/);
    expect(config["nats.conf"]).toContain('include "cluster.conf"');
    const volume = find<V1StatefulSet>(objects(), "StatefulSet", "nats").spec!.template.spec!.volumes!.find(
      (v) => v.name === "config",
    )!;
    const sources = volume.projected!.sources!;
    expect(sources.map((s) => s.configMap?.name ?? s.secret?.name)).toEqual([
      expect.stringMatching(/^nats-config-/),
      expect.stringMatching(/^nats-auth/),
    ]);

    const files: Record<string, string> = {
      "nats.conf": config["nats.conf"]!,
      "cluster.conf": config["cluster.conf"]!,
    };
    if (overlay === "dev") {
      expect(config["cluster.conf"]).not.toContain("cluster {");
      Object.assign(files, secretData(findGenerated<V1Secret>(objects(), "Secret", "nats-auth")));
    } else {
      // install writes these two keys of nats-auth (agents as NKey users); samples in the
      // documented shape stand in.
      expect(config["cluster.conf"]).toMatch(/cluster\s*\{[^}]*include\s+"routes\.conf"/s);
      const routes = [0, 1, 2].map((i) => `"nats://route:pw@nats-${i}.nats-headless:6222"`).join("\n  ");
      files["routes.conf"] = `authorization { user: route, password: "pw" }\nroutes: [\n  ${routes}\n]\n`;
      files["users.json"] = JSON.stringify({ users: natsUsers(["node-a", "node-b"]) });
    }
    await natsConfigTest(files, {
      SERVER_NAME: "nats-0",
      JS_MAX_MEMORY_STORE: "64MB",
      JS_MAX_FILE_STORE: "1GB",
    });
  });
});

describe("Dockerfiles", () => {
  const images = {
    agent: "seccompose-agent",
    aggregator: "seccompose-aggregator",
    cli: "seccompose",
  } as const;

  it.each(Object.entries(images))(
    "build the %s image with npm ci and the build script, and start the package's own binary",
    async (image, bin) => {
      const text = await readFile(join(DOCKER_DIR, `${image}.Dockerfile`), "utf8");
      const bases = [...text.matchAll(/^FROM\s+(?:--platform=\S+\s+)?(\S+)/gm)].map((m) => m[1]!);
      for (const base of bases) expect(base, base).toMatch(/:(?!latest$)[\w.-]+$/);
      expect(text).toMatch(/RUN npm ci --no-audit/);
      expect(text).toMatch(/RUN npm run build/);
      expect(text).toMatch(/RUN npm ci --omit=dev/);
      const entrypoint = /^ENTRYPOINT \[(.+)\]$/m.exec(text)?.[1];
      const script = (JSON.parse(`[${entrypoint}]`) as string[]).find((a) => a.endsWith(".js"));
      expect(script).toBe(`/opt/seccompose/${packageJson.bin[bin]}`);
      expect(text).toContain(`-t seccompose/${image}:${packageJson.version} .`);
    },
  );

  it("tags the images the manifests run with the package version", () => {
    for (const overlay of OVERLAYS) {
      const ours = rendered[overlay]
        .flatMap((obj) => containersOf(obj).map((c) => c.image ?? ""))
        .filter((image) => image.startsWith("seccompose/"));
      expect(ours.sort()).toEqual([
        `seccompose/agent:${packageJson.version}`,
        `seccompose/aggregator:${packageJson.version}`,
      ]);
    }
  });
});

describe("dev overlay credentials", () => {
  const secret = (name: string) => secretData(findGenerated<V1Secret>(rendered.dev, "Secret", name));

  it("holds one NATS user per sample node with exactly the permissions of deploy/nats-permissions.json", () => {
    const users = JSON.parse(secret("nats-auth")["users.json"]!) as { users: NatsUser[] };
    const nodes = Object.keys(secret("seccompose-agent-nats")).sort();
    expect(nodes).toEqual(["kind-control-plane", "kind-worker", "kind-worker2"]);
    expect(withoutPasswords(users.users)).toEqual(withoutPasswords(passwordUsers(nodes, () => "")));
    for (const { user, password } of users.users) expect(password, user).toMatch(/^\$2[aby]\$\d\d\$/);
  });

  describe("against a real nats-server", () => {
    let server: Awaited<ReturnType<typeof startNatsServer>>;

    beforeAll(async () => {
      server = await startNatsServer({
        jetstream: false,
        config: `authorization ${secret("nats-auth")["users.json"]}`,
      });
    });

    afterAll(async () => {
      await server?.stop();
    });

    async function login(user: string, pass: string): Promise<void> {
      const nc = await connect({ servers: server.url, user, pass, reconnect: false });
      await nc.close();
    }

    it("accepts the password of every sample credential Secret and refuses a wrong one", async () => {
      for (const [node, pass] of Object.entries(secret("seccompose-agent-nats"))) {
        await login(userName("agent", node), pass);
      }
      await login(userName("aggregator"), secret("seccompose-aggregator-nats")["password"]!);
      await login(userName("cli"), secret("seccompose-cli-nats")["password"]!);
      await expect(login(userName("cli"), "wrong")).rejects.toThrow(/Authorization Violation/i);
    });
  });
});
