/** A ClusterIP Service. */
import type { FakeObject } from "../types.ts";
import { CREATED, uidFor } from "./ids.ts";

export function makeService(spec: {
  name: string;
  namespace?: string;
  selector: Record<string, string>;
  ports: Array<{ name?: string; port: number; targetPort?: number | string }>;
}): FakeObject {
  const namespace = spec.namespace ?? "default";
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: {
      name: spec.name,
      namespace,
      uid: uidFor("Service", namespace, spec.name),
      creationTimestamp: CREATED,
    },
    spec: {
      type: "ClusterIP",
      clusterIP: "10.96.0.42",
      clusterIPs: ["10.96.0.42"],
      selector: spec.selector,
      ports: spec.ports.map((p) => ({ ...p, protocol: "TCP", targetPort: p.targetPort ?? p.port })),
      sessionAffinity: "None",
    },
    status: { loadBalancer: {} },
  };
}
