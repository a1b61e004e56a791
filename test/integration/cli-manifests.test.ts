/**
 * deploy/manifests/<overlay>.yaml, which `seccompose install` applies, must be what
 * `kubectl kustomize` renders from deploy/kustomize now (npm run gen:manifests).
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";
import { describe, expect, it } from "vitest";
import { loadManifests, OVERLAYS } from "../../cli/install/manifests.ts";
import { kustomize, manifestPath, overlays, renderOverlay } from "../../scripts/gen-manifests.ts";

function kubectlAvailable(): boolean {
  try {
    execFileSync(process.env.KUBECTL ?? "kubectl", ["version", "--client"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

const kubectl = kubectlAvailable();
if (!kubectl) {
  console.warn(
    "kubectl is not installed: cannot re-render deploy/kustomize, so the manifests staleness check is skipped",
  );
}

describe("rendered manifests", () => {
  it.skipIf(!kubectl)(
    "are up to date with deploy/kustomize, holding exactly the objects kustomize renders (skipped only when kubectl is absent)",
    async () => {
      for (const overlay of overlays()) {
        const committed = readFileSync(manifestPath(overlay), "utf8");
        expect(committed, `deploy/manifests/${overlay}.yaml is stale: run npm run gen:manifests`).toBe(
          await renderOverlay(overlay),
        );
        const objects = (text: string) => parseAllDocuments(text).map((d) => d.toJS() as unknown);
        expect(objects(committed)).toEqual(objects(kustomize(overlay)));
      }
    },
  );

  it("exist for every overlay the CLI offers, each with the agent DaemonSet in namespace seccompose", async () => {
    expect([...OVERLAYS].sort()).toEqual(overlays());
    for (const overlay of OVERLAYS) {
      const objects = await loadManifests(overlay);
      expect(objects.find((o) => o.kind === "DaemonSet")?.metadata).toMatchObject({
        name: "seccompose-agent",
        namespace: "seccompose",
      });
    }
  });
});
