import { describe, expect, it } from "vitest";
import { workloadToken } from "../../lib/profile/workload-key.ts";
import { decodeWorkloadToken, resolveWorkload } from "./workload-ref.ts";

const web = { namespace: "shop", kind: "Deployment", name: "web", container: "nginx" };
const db = { namespace: "shop", kind: "StatefulSet", name: "db", container: "pg" };
const other = { namespace: "blog", kind: "Deployment", name: "web", container: "nginx" };
const known = [web, db, other].map((workload) => ({ token: workloadToken(workload), workload }));

describe("workload references", () => {
  it("decodes tokens back into the workload, escapes included", () => {
    const odd = { namespace: "a.b", kind: "Pod", name: "x_y", container: "ü" };
    expect(decodeWorkloadToken(workloadToken(odd))).toEqual(odd);
    expect(decodeWorkloadToken("not-a-token")).toBeUndefined();
  });

  it("resolves a token, an id or an unambiguous tail of the id", () => {
    expect(resolveWorkload("shop_StatefulSet_db_pg", known, "s1").workload).toEqual(db);
    expect(resolveWorkload("shop/Deployment/web/nginx", known, "s1").workload).toEqual(web);
    expect(resolveWorkload("db/pg", known, "s1").workload).toEqual(db);
    expect(resolveWorkload("pg", known, "s1").workload).toEqual(db);
  });

  it("names the candidates when a reference is ambiguous or unknown", () => {
    expect(() => resolveWorkload("web/nginx", known, "s1")).toThrow(
      /"web\/nginx" names 2 workloads of session s1: shop\/Deployment\/web\/nginx, blog\/Deployment\/web\/nginx/,
    );
    expect(() => resolveWorkload("redis", known, "s1")).toThrow(
      /session s1 has no workload "redis" \(workloads: /,
    );
  });
});
