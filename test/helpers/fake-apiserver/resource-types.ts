/**
 * The kinds the server serves: the built-in ones seccompose touches, and the kind of every stored
 * CustomResourceDefinition.
 */
import { asObject } from "./json.ts";
import type { FakeObject } from "./types.ts";

export interface ResourceType {
  group: string;
  version: string;
  kind: string;
  plural: string;
  singular: string;
  namespaced: boolean;
  subresources: string[];
  shortNames?: string[];
}

const BUILTIN_TYPES: ResourceType[] = [
  core("Namespace", "namespaces", false, ["status"], ["ns"]),
  core("Node", "nodes", false, ["status"], ["no"]),
  core("Pod", "pods", true, ["status", "portforward"], ["po"]),
  core("Service", "services", true, ["status"], ["svc"]),
  core("Event", "events", true, [], ["ev"]),
  core("ConfigMap", "configmaps", true, [], ["cm"]),
  core("Secret", "secrets", true, []),
  core("ServiceAccount", "serviceaccounts", true, [], ["sa"]),
  apps("DaemonSet", "daemonsets", ["ds"]),
  apps("Deployment", "deployments", ["deploy"]),
  apps("StatefulSet", "statefulsets", ["sts"]),
  apps("ReplicaSet", "replicasets", ["rs"]),
  typeOf("batch", "v1", "Job", "jobs", true, ["status"]),
  typeOf("batch", "v1", "CronJob", "cronjobs", true, ["status"], ["cj"]),
  typeOf("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", false, []),
  typeOf("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", false, []),
  typeOf("rbac.authorization.k8s.io", "v1", "Role", "roles", true, []),
  typeOf("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", true, []),
  typeOf("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", true, ["status"], ["pdb"]),
  typeOf(
    "apiextensions.k8s.io",
    "v1",
    "CustomResourceDefinition",
    "customresourcedefinitions",
    false,
    ["status"],
    ["crd"],
  ),
];

function typeOf(
  group: string,
  version: string,
  kind: string,
  plural: string,
  namespaced: boolean,
  subresources: string[],
  shortNames?: string[],
): ResourceType {
  return {
    group,
    version,
    kind,
    plural,
    singular: kind.toLowerCase(),
    namespaced,
    subresources,
    ...(shortNames ? { shortNames } : {}),
  };
}

function core(
  kind: string,
  plural: string,
  namespaced: boolean,
  subresources: string[],
  shortNames?: string[],
): ResourceType {
  return typeOf("", "v1", kind, plural, namespaced, subresources, shortNames);
}

function apps(kind: string, plural: string, shortNames: string[]): ResourceType {
  return typeOf("apps", "v1", kind, plural, true, ["status", "scale"], shortNames);
}

export function groupVersion(type: ResourceType): string {
  return type.group === "" ? type.version : `${type.group}/${type.version}`;
}

/** `pods`, `daemonsets.apps`: how the real server names a resource in messages. */
export function qualifiedResource(type: ResourceType): string {
  return type.group === "" ? type.plural : `${type.plural}.${type.group}`;
}

/** The served kinds of one server; custom kinds come and go with their definitions. */
export class ResourceTypes {
  readonly #types: ResourceType[] = [...BUILTIN_TYPES];

  get all(): readonly ResourceType[] {
    return this.#types;
  }

  byKind(kind: string, apiVersion?: string): ResourceType {
    const found = this.#types.find(
      (t) => t.kind === kind && (apiVersion === undefined || groupVersion(t) === apiVersion),
    );
    if (!found) throw new Error(`fake API server: unknown kind ${apiVersion ?? "*"} ${kind}`);
    return found;
  }

  byPlural(group: string, version: string, plural: string | undefined): ResourceType | undefined {
    return this.#types.find((t) => t.group === group && t.version === version && t.plural === plural);
  }

  /** A stored CustomResourceDefinition serves its kind, as the real server does once it is established. */
  syncCustomType(crd: FakeObject, removed: boolean): void {
    const types = this.#types;
    const spec = asObject(crd.spec);
    const names = asObject(spec?.names);
    const group = typeof spec?.group === "string" ? spec.group : undefined;
    if (!spec || !names || !group) return;
    for (let i = types.length - 1; i >= 0; i--) {
      if (types[i]!.group === group && types[i]!.plural === names.plural) types.splice(i, 1);
    }
    if (removed) return;
    const versions = Array.isArray(spec.versions) ? spec.versions : [];
    for (const v of versions) {
      const version = asObject(v);
      if (!version || version.served === false || typeof version.name !== "string") continue;
      const subresources = asObject(version.subresources);
      types.push({
        group,
        version: version.name,
        kind: String(names.kind),
        plural: String(names.plural),
        singular: String(names.singular ?? String(names.kind).toLowerCase()),
        namespaced: spec.scope !== "Cluster",
        subresources: subresources?.status !== undefined ? ["status"] : [],
        ...(Array.isArray(names.shortNames) ? { shortNames: names.shortNames.map(String) } : {}),
      });
    }
  }
}
