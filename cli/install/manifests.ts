/**
 * The manifests `seccompose install` applies: deploy/manifests/<overlay>.yaml, rendered from
 * deploy/kustomize ahead of time (npm run gen:manifests), so installing needs no kubectl.
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";
import { SeccomposeError } from "../../lib/errors.ts";
import type { ManifestObject } from "../../lib/k8s/apply.ts";

export const OVERLAYS = ["default", "dev"] as const;
export type Overlay = (typeof OVERLAYS)[number];
/** The namespace the manifests are rendered for. */
export const MANIFEST_NAMESPACE = "seccompose";

export function parseOverlay(value: string): Overlay {
  if ((OVERLAYS as readonly string[]).includes(value)) return value as Overlay;
  throw new SeccomposeError("SC_USAGE", `--overlay must be ${OVERLAYS.join(" or ")}, not "${value}"`);
}

/** In the source tree cli/install/ sits two levels below the root; in a build, dist/cli/install/ three. */
function manifestFile(overlay: Overlay): string {
  const candidates = ["../../deploy/manifests/", "../../../deploy/manifests/"].map((dir) =>
    fileURLToPath(new URL(`${dir}${overlay}.yaml`, import.meta.url)),
  );
  const found = candidates.find((path) => existsSync(path));
  if (found === undefined) {
    throw new SeccomposeError(
      "SC_FILE_READ",
      `the ${overlay} manifests are missing (looked for ${candidates.join(" and ")}); run npm run gen:manifests`,
    );
  }
  return found;
}

export async function loadManifests(overlay: Overlay): Promise<ManifestObject[]> {
  const path = manifestFile(overlay);
  const text = await readFile(path, "utf8");
  const objects: ManifestObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) {
      throw new SeccomposeError("SC_DOCUMENT_INVALID", `${path}: ${doc.errors[0]!.message}`);
    }
    const value = doc.toJS() as ManifestObject | null;
    if (value !== null) objects.push(value);
  }
  return objects;
}

/** The manifests moved to another namespace: the objects in it, its Namespace, and the bindings' subjects. */
export function inNamespace(objects: readonly ManifestObject[], namespace: string): ManifestObject[] {
  if (namespace === MANIFEST_NAMESPACE) return objects.map((o) => structuredClone(o));
  return objects.map((original) => {
    const o = structuredClone(original);
    if (o.kind === "Namespace" && o.metadata.name === MANIFEST_NAMESPACE) o.metadata.name = namespace;
    if (o.metadata.namespace === MANIFEST_NAMESPACE) o.metadata.namespace = namespace;
    const subjects = (o as { subjects?: Array<{ namespace?: string }> }).subjects;
    for (const s of subjects ?? []) if (s.namespace === MANIFEST_NAMESPACE) s.namespace = namespace;
    return o;
  });
}

/** `Kind namespace/name`, or `Kind name` for cluster-scoped objects. */
export function objectName(o: { kind: string; metadata: { name: string; namespace?: string } }): string {
  return `${o.kind} ${o.metadata.namespace !== undefined ? `${o.metadata.namespace}/` : ""}${o.metadata.name}`;
}
