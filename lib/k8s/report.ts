/**
 * How the agent makes Falco trouble visible to `kubectl`: a condition on its own pod's status
 * (`kubectl get pod -o wide`, `kubectl describe pod`) and Events about the pod (`kubectl get
 * events`). Needs RBAC: get pods, patch pods/status, create and patch events in the agent's namespace.
 */
import { PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import type { CoreV1Event } from "@kubernetes/client-node";
import { ErrorCodes, isSeccomposeError } from "../errors.ts";
import type { Kube } from "./client.ts";

/** The agent's condition type for Falco's health. */
export const FALCO_HEALTHY_CONDITION = "seccompose.dev/FalcoHealthy";

/** Events and condition messages longer than this are cut, as the API server limits event messages. */
export const MAX_MESSAGE_LENGTH = 1024;

export interface PodRef {
  namespace: string;
  name: string;
  uid?: string;
}

export interface PodConditionInput {
  type: string;
  status: "True" | "False" | "Unknown";
  /** One CamelCase word, e.g. "FalcoRunning", "FalcoCrashLooping". */
  reason: string;
  message: string;
}

export interface PodEventInput {
  type: "Normal" | "Warning";
  reason: string;
  message: string;
}

export interface EventSource {
  /** Default "seccompose-agent". */
  component?: string;
  /** The node the reporter runs on. */
  host?: string;
}

/**
 * Sets a condition on the pod's status (strategic merge: other conditions stay). The transition
 * time moves only when the status changes; nothing is written when status, reason and message are
 * already as given. Returns whether the pod was patched.
 */
export async function setPodCondition(
  kube: Kube,
  pod: PodRef,
  condition: PodConditionInput,
  now: Date = new Date(),
): Promise<boolean> {
  const { namespace, name } = pod;
  const current = await kube.call({ verb: "get", resource: "pods", namespace, name }, () =>
    kube.core.readNamespacedPod({ namespace, name }),
  );
  const message = truncate(condition.message);
  const existing = current.status?.conditions?.find((c) => c.type === condition.type);
  if (
    existing &&
    existing.status === condition.status &&
    existing.reason === condition.reason &&
    existing.message === message
  ) {
    return false;
  }
  const lastTransitionTime =
    existing?.status === condition.status && existing.lastTransitionTime
      ? timestamp(new Date(existing.lastTransitionTime))
      : timestamp(now);
  const body = {
    status: {
      conditions: [
        {
          type: condition.type,
          status: condition.status,
          reason: condition.reason,
          message,
          lastTransitionTime,
        },
      ],
    },
  };
  await kube.call({ verb: "patch", resource: "pods/status", namespace, name }, () =>
    kube.core.patchNamespacedPodStatus(
      { namespace, name, body },
      setHeaderOptions("Content-Type", PatchStrategy.StrategicMergePatch),
    ),
  );
  return true;
}

/** Creates an Event about the pod, as `kubectl describe pod` lists them. */
export async function recordPodEvent(
  kube: Kube,
  pod: PodRef,
  event: PodEventInput,
  source: EventSource = {},
  now: Date = new Date(),
): Promise<CoreV1Event> {
  const component = source.component ?? "seccompose-agent";
  const body: CoreV1Event = {
    metadata: { name: eventName(pod.name, now), namespace: pod.namespace },
    involvedObject: {
      apiVersion: "v1",
      kind: "Pod",
      namespace: pod.namespace,
      name: pod.name,
      ...(pod.uid !== undefined ? { uid: pod.uid } : {}),
    },
    type: event.type,
    reason: event.reason,
    message: truncate(event.message),
    source: { component, ...(source.host !== undefined ? { host: source.host } : {}) },
    reportingComponent: component,
    reportingInstance: source.host ?? component,
    firstTimestamp: now,
    lastTimestamp: now,
    count: 1,
  };
  return kube.call({ verb: "create", resource: "events", namespace: pod.namespace }, () =>
    kube.core.createNamespacedEvent({ namespace: pod.namespace, body }),
  );
}

export interface PodReporter {
  /** setPodCondition, skipping the API entirely when this reporter already set exactly this. */
  condition(condition: PodConditionInput): Promise<void>;
  /**
   * recordPodEvent; a repeat of an event already recorded (same type, reason and message) bumps
   * that event's count and last timestamp instead, as kubelet's "x5 over 10m" events do.
   */
  event(event: PodEventInput): Promise<void>;
}

const REMEMBERED_EVENTS = 64;

/** A reporter for one pod (the agent's own), remembering what it reported. */
export function createPodReporter(kube: Kube, pod: PodRef, source: EventSource = {}): PodReporter {
  const conditions = new Map<string, string>();
  const events = new Map<string, { name: string; count: number }>();
  return {
    async condition(condition) {
      const key = JSON.stringify([condition.status, condition.reason, truncate(condition.message)]);
      if (conditions.get(condition.type) === key) return;
      await setPodCondition(kube, pod, condition);
      conditions.set(condition.type, key);
    },
    async event(event) {
      const key = JSON.stringify([event.type, event.reason, truncate(event.message)]);
      const seen = events.get(key);
      if (seen) {
        const count = seen.count + 1;
        try {
          await kube.call(
            { verb: "patch", resource: "events", namespace: pod.namespace, name: seen.name },
            () =>
              kube.core.patchNamespacedEvent(
                {
                  namespace: pod.namespace,
                  name: seen.name,
                  body: { count, lastTimestamp: timestamp(new Date()) },
                },
                setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
              ),
          );
          seen.count = count;
          return;
        } catch (err) {
          // Events expire (one hour by default); start a new one.
          if (!isSeccomposeError(err, ErrorCodes.SC_K8S_NOT_FOUND)) throw err;
          events.delete(key);
        }
      }
      const created = await recordPodEvent(kube, pod, event, source);
      events.set(key, { name: created.metadata?.name ?? "", count: 1 });
      if (events.size > REMEMBERED_EVENTS) events.delete(events.keys().next().value!);
    },
  };
}

let eventSequence = 0;

/** `<pod>.<hex nanoseconds>`, the naming kubelet and client-go use for events. */
function eventName(podName: string, now: Date): string {
  const nanos = BigInt(now.getTime()) * 1_000_000n + BigInt(eventSequence++ % 1_000_000);
  return `${podName}.${nanos.toString(16)}`;
}

/** RFC 3339 with seconds, the precision of metav1.Time. */
function timestamp(date: Date): string {
  return new Date(Math.floor(date.getTime() / 1000) * 1000).toISOString().replace(".000Z", "Z");
}

function truncate(message: string): string {
  return message.length <= MAX_MESSAGE_LENGTH ? message : `${message.slice(0, MAX_MESSAGE_LENGTH - 1)}…`;
}
