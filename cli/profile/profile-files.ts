/**
 * A session's profile documents as the files users keep: OCI seccomp JSON, an SPO
 * `SeccompProfile`, or a ConfigMap whose data key is the OCI JSON (for GitOps). Each workload
 * container gets one file named after it (profileName), the same name the agents install it under.
 */
import { join } from "node:path";
import { stringify as toYaml } from "yaml";
import type { ProfileDocument, SessionRecord } from "../../lib/contracts/types.ts";
import { SeccomposeError } from "../../lib/errors.ts";
import { sourceFromDocument } from "../../lib/profile/profile-source.ts";
import {
  ociProfileJson,
  renderOciProfile,
  spoProfileYaml,
  type RenderResult,
} from "../../lib/profile/render.ts";
import { profileName, workloadId } from "../../lib/profile/workload-key.ts";

export type ProfileFileFormat = "oci" | "spo" | "configmap";
export const PROFILE_FILE_FORMATS: readonly ProfileFileFormat[] = ["oci", "spo", "configmap"];

export function parseProfileFileFormat(value: string): ProfileFileFormat {
  if ((PROFILE_FILE_FORMATS as readonly string[]).includes(value)) return value as ProfileFileFormat;
  throw new SeccomposeError("SC_USAGE", `--format must be oci, spo or configmap, not "${value}"`);
}

export interface RenderedFile {
  name: string;
  file: string;
  text: string;
  result: RenderResult;
}

/** Renders with the session's profile options (default action, errno, baseline). */
export function renderProfileDocument(
  doc: ProfileDocument,
  options: SessionRecord["profile"],
  format: ProfileFileFormat,
): RenderedFile {
  const result = renderOciProfile(sourceFromDocument(doc), {
    ...(options.defaultAction !== undefined ? { defaultAction: options.defaultAction } : {}),
    ...(options.defaultErrnoRet !== undefined ? { defaultErrnoRet: options.defaultErrnoRet } : {}),
    ...(options.baseline !== undefined ? { baseline: options.baseline } : {}),
  });
  const name = profileName(doc.workload);
  const oci = ociProfileJson(result.profile);
  switch (format) {
    case "oci":
      return { name, file: `${name}.json`, text: oci, result };
    case "spo":
      return {
        name,
        file: `${name}.yaml`,
        text: spoProfileYaml(result.profile, { workload: doc.workload, session: doc.session }),
        result,
      };
    case "configmap":
      return { name, file: `${name}.configmap.yaml`, text: configMapYaml(doc, name, oci), result };
  }
}

function configMapYaml(doc: ProfileDocument, name: string, oci: string): string {
  return toYaml(
    {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: {
        name: `seccomp-${name}`,
        namespace: doc.workload.namespace,
        labels: { "app.kubernetes.io/managed-by": "seccompose" },
        annotations: {
          "seccompose.dev/workload": workloadId(doc.workload),
          "seccompose.dev/session": doc.session,
          "seccompose.dev/revision": String(doc.revision),
          "seccompose.dev/status": doc.status,
        },
      },
      data: { [`${name}.json`]: oci },
    },
    { lineWidth: 0 },
  );
}

export function filePath(dir: string, rendered: RenderedFile): string {
  return join(dir, rendered.file);
}

/** `securityContext.seccompProfile` for a profile the agents installed under seccompose/<name>.json. */
export function seccompProfileSnippet(name: string): string {
  return [
    "securityContext:",
    "  seccompProfile:",
    "    type: Localhost",
    `    localhostProfile: seccompose/${name}.json`,
  ].join("\n");
}
