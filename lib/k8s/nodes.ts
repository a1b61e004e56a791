/**
 * What the nodes run: kernel versions and architectures (from the kubelet's nodeInfo), the
 * architectures a profile must cover, and whether each kernel can run Falco's modern_ebpf driver,
 * which needs the BPF ring buffer and BTF — "usually all versions >= 5.8" (reference/falco.md §5).
 */
import type { V1Node } from "@kubernetes/client-node";
import { isSeccomposeError } from "../errors.ts";
import { normalizeNodeArch } from "../syscalls/architectures.ts";
import type { NodeArch } from "../syscalls/architectures.ts";
import type { Kube } from "./client.ts";

export const MODERN_EBPF_MIN_KERNEL = { major: 5, minor: 8 } as const;

export interface NodeInfo {
  name: string;
  kernelVersion: string;
  /** As the kubelet reports it (GOARCH): amd64, arm64. */
  architecture: string;
  /** Canonical architecture name (x86_64, aarch64, ...); undefined when seccompose does not support it. */
  arch: NodeArch | undefined;
  osImage: string;
  containerRuntime: string;
  kubeletVersion: string;
  ready: boolean;
  unschedulable: boolean;
}

export interface KernelVersion {
  major: number;
  minor: number;
  patch: number;
}

export type ModernEbpfSupport = "supported" | "unsupported" | "unknown";

export interface NodeFinding {
  node: string;
  kernelVersion: string;
  architecture: string;
  modernEbpf: ModernEbpfSupport;
  /** A sentence for the user, naming the node's kernel and what to do about it. */
  message: string;
}

export interface NodeCheck {
  nodes: NodeInfo[];
  /** One finding per node, in node order. */
  findings: NodeFinding[];
  /** The canonical architectures of the nodes, sorted; profiles must cover them. */
  architectures: NodeArch[];
  /** Nodes whose architecture seccompose does not support. */
  unsupportedArchitectures: Array<{ node: string; architecture: string }>;
}

/** Lists the nodes with their kernel and architecture, sorted by name. */
export async function listNodes(kube: Kube): Promise<NodeInfo[]> {
  const list = await kube.call({ verb: "list", resource: "nodes" }, () => kube.core.listNode());
  return list.items.map(nodeInfoOf).sort((a, b) => a.name.localeCompare(b.name));
}

/** `6.8.0-1019-aws`, `5.15.153.1-microsoft-standard-WSL2`, `4.18.0-553.el8_10.x86_64` → numbers; undefined if not a kernel version. */
export function parseKernelVersion(text: string): KernelVersion | undefined {
  const m = /^\s*v?(\d+)\.(\d+)(?:\.(\d+))?/.exec(text);
  if (!m) return undefined;
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3] ?? 0) };
}

/** Whether a kernel can run modern_ebpf, judged by its version alone. */
export function modernEbpfSupport(kernelVersion: string): ModernEbpfSupport {
  const v = parseKernelVersion(kernelVersion);
  if (!v) return "unknown";
  const { major, minor } = MODERN_EBPF_MIN_KERNEL;
  return v.major > major || (v.major === major && v.minor >= minor) ? "supported" : "unsupported";
}

/** One finding per node about Falco's modern_ebpf driver on its kernel. */
export function checkModernEbpf(nodes: readonly NodeInfo[]): NodeFinding[] {
  const min = `${MODERN_EBPF_MIN_KERNEL.major}.${MODERN_EBPF_MIN_KERNEL.minor}`;
  return nodes.map((node) => {
    const support = modernEbpfSupport(node.kernelVersion);
    const kernel = node.kernelVersion || "(none reported)";
    let message: string;
    switch (support) {
      case "supported":
        message = `Node ${node.name}: kernel ${kernel} is ${min} or newer; Falco's modern_ebpf driver can run (it also needs BTF and the BPF ring buffer enabled)`;
        break;
      case "unsupported":
        message = `Node ${node.name}: kernel ${kernel} is older than ${min}; Falco's modern_ebpf driver needs the BPF ring buffer and BTF of ${min}+. Upgrade the node's kernel or keep agents off it`;
        break;
      case "unknown":
        message = `Node ${node.name}: kernel version "${kernel}" is not a recognisable version; cannot tell whether Falco's modern_ebpf driver can run`;
        break;
    }
    return {
      node: node.name,
      kernelVersion: node.kernelVersion,
      architecture: node.architecture,
      modernEbpf: support,
      message,
    };
  });
}

/** Lists the nodes and checks each: kernel support for modern_ebpf and architecture. */
export async function checkNodes(kube: Kube): Promise<NodeCheck> {
  const nodes = await listNodes(kube);
  const architectures = [...new Set(nodes.flatMap((n) => (n.arch ? [n.arch] : [])))].sort();
  return {
    nodes,
    findings: checkModernEbpf(nodes),
    architectures,
    unsupportedArchitectures: nodes
      .filter((n) => n.arch === undefined)
      .map((n) => ({ node: n.name, architecture: n.architecture })),
  };
}

function nodeInfoOf(node: V1Node): NodeInfo {
  const info = node.status?.nodeInfo;
  const architecture = info?.architecture ?? node.metadata?.labels?.["kubernetes.io/arch"] ?? "";
  return {
    name: node.metadata?.name ?? "",
    kernelVersion: info?.kernelVersion ?? "",
    architecture,
    arch: canonicalArch(architecture),
    osImage: info?.osImage ?? "",
    containerRuntime: info?.containerRuntimeVersion ?? "",
    kubeletVersion: info?.kubeletVersion ?? "",
    ready: (node.status?.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True"),
    unschedulable: node.spec?.unschedulable === true,
  };
}

function canonicalArch(architecture: string): NodeArch | undefined {
  try {
    return normalizeNodeArch(architecture);
  } catch (err) {
    if (isSeccomposeError(err)) return undefined;
    throw err;
  }
}
