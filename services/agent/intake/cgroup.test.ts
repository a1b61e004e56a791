import { describe, expect, it } from "vitest";
import { attributeCgroup } from "./cgroup.ts";

const UID = "5d0c8a3e-1f2b-4a6c-9d7e-0b1a2c3d4e5f";
const UID_ = UID.replaceAll("-", "_");
const CID = "9a8b7c6d5e4f30211203f4e5d6c7b8a99a8b7c6d5e4f30211203f4e5d6c7b8a9";
const OTHER_CID = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const expected = { podUid: UID, containerId: CID };

describe("attributeCgroup", () => {
  it.each([
    ["cgroupfs burstable", `/kubepods/burstable/pod${UID}/${CID}`],
    ["cgroupfs besteffort", `/kubepods/besteffort/pod${UID}/${CID}`],
    ["cgroupfs guaranteed (directly under the root)", `/kubepods/pod${UID}/${CID}`],
    ["cgroupfs with an explicit guaranteed class", `/kubepods/guaranteed/pod${UID}/${CID}`],
    ["cgroupfs cri-o", `/kubepods/besteffort/pod${UID}/crio-${CID}`],
    [
      "systemd containerd burstable",
      `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice/cri-containerd-${CID}.scope`,
    ],
    [
      "systemd containerd besteffort",
      `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID_}.slice/cri-containerd-${CID}.scope`,
    ],
    ["systemd guaranteed", `/kubepods.slice/kubepods-pod${UID_}.slice/cri-containerd-${CID}.scope`],
    [
      "systemd cri-o",
      `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice/crio-${CID}.scope`,
    ],
    [
      "systemd docker (cri-dockerd)",
      `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID_}.slice/docker-${CID}.scope`,
    ],
    [
      "cgroup v2 /proc line",
      `0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice/cri-containerd-${CID}.scope`,
    ],
    ["cgroup v1 /proc line", `4:cpu,cpuacct:/kubepods/burstable/pod${UID}/${CID}`],
    [
      "kind node (kubelet.slice root)",
      `/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod${UID_}.slice/cri-containerd-${CID}.scope`,
    ],
    ["kubelet in a docker container", `/docker/${OTHER_CID}/kubepods/burstable/pod${UID}/${CID}`],
    ["seen from a cgroup namespace", `/../../kubepods/burstable/pod${UID}/${CID}`],
    [
      "sub-cgroup created inside the container",
      `/kubepods.slice/kubepods-pod${UID_}.slice/cri-containerd-${CID}.scope/init.scope`,
    ],
    ["sub-cgroup with a delimiter in its name", `/kubepods/burstable/pod${UID}/${CID}/a|b`],
  ])("attributes a %s path", (_layout, path) => {
    expect(attributeCgroup(path)).toEqual(expected);
  });

  it("maps the underscores of a systemd pod slice back to the UID's dashes", () => {
    const path = `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice/cri-containerd-${CID}.scope`;
    expect(attributeCgroup(path)?.podUid).toBe("5d0c8a3e-1f2b-4a6c-9d7e-0b1a2c3d4e5f");
  });

  it("accepts the hash UID of a static pod", () => {
    const hashUid = "3f1c2b4a5d6e7f8091a2b3c4d5e6f708";
    expect(attributeCgroup(`/kubepods/pod${hashUid}/${CID}`)).toEqual({ podUid: hashUid, containerId: CID });
    expect(attributeCgroup(`/kubepods.slice/kubepods-pod${hashUid}.slice/crio-${CID}.scope`)).toEqual({
      podUid: hashUid,
      containerId: CID,
    });
  });

  it("reads Falco's space separated thread.cgroups string", () => {
    const cgroups = [
      `cpuset=/kubepods/burstable/pod${UID}/${CID}`,
      `cpu=/kubepods/burstable/pod${UID}/${CID}`,
      `memory=/kubepods/burstable/pod${UID}/${CID}`,
    ].join(" ");
    expect(attributeCgroup(cgroups)).toEqual(expected);
  });

  it("reads a comma separated controller string", () => {
    expect(attributeCgroup(`cpuset=/kubepods/pod${UID}/${CID},cpu=/kubepods/pod${UID}/${CID}`)).toEqual(
      expected,
    );
  });

  it("takes the first controller that names a container when an earlier one stops at the pod", () => {
    const cgroups = `cpuset=/kubepods/burstable/pod${UID} cpu=/kubepods/burstable/pod${UID}/${CID}`;
    expect(attributeCgroup(cgroups)).toEqual(expected);
  });

  it.each([
    ["the root", "/"],
    ["a login session", "/user.slice/user-1000.slice/session-3.scope"],
    ["a host service", "/system.slice/containerd.service"],
    ["a plain docker container", `/docker/${CID}`],
    ["the kubepods root", "/kubepods"],
    ["a QoS class cgroup", "/kubepods.slice/kubepods-burstable.slice"],
    ["a pod cgroup without container", `/kubepods/burstable/pod${UID}`],
    ["a systemd pod slice without container", `/kubepods.slice/kubepods-pod${UID_}.slice`],
    ["cri-o's conmon scope", `/kubepods.slice/kubepods-pod${UID_}.slice/crio-conmon-${CID}.scope`],
    ["a pod segment without a UID", `/kubepods/burstable/podnot-a-uid/${CID}`],
    ["a container segment that is not an ID", `/kubepods/burstable/pod${UID}/not-a-container`],
    ["an empty string", ""],
    ["Falco's missing value", "<NA>"],
  ])("returns null for %s", (_what, path) => {
    expect(attributeCgroup(path)).toBeNull();
  });

  it("answers a repeated path from its cache with the same record", () => {
    const path = `/kubepods/besteffort/pod${UID}/${OTHER_CID}`;
    const first = attributeCgroup(path);
    expect(first).toEqual({ podUid: UID, containerId: OTHER_CID });
    expect(attributeCgroup(path)).toBe(first);
  });

  it("keeps answering correctly after more distinct paths than its cache holds", () => {
    const uid = (i: number) => `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`;
    for (let i = 0; i < 5000; i++) {
      expect(attributeCgroup(`/kubepods/pod${uid(i)}/${CID}`)?.podUid).toBe(uid(i));
    }
    expect(attributeCgroup(`/kubepods/pod${uid(0)}/${CID}`)?.podUid).toBe(uid(0));
  });
});
