/**
 * Attribution of an event to a pod and container from the cgroup of its thread. This works from
 * a container's very first syscall and needs neither Falco's container plugin nor a runtime
 * socket.
 *
 * Accepted inputs, all of them as Falco or /proc render them:
 * - a plain path (`thread.cgroup.cpu`): cgroup v1 controller path or cgroup v2 unified path;
 * - a /proc/<pid>/cgroup line: `0::/kubepods.slice/...` (v2) or `4:cpu,cpuacct:/kubepods/...` (v1);
 * - several controllers in one string (`thread.cgroups`, space separated in Falco 0.44:
 *   `cpuset=/kubepods/... cpu=/kubepods/...`; comma separated also accepted).
 *
 * Kubelet layouts:
 * - cgroupfs driver: `/kubepods[/<qos>]/pod<uid>/<container id>` (cri-o: `crio-<id>`);
 * - systemd driver: `/kubepods.slice[/kubepods-<qos>.slice]/kubepods[-<qos>]-pod<uid with _>.slice/
 *   <runtime>-<id>.scope` with runtime `cri-containerd`, `crio` or `docker`; the pod UID's dashes
 *   are underscores in the slice name.
 * Anything above the kubepods root (`/kubelet.slice/kubelet-kubepods.slice`, `/docker/<id>/`, a
 * cgroup-namespace `/..`) and anything below the container (sub-cgroups a container creates) is
 * ignored. Guaranteed pods sit directly under the root.
 */

export interface CgroupAttribution {
  readonly podUid: string;
  readonly containerId: string;
}

/** Separators of path segments and of the entries of a multi-controller string. */
const TOKEN_SEPARATORS = /[/\s,=:]+/;
const POD_UID_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
// Static pods get the hex MD5 of their manifest as UID.
const POD_UID_HASH = /^[0-9a-f]{32}$/;
// Runtimes use 64 hex digits; any hex ID is accepted because the segment below a pod cgroup is
// the runtime's (the fixtures' python container has a 65-digit one).
const CONTAINER_ID = /^[0-9a-f]{12,128}$/;
const QOS_CLASSES = ["burstable", "besteffort", "guaranteed"];

// One entry per distinct cgroup path; a node runs a bounded number of containers, and the cache
// is simply dropped should unrelated paths ever fill it.
const CACHE_LIMIT = 4096;
const cache = new Map<string, CgroupAttribution | null>();

// Consecutive alerts mostly come from one container: comparing with the previous path is cheaper
// than hashing it for the map.
let lastPath = "";
let lastResult: CgroupAttribution | null = null;

/** Pod UID and container ID of a cgroup path, or null when it is not a kubelet container cgroup. */
export function attributeCgroup(cgroup: string): CgroupAttribution | null {
  if (cgroup === lastPath) return lastResult;
  let result = cache.get(cgroup);
  if (result === undefined) {
    result = parseCgroup(cgroup);
    if (cache.size >= CACHE_LIMIT) cache.clear();
    cache.set(cgroup, result);
  }
  lastPath = cgroup;
  lastResult = result;
  return result;
}

function parseCgroup(cgroup: string): CgroupAttribution | null {
  const tokens = cgroup.split(TOKEN_SEPARATORS);
  for (let i = 0; i < tokens.length; i++) {
    if (!isKubepodsRoot(tokens[i]!)) continue;
    let podIndex = i + 1;
    if (podIndex < tokens.length && isQosClass(tokens[podIndex]!)) podIndex++;
    const podUid = podIndex < tokens.length ? podUidOf(tokens[podIndex]!) : null;
    const containerId = podIndex + 1 < tokens.length ? containerIdOf(tokens[podIndex + 1]!) : null;
    if (podUid !== null && containerId !== null) return { podUid, containerId };
  }
  return null;
}

function isKubepodsRoot(token: string): boolean {
  return token === "kubepods" || token.endsWith("kubepods.slice");
}

function isQosClass(token: string): boolean {
  for (const qos of QOS_CLASSES) {
    if (token === qos || token.endsWith(`-${qos}.slice`)) return true;
  }
  return false;
}

function podUidOf(token: string): string | null {
  let uid: string;
  if (token.endsWith(".slice")) {
    const at = token.lastIndexOf("-pod");
    if (at < 0) return null;
    uid = token.slice(at + 4, -".slice".length).replaceAll("_", "-");
  } else if (token.startsWith("pod")) {
    uid = token.slice(3);
  } else {
    return null;
  }
  return POD_UID_UUID.test(uid) || POD_UID_HASH.test(uid) ? uid : null;
}

function containerIdOf(token: string): string | null {
  const name = token.endsWith(".scope") ? token.slice(0, -".scope".length) : token;
  const dash = name.lastIndexOf("-");
  // cri-o's conmon monitor runs in the pod's cgroup next to the container but is not part of it.
  if (dash >= 0 && name.slice(0, dash).includes("conmon")) return null;
  const id = name.slice(dash + 1);
  return CONTAINER_ID.test(id) ? id : null;
}
