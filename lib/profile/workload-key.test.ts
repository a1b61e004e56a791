import { describe, expect, it } from "vitest";
import type { WorkloadKey } from "../contracts/types.ts";
import { isSeccomposeError } from "../errors.ts";
import { assertDistinctProfileNames, PROFILE_NAME_MAX, profileName } from "./workload-key.ts";

const key = (namespace: string, kind: string, name: string, container: string): WorkloadKey => ({
  namespace,
  kind,
  name,
  container,
});

// What Kubernetes accepts as a ConfigMap/SeccompProfile name (DNS-1123 subdomain) and as a label.
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
// What an agent accepts as an installed profile name (schemas/control.schema.json ProfileFileName).
const PROFILE_FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

// Two keys whose SHA-256 share the 10 hex characters the name keeps, and whose readable prefix is
// cut to the same 52 characters: found by a birthday search (585,368 keys), kept to prove the guard.
const longName = "x".repeat(60);
const collidingA = key("shop", "Deployment", `${longName}5qwh`, "app");
const collidingB = key("shop", "Deployment", `${longName}cjo7`, "app");

describe("profileName", () => {
  it("is the readable namespace.kind.name.container for ordinary Kubernetes names", () => {
    expect(profileName(key("shop", "Deployment", "web", "nginx"))).toBe("shop.deployment.web.nginx");
    expect(profileName(key("shop", "StatefulSet", "db.primary", "pg"))).toBe(
      "shop.statefulset.db.primary.pg",
    );
  });

  it("is stable across versions: these names are what users' pod specs refer to", () => {
    expect(profileName(key("kube-system", "DaemonSet", "cilium", "agent"))).toBe(
      "kube-system.daemonset.cilium.agent",
    );
    expect(profileName(key("local", "Command", "/usr/bin/ls", "ls"))).toBe(
      "local-command-usr-bin-ls-ls.9a4e331226",
    );
    expect(profileName(key("shop", "Rollout", "web", "nginx"))).toBe("shop-rollout-web-nginx.f70856c467");
  });

  it("tells apart the kinds of two workloads with the same name (the reported collision)", () => {
    const deployment = profileName(key("shop", "Deployment", "web", "nginx"));
    const statefulSet = profileName(key("shop", "StatefulSet", "web", "nginx"));
    expect(deployment).not.toBe(statefulSet);
  });

  it("never joins parts ambiguously: team-a/api and team/a-api differ", () => {
    expect(profileName(key("team-a", "Deployment", "api", "c"))).not.toBe(
      profileName(key("team", "Deployment", "a-api", "c")),
    );
    expect(profileName(key("a", "Deployment", "b-c", "d"))).not.toBe(
      profileName(key("a", "Deployment", "b", "c-d")),
    );
    // dots only ever come from the workload name, so they cannot shift a boundary either
    expect(profileName(key("a", "Deployment", "b.c", "d"))).not.toBe(
      profileName(key("a", "Deployment", "b", "c.d")),
    );
  });

  it("hashes keys that are not canonical Kubernetes names, so case and symbols do not merge them", () => {
    const names = [
      key("shop", "Deployment", "Web", "nginx"),
      key("shop", "Deployment", "WEB", "nginx"),
      key("shop", "Deployment", "web_", "nginx"),
      key("shop", "Deployment", "web", "nginx"),
      key("shop", "deployment", "web", "nginx"),
      key("shop", "Foo", "web", "nginx"),
      key("shop", "FOO", "web", "nginx"),
    ].map(profileName);
    expect(new Set(names).size).toBe(names.length);
    expect(names[0]).toMatch(/^shop-deployment-web-nginx\.[0-9a-f]{10}$/);
  });

  it("a hashed name never equals a readable one, even when the readable one ends like a hash", () => {
    const hashed = profileName(key("shop", "Deployment", "Web", "nginx"));
    const [prefix, hash] = hashed.split(".") as [string, string];
    expect(prefix).toBe("shop-deployment-web-nginx");
    const lookalike = profileName(key("shop", "Deployment", "web", `nginx-${hash}`));
    expect(lookalike).not.toBe(hashed);
  });

  it("stays within Kubernetes and file name limits for the longest keys the schema allows", () => {
    const longest = key("n".repeat(253), "K".repeat(63), "w".repeat(253), "c".repeat(253));
    const odd = key("ns", "Deployment", "../../etc/passwd", "\u0000\u001b[31m");
    const readableMax = key("n".repeat(20), "Deployment", "w".repeat(20), "c".repeat(10));
    for (const k of [longest, odd, readableMax, key("a", "Pod", "b", "c")]) {
      const name = profileName(k);
      expect(name.length).toBeLessThanOrEqual(PROFILE_NAME_MAX);
      expect(name).toMatch(DNS_SUBDOMAIN);
      expect(name).toMatch(PROFILE_FILE_NAME);
      expect(`seccomp-${name}`).toMatch(DNS_SUBDOMAIN);
    }
    expect(profileName(readableMax)).toBe(`${"n".repeat(20)}.deployment.${"w".repeat(20)}.${"c".repeat(10)}`);
    // one character more and the name is shortened with its hash
    expect(profileName({ ...readableMax, container: "c".repeat(11) })).toMatch(/\.[0-9a-f]{10}$/);
  });
});

describe("assertDistinctProfileNames", () => {
  it("accepts distinct workloads, and the same workload twice", () => {
    const web = key("shop", "Deployment", "web", "nginx");
    expect(() =>
      assertDistinctProfileNames([web, web, key("shop", "StatefulSet", "web", "nginx")]),
    ).not.toThrow();
  });

  it("refuses two workloads that map to one name instead of letting one overwrite the other", () => {
    expect(profileName(collidingA)).toBe(profileName(collidingB));
    try {
      assertDistinctProfileNames([collidingA, collidingB]);
      expect.unreachable();
    } catch (err) {
      expect(isSeccomposeError(err, "SC_PROFILE_NAME_COLLISION")).toBe(true);
      expect((err as Error).message).toContain(`shop/Deployment/${longName}5qwh/app`);
      expect((err as Error).message).toContain(`shop/Deployment/${longName}cjo7/app`);
    }
  });
});
