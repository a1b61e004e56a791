import { describe, expect, it } from "vitest";
import { isSeccomposeError } from "../../../lib/errors.ts";
import type { PodInfo } from "../ports.ts";
import { compileTargets, targetMatches } from "./targets.ts";

const web: PodInfo = {
  uid: "u1",
  name: "web-1",
  namespace: "shop",
  labels: { app: "web", tier: "front" },
  owner: { kind: "Deployment", name: "web" },
  containers: {},
};

describe("targetMatches", () => {
  const table: Array<[string, Parameters<typeof targetMatches>[0], string, boolean]> = [
    ["no criteria", {}, "nginx", true],
    ["empty lists as absent", { namespaces: [], pods: [], containers: [] }, "nginx", true],
    ["matching namespace", { namespaces: ["shop", "ops"] }, "nginx", true],
    ["other namespace", { namespaces: ["ops"] }, "nginx", false],
    ["matching selector", { labelSelector: "app=web,tier in (front)" }, "nginx", true],
    ["failing selector", { labelSelector: "app=web,tier notin (front)" }, "nginx", false],
    ["pod name", { pods: ["web-1"] }, "nginx", true],
    ["other pod name", { pods: ["web-2"] }, "nginx", false],
    ["container name", { containers: ["nginx"] }, "nginx", true],
    ["other container name", { containers: ["nginx"] }, "sidecar", false],
    [
      "all criteria matching",
      { namespaces: ["shop"], labelSelector: "app", pods: ["web-1"], containers: ["nginx"] },
      "nginx",
      true,
    ],
    [
      "all but one criterion matching",
      { namespaces: ["shop"], labelSelector: "app", pods: ["web-1"], containers: ["x"] },
      "nginx",
      false,
    ],
  ];
  it.each(table)("with %s", (_title, targets, container, expected) => {
    expect(targetMatches(targets, web, container)).toBe(expected);
  });

  it("rejects an invalid label selector when compiling", () => {
    let error: unknown;
    try {
      compileTargets({ labelSelector: "app in web" });
    } catch (err) {
      error = err;
    }
    expect(isSeccomposeError(error, "SC_USAGE")).toBe(true);
  });
});
