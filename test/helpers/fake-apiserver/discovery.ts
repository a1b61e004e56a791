/** The discovery documents (/version, /api, /apis and each group version) the clients read first. */
import type { ResourceType } from "./resource-types.ts";
import type { JsonObject } from "./types.ts";

const VERBS = ["create", "delete", "get", "list", "patch", "update", "watch"];

/** The document at `pathname`, or undefined when the path is not a discovery path of a served group. */
export function discoveryDocument(types: readonly ResourceType[], pathname: string): JsonObject | undefined {
  const path = pathname.replace(/\/+$/, "");
  const groups = [...new Set(types.filter((t) => t.group !== "").map((t) => t.group))].sort();
  const versionsOf = (group: string): string[] => [
    ...new Set(types.filter((t) => t.group === group).map((t) => t.version)),
  ];
  const groupDocument = (group: string): JsonObject => {
    const versions = versionsOf(group).map((version) => ({ groupVersion: `${group}/${version}`, version }));
    return { name: group, versions, preferredVersion: versions[0] };
  };
  if (path === "/version") {
    return {
      major: "1",
      minor: "31",
      gitVersion: "v1.31.2",
      goVersion: "go1.22.8",
      platform: "linux/amd64",
    };
  }
  if (path === "/api") {
    return {
      kind: "APIVersions",
      versions: ["v1"],
      serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress: "127.0.0.1:6443" }],
    };
  }
  if (path === "/apis") {
    return { kind: "APIGroupList", apiVersion: "v1", groups: groups.map(groupDocument) };
  }
  const groupMatch = /^\/apis\/([^/]+)$/.exec(path);
  if (groupMatch && groups.includes(groupMatch[1]!)) {
    return { kind: "APIGroup", apiVersion: "v1", ...groupDocument(groupMatch[1]!) };
  }
  const coreMatch = /^\/api\/([^/]+)$/.exec(path);
  if (coreMatch) return resourceList(types, "", coreMatch[1]!);
  const gvMatch = /^\/apis\/([^/]+)\/([^/]+)$/.exec(path);
  if (gvMatch) return resourceList(types, gvMatch[1]!, gvMatch[2]!);
  return undefined;
}

function resourceList(
  types: readonly ResourceType[],
  group: string,
  version: string,
): JsonObject | undefined {
  const served = types.filter((t) => t.group === group && t.version === version);
  if (served.length === 0) return undefined;
  const resources: JsonObject[] = [];
  for (const t of served) {
    resources.push({
      name: t.plural,
      singularName: t.singular,
      namespaced: t.namespaced,
      kind: t.kind,
      verbs: VERBS,
      ...(t.shortNames ? { shortNames: t.shortNames } : {}),
    });
    for (const sub of t.subresources) {
      resources.push({
        name: `${t.plural}/${sub}`,
        singularName: "",
        namespaced: t.namespaced,
        kind: t.kind,
        verbs: sub === "portforward" ? ["create", "get"] : ["get", "patch", "update"],
      });
    }
  }
  return {
    kind: "APIResourceList",
    apiVersion: "v1",
    groupVersion: group === "" ? version : `${group}/${version}`,
    resources,
  };
}
