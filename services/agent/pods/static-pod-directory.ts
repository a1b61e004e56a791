/**
 * The pods of a node from a file, for agents outside Kubernetes and for tests. YAML or JSON:
 *
 * ```yaml
 * pods:
 *   - uid: 5d0c8a3e-1f2b-4a6c-9d7e-0b1a2c3d4e5f
 *     name: web-7d9c5b-x2k4q
 *     namespace: shop
 *     labels: { app: web }                     # optional
 *     owner: { kind: Deployment, name: web }   # optional; the pod itself when absent
 *     containers:
 *       - name: nginx
 *         id: containerd://4f1e…ff01           # hex digits; runtime prefix optional
 * ```
 */
import { ErrorCodes, SeccomposeError } from "../../../lib/errors.ts";
import type { PodDirectory, PodInfo } from "../ports.ts";
import { stripRuntimePrefix } from "../../../lib/k8s/pod-containers.ts";
import { parseYamlText, readTextFile } from "../../../lib/structured-file.ts";

// As accepted from cgroup paths (services/agent/intake/cgroup.ts): runtimes differ in length.
const CONTAINER_ID = /^[0-9a-f]{12,128}$/;

export class StaticPodDirectory implements PodDirectory {
  readonly file: string;
  #pods = new Map<string, PodInfo>();
  readonly #listeners: Array<() => void> = [];

  private constructor(file: string) {
    this.file = file;
  }

  /** Reads and validates the pods file. Throws SC_FILE_READ or SC_CONFIG_INVALID. */
  static async open(file: string): Promise<StaticPodDirectory> {
    const directory = new StaticPodDirectory(file);
    directory.#pods = await readPodsFile(file);
    return directory;
  }

  byUid(uid: string): PodInfo | undefined {
    return this.#pods.get(uid);
  }

  pods(): PodInfo[] {
    return [...this.#pods.values()];
  }

  onChange(listener: () => void): void {
    this.#listeners.push(listener);
  }

  /** Re-reads the file and notifies listeners; an invalid file throws and leaves the known pods as they were. */
  async reload(): Promise<void> {
    this.#pods = await readPodsFile(this.file);
    for (const listener of this.#listeners) listener();
  }
}

async function readPodsFile(file: string): Promise<Map<string, PodInfo>> {
  const pods = new Map<string, PodInfo>();
  for (const pod of parsePodsFile(await readTextFile(file, "pods file"), file)) pods.set(pod.uid, pod);
  return pods;
}

/** Parses and validates a pods file's text; `file` names it in errors. Throws SC_CONFIG_INVALID. */
export function parsePodsFile(text: string, file: string): PodInfo[] {
  const invalid = (field: string, problem: string): never => {
    throw new SeccomposeError(ErrorCodes.SC_CONFIG_INVALID, `pods file ${file}: ${field} ${problem}`);
  };
  const doc = parseYamlText(text, file, "pods file");
  if (!isObject(doc)) return invalid("(root)", "must be an object with a `pods` list");
  const list = doc["pods"];
  if (!Array.isArray(list)) return invalid("pods", "must be a list");
  for (const key of Object.keys(doc)) if (key !== "pods") invalid(key, "is not a known field");

  const uids = new Set<string>();
  return list.map((entry: unknown, i): PodInfo => {
    const at = `pods[${i}]`;
    if (!isObject(entry)) return invalid(at, "must be an object");
    for (const key of Object.keys(entry)) {
      if (!["uid", "name", "namespace", "labels", "owner", "containers"].includes(key))
        invalid(`${at}.${key}`, "is not a known field");
    }
    const uid = requiredString(entry, "uid", at, invalid);
    if (uids.has(uid)) invalid(`${at}.uid`, `repeats uid ${uid}`);
    uids.add(uid);
    const name = requiredString(entry, "name", at, invalid);
    const namespace = requiredString(entry, "namespace", at, invalid);

    const labels: Record<string, string> = {};
    const rawLabels = entry["labels"];
    if (rawLabels !== undefined && rawLabels !== null) {
      if (!isObject(rawLabels)) invalid(`${at}.labels`, "must be a map of strings");
      for (const [k, v] of Object.entries(rawLabels as Record<string, unknown>)) {
        if (typeof v !== "string") invalid(`${at}.labels.${k}`, "must be a string");
        labels[k] = v as string;
      }
    }

    let owner: PodInfo["owner"] = { kind: "Pod", name };
    const rawOwner = entry["owner"];
    if (rawOwner !== undefined && rawOwner !== null) {
      if (!isObject(rawOwner)) invalid(`${at}.owner`, "must be an object with kind and name");
      const o = rawOwner as Record<string, unknown>;
      owner = {
        kind: requiredString(o, "kind", `${at}.owner`, invalid),
        name: requiredString(o, "name", `${at}.owner`, invalid),
      };
    }

    const rawContainers = entry["containers"];
    if (!Array.isArray(rawContainers)) return invalid(`${at}.containers`, "must be a list");
    const containers: Record<string, string> = {};
    rawContainers.forEach((c: unknown, j) => {
      const cat = `${at}.containers[${j}]`;
      if (!isObject(c)) return invalid(cat, "must be an object with name and id");
      const containerName = requiredString(c, "name", cat, invalid);
      const id = stripRuntimePrefix(requiredString(c, "id", cat, invalid));
      if (!CONTAINER_ID.test(id))
        invalid(`${cat}.id`, `must be a container id of 12 to 128 hex digits, got "${id}"`);
      containers[id] = containerName;
    });
    return { uid, name, namespace, labels, owner, containers };
  });
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function requiredString(
  object: Record<string, unknown>,
  key: string,
  at: string,
  invalid: (field: string, problem: string) => never,
): string {
  const value = object[key];
  if (typeof value !== "string" || value === "") {
    return invalid(`${at}.${key}`, value === undefined ? "is missing" : "must be a non-empty string");
  }
  return value;
}
