/** What tests see of the stand-in API server: its objects, the requests it received, and its handle. */

export type JsonObject = { [key: string]: unknown };

export interface FakeObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: Array<{
    apiVersion: string;
    kind: string;
    name: string;
    uid: string;
    controller?: boolean;
    blockOwnerDeletion?: boolean;
  }>;
  [field: string]: unknown;
}

/** Any Kubernetes object as JSON. */
export interface FakeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: FakeObjectMeta;
  [field: string]: unknown;
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  /** Parsed JSON (or YAML, for apply) body; undefined when there was none. */
  body: unknown;
  /** Media type of the body, without parameters; "" when there was none. */
  contentType: string;
}

/** A request the fake answers with 403 Forbidden. Unset fields match anything. */
export interface ForbidRule {
  verb?: "get" | "list" | "watch" | "create" | "update" | "patch" | "delete";
  /** Plural resource name, with the subresource if any: "pods", "pods/status", "daemonsets". */
  resource: string;
  namespace?: string;
}

export interface FakeApiServerOptions {
  /** Objects present from the start, besides the namespaces default, kube-system, kube-public and kube-node-lease. */
  objects?: FakeObject[];
  /** Bearer token the server accepts; the kubeconfig carries it. */
  token?: string;
}

export interface FakeApiServer {
  /** http://127.0.0.1:PORT */
  readonly url: string;
  /** A kubeconfig whose context "fake" (the current one, namespace "default") points at this server. */
  readonly kubeconfigPath: string;
  readonly token: string;
  /** Every request received, in order. */
  readonly requests: RecordedRequest[];
  /** Stores a new object as a controller would (no checks), notifies watches, and returns the stored copy. */
  add(obj: FakeObject): FakeObject;
  /** Replaces an object (keeping uid and creationTimestamp), as `manager` if given; notifies watches. */
  update(obj: FakeObject, manager?: string): FakeObject;
  /** Deletes an object; a no-op if it does not exist. */
  remove(kind: string, namespace: string | undefined, name: string): void;
  get(kind: string, namespace: string | undefined, name: string): FakeObject | undefined;
  list(kind: string, namespace?: string): FakeObject[];
  /** Answers matching requests with 403 from now on. */
  forbid(rule: ForbidRule): void;
  /** Ends every open watch, as the real server does when a watch times out; clients resume from their resource version. */
  dropWatches(): void;
  /** Bridges port-forwards to `podPort` of the pod to 127.0.0.1:`targetPort`. */
  forwardPort(namespace: string, pod: string, podPort: number, targetPort: number): void;
  /** Ends all watches and connections, closes the server and removes the kubeconfig. */
  stop(): Promise<void>;
}
