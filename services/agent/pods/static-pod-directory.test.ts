import { mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isSeccomposeError } from "../../../lib/errors.ts";
import { parsePodsFile, StaticPodDirectory } from "./static-pod-directory.ts";

const ID_A = "4f1e2d3c4b5a6978796a5b4c3d2e1f00112233445566778899aabbccddeeff01";
const ID_B = "9a8b7c6d5e4f30211203f4e5d6c7b8a99a8b7c6d5e4f30211203f4e5d6c7b8a9";

const yamlPods = `
pods:
  - uid: 5d0c8a3e-1f2b-4a6c-9d7e-0b1a2c3d4e5f
    name: web-1
    namespace: shop
    labels: { app: web }
    owner: { kind: Deployment, name: web }
    containers:
      - name: nginx
        id: containerd://${ID_A}
`;

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "sc-pods-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function errorOf(fn: () => unknown): Error & { code?: string } {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error("expected an error");
}

describe("StaticPodDirectory", () => {
  it("loads pods from YAML with container ids stripped of their runtime prefix", async () => {
    const file = join(dir, "pods.yaml");
    await writeFile(file, yamlPods);
    const pods = await StaticPodDirectory.open(file);
    expect(pods.byUid("5d0c8a3e-1f2b-4a6c-9d7e-0b1a2c3d4e5f")).toEqual({
      uid: "5d0c8a3e-1f2b-4a6c-9d7e-0b1a2c3d4e5f",
      name: "web-1",
      namespace: "shop",
      labels: { app: "web" },
      owner: { kind: "Deployment", name: "web" },
      containers: { [ID_A]: "nginx" },
    });
  });

  it("loads JSON and makes a pod without owner its own owner", async () => {
    const file = join(dir, "pods.json");
    await writeFile(
      file,
      JSON.stringify({
        pods: [{ uid: "u2", name: "solo", namespace: "ops", containers: [{ name: "c", id: ID_B }] }],
      }),
    );
    const pods = await StaticPodDirectory.open(file);
    expect(pods.byUid("u2")).toMatchObject({
      owner: { kind: "Pod", name: "solo" },
      labels: {},
      containers: { [ID_B]: "c" },
    });
    expect(pods.byUid("missing")).toBeUndefined();
  });

  it("reloads the file and calls the change listeners", async () => {
    const file = join(dir, "pods.yaml");
    await writeFile(file, "pods: []\n");
    const pods = await StaticPodDirectory.open(file);
    let changes = 0;
    pods.onChange(() => changes++);
    expect(pods.pods()).toEqual([]);
    await writeFile(file, yamlPods);
    await pods.reload();
    expect(changes).toBe(1);
    expect(pods.pods().map((p) => p.name)).toEqual(["web-1"]);
  });

  it("re-reads the file by itself when it is replaced, once watched", async () => {
    const file = join(dir, "pods.yaml");
    await writeFile(file, "pods: []\n");
    const pods = await StaticPodDirectory.open(file);
    const errors: Error[] = [];
    pods.watch((err) => errors.push(err), 20);
    try {
      const changed = new Promise<void>((resolve) => pods.onChange(resolve));
      await writeFile(`${file}.tmp`, yamlPods);
      await rename(`${file}.tmp`, file);
      await changed;
      expect(pods.pods().map((p) => p.name)).toEqual(["web-1"]);
      expect(errors).toEqual([]);
    } finally {
      pods.unwatch();
    }
  });

  it("keeps the known pods when a reload finds an invalid file", async () => {
    const file = join(dir, "pods.yaml");
    await writeFile(file, yamlPods);
    const pods = await StaticPodDirectory.open(file);
    await writeFile(file, "pods: {}\n");
    await expect(pods.reload()).rejects.toThrow(/pods file .*pods\.yaml: pods must be a list/);
    expect(pods.pods()).toHaveLength(1);
  });

  it("reports a missing file as SC_FILE_READ", async () => {
    const err = await StaticPodDirectory.open(join(dir, "nope.yaml")).catch((e: unknown) => e);
    expect(isSeccomposeError(err, "SC_FILE_READ")).toBe(true);
  });
});

describe("parsePodsFile", () => {
  const invalid: Array<[string, string]> = [
    ["- 1", "pods file f.yaml: (root) must be an object with a `pods` list"],
    ["pods: [1]", "pods file f.yaml: pods[0] must be an object"],
    ["pods: [{name: a, namespace: n, containers: []}]", "pods file f.yaml: pods[0].uid is missing"],
    [
      "pods: [{uid: 1, name: a, namespace: n, containers: []}]",
      "pods file f.yaml: pods[0].uid must be a non-empty string",
    ],
    ["pods: [{uid: u, name: a, namespace: n}]", "pods file f.yaml: pods[0].containers must be a list"],
    [
      "pods: [{uid: u, name: a, namespace: n, containers: [{name: c, id: abc}]}]",
      'pods file f.yaml: pods[0].containers[0].id must be a container id of 12 to 128 hex digits, got "abc"',
    ],
    [
      "pods: [{uid: u, name: a, namespace: n, labels: {a: 1}, containers: []}]",
      "pods file f.yaml: pods[0].labels.a must be a string",
    ],
    [
      "pods: [{uid: u, name: a, namespace: n, owner: {kind: Job}, containers: []}]",
      "pods file f.yaml: pods[0].owner.name is missing",
    ],
    [
      "pods: [{uid: u, name: a, namespace: n, extra: 1, containers: []}]",
      "pods file f.yaml: pods[0].extra is not a known field",
    ],
    [
      "pods: [{uid: u, name: a, namespace: n, containers: []}, {uid: u, name: b, namespace: n, containers: []}]",
      "pods file f.yaml: pods[1].uid repeats uid u",
    ],
  ];
  it.each(invalid)("rejects %j naming the file and field", (text, message) => {
    const err = errorOf(() => parsePodsFile(text, "f.yaml"));
    expect(isSeccomposeError(err, "SC_CONFIG_INVALID")).toBe(true);
    expect(err.message).toBe(message);
  });

  it("rejects text that is not YAML", () => {
    const err = errorOf(() => parsePodsFile("pods: [", "f.yaml"));
    expect(isSeccomposeError(err, "SC_CONFIG_INVALID")).toBe(true);
    expect(err.message).toMatch(/^pods file f\.yaml is not valid YAML \(line \d+\): /);
  });
});
