import type { V1Pod } from "@kubernetes/client-node";
import { createAccount, createUser } from "@nats-io/nkeys";
import { Pod } from "kubernetes-models/v1";
import { describe, expect, it } from "vitest";
import { isSeccomposeError } from "../../lib/errors.ts";
import { enrollmentOutcome, enrollmentPod, enrollmentTemplate } from "./enrollment.ts";
import { loadManifests } from "./manifests.ts";

const pod = (status: V1Pod["status"]): V1Pod => ({ metadata: { name: "seccompose-enroll-x1" }, status });
const terminated = (exitCode: number, message?: string, reason?: string): V1Pod["status"] => ({
  phase: exitCode === 0 ? "Succeeded" : "Failed",
  containerStatuses: [
    {
      name: "enroll",
      image: "seccompose/agent:0.1.0",
      imageID: "",
      ready: false,
      restartCount: 0,
      state: {
        terminated: {
          exitCode,
          ...(message !== undefined ? { message } : {}),
          ...(reason ? { reason } : {}),
        },
      },
    },
  ],
});

describe("enrollment pods", () => {
  it("copy image, seed path and identity hostPath from the agent DaemonSet, and pass Kubernetes' schema", async () => {
    const template = enrollmentTemplate(await loadManifests("default"));
    expect(template).toMatchObject({
      image: "seccompose/agent:0.1.0",
      serviceAccountName: "seccompose-agent",
      seedFile: "/var/lib/seccompose-identity/nats-user.nk",
      hostPath: "/var/lib/seccompose-identity",
      mountPath: "/var/lib/seccompose-identity",
    });
    const spec = enrollmentPod(template, "ip-10-0-0-7.ec2.internal", "seccompose", "run1", 299.5);
    expect(() => new Pod(spec as never).validate()).not.toThrow();
    expect(spec.spec).toMatchObject({
      nodeName: "ip-10-0-0-7.ec2.internal",
      restartPolicy: "Never",
      activeDeadlineSeconds: 300,
      automountServiceAccountToken: false,
      tolerations: [{ operator: "Exists" }],
    });
  });

  it("cannot be made from manifests whose agent has no seed file in a hostPath mount (the dev overlay)", async () => {
    let err: unknown;
    try {
      enrollmentTemplate(await loadManifests("dev"));
    } catch (e) {
      err = e;
    }
    expect(isSeccomposeError(err, "SC_CONFIG_INVALID")).toBe(true);
    expect((err as Error).message).toContain("sets no SECCOMPOSE_NATS_NKEY_FILE");
  });
});

describe("enrollmentOutcome", () => {
  it("takes the key from a successful pod's termination message, and only a user public key", () => {
    const key = createUser().getPublicKey();
    expect(enrollmentOutcome(pod(terminated(0, `${key}\n`)))).toEqual({ state: "enrolled", publicKey: key });
    expect(enrollmentOutcome(pod(terminated(0, createAccount().getPublicKey())))).toMatchObject({
      state: "failed",
      reason: expect.stringContaining("it reported no NKey user public key"),
    });
    // Whatever a node writes there reaches the installer's terminal escaped.
    expect(enrollmentOutcome(pod(terminated(0, "\u001b[2Jgotcha")))).toEqual({
      state: "failed",
      reason: 'it reported no NKey user public key (message "\\x1b[2Jgotcha")',
    });
  });

  it("gives a failed pod's reason: the enroll command's message, else the exit code, else the pod's reason", () => {
    expect(
      enrollmentOutcome(pod(terminated(1, "SC_NODE_IDENTITY: the identity directory is a symbolic link\n"))),
    ).toEqual({
      state: "failed",
      reason: "SC_NODE_IDENTITY: the identity directory is a symbolic link",
    });
    expect(enrollmentOutcome(pod(terminated(137, undefined, "OOMKilled")))).toEqual({
      state: "failed",
      reason: "exit code 137 (OOMKilled)",
    });
    expect(
      enrollmentOutcome(
        pod({ phase: "Failed", reason: "DeadlineExceeded", message: "Pod was active too long" }),
      ),
    ).toEqual({ state: "failed", reason: "DeadlineExceeded: Pod was active too long" });
  });

  it("says what a pending pod waits for", () => {
    expect(
      enrollmentOutcome(
        pod({
          phase: "Pending",
          containerStatuses: [
            {
              name: "enroll",
              image: "x",
              imageID: "",
              ready: false,
              restartCount: 0,
              state: { waiting: { reason: "ErrImagePull", message: "pull access denied" } },
            },
          ],
        }),
      ),
    ).toEqual({ state: "pending", reason: "ErrImagePull: pull access denied" });
    expect(enrollmentOutcome(pod({ phase: "Pending" }))).toEqual({ state: "pending", reason: "pod Pending" });
    expect(enrollmentOutcome(pod(undefined))).toEqual({
      state: "pending",
      reason: "pod not started by the node's kubelet",
    });
  });
});
