/**
 * Renders every overlay of deploy/kustomize with `kubectl kustomize` into
 * deploy/manifests/<overlay>.yaml, which `seccompose install` applies, so the CLI needs no kubectl
 * at run time. test/integration/cli-manifests.test.ts fails when a committed file is stale.
 * Usage: npm run gen:manifests [-- --check]
 */
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { format, resolveConfig } from "prettier";

const root = fileURLToPath(new URL("..", import.meta.url));
export const OVERLAYS_DIR = `${root}deploy/kustomize/overlays`;
export const MANIFESTS_DIR = `${root}deploy/manifests`;

export function overlays(): string[] {
  return readdirSync(OVERLAYS_DIR, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
}

/** What `kubectl kustomize` renders for the overlay. */
export function kustomize(overlay: string, kubectl = process.env.KUBECTL ?? "kubectl"): string {
  return execFileSync(kubectl, ["kustomize", `${OVERLAYS_DIR}/${overlay}`], {
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
}

/**
 * The committed text of one overlay: a header naming its source, then kustomize's output in the
 * repository's prettier style (which changes layout only, as the staleness test checks).
 */
export async function renderOverlay(overlay: string): Promise<string> {
  const text = [
    `# Generated from deploy/kustomize/overlays/${overlay} by \`npm run gen:manifests\` (kubectl kustomize).`,
    "# Do not edit: change the kustomization and regenerate. `seccompose install` applies this file.",
    kustomize(overlay),
  ].join("\n");
  const path = manifestPath(overlay);
  return format(text, { ...(await resolveConfig(path)), filepath: path });
}

export function manifestPath(overlay: string): string {
  return `${MANIFESTS_DIR}/${overlay}.yaml`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const check = process.argv.includes("--check");
  let stale = 0;
  for (const overlay of overlays()) {
    const text = await renderOverlay(overlay);
    const path = manifestPath(overlay);
    if (check) {
      let current = "";
      try {
        current = readFileSync(path, "utf8");
      } catch {
        // Missing counts as stale.
      }
      if (current !== text) {
        console.error(`${path} is stale: run npm run gen:manifests`);
        stale++;
      }
    } else {
      writeFileSync(path, text);
      console.log(`wrote ${path}`);
    }
  }
  if (stale > 0) process.exit(1);
}
