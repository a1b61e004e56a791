import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeNode, startFakeApiServer } from "../../test/helpers/fake-apiserver.ts";
import type { FakeApiServer } from "../../test/helpers/fake-apiserver.ts";
import { loadKube } from "./client.ts";
import { checkNodes, modernEbpfSupport, parseKernelVersion } from "./nodes.ts";

let fake: FakeApiServer;

beforeAll(async () => {
  fake = await startFakeApiServer({
    objects: [
      makeNode({ name: "node-b", kernelVersion: "4.19.0-26-amd64", osImage: "Debian GNU/Linux 10 (buster)" }),
      makeNode({ name: "node-a", kernelVersion: "6.8.0-1019-aws" }),
      makeNode({ name: "node-c", kernelVersion: "5.15.0-1064-azure", architecture: "arm64" }),
      makeNode({ name: "node-d", kernelVersion: "custom", architecture: "mips64le" }),
    ],
  });
});

afterAll(async () => {
  await fake.stop();
});

describe("parseKernelVersion", () => {
  it("reads the numbers at the start of the kernel release strings nodes report", () => {
    expect(parseKernelVersion("6.8.0-1019-aws")).toEqual({ major: 6, minor: 8, patch: 0 });
    expect(parseKernelVersion("5.15.153.1-microsoft-standard-WSL2")).toEqual({
      major: 5,
      minor: 15,
      patch: 153,
    });
    expect(parseKernelVersion("4.18.0-553.el8_10.x86_64")).toEqual({ major: 4, minor: 18, patch: 0 });
    expect(parseKernelVersion("5.10")).toEqual({ major: 5, minor: 10, patch: 0 });
    expect(parseKernelVersion("linux")).toBeUndefined();
  });
});

describe("modernEbpfSupport", () => {
  it("accepts kernels from 5.8 on and flags older ones", () => {
    expect(modernEbpfSupport("5.7.19")).toBe("unsupported");
    expect(modernEbpfSupport("5.8.0-63-generic")).toBe("supported");
    expect(modernEbpfSupport("4.18.0-553.el8_10.x86_64")).toBe("unsupported");
    expect(modernEbpfSupport("6.1.0-13-cloud-amd64")).toBe("supported");
    expect(modernEbpfSupport("")).toBe("unknown");
  });
});

describe("checkNodes", () => {
  it("reports each node's kernel and architecture and flags the kernel too old for modern_ebpf", async () => {
    const check = await checkNodes(loadKube({ kubeconfig: fake.kubeconfigPath }));
    expect(check.nodes.map((n) => [n.name, n.kernelVersion, n.architecture, n.arch, n.ready])).toEqual([
      ["node-a", "6.8.0-1019-aws", "amd64", "x86_64", true],
      ["node-b", "4.19.0-26-amd64", "amd64", "x86_64", true],
      ["node-c", "5.15.0-1064-azure", "arm64", "aarch64", true],
      ["node-d", "custom", "mips64le", undefined, true],
    ]);
    expect(check.findings.map((f) => [f.node, f.modernEbpf])).toEqual([
      ["node-a", "supported"],
      ["node-b", "unsupported"],
      ["node-c", "supported"],
      ["node-d", "unknown"],
    ]);
    expect(check.findings[1]!.message).toBe(
      "Node node-b: kernel 4.19.0-26-amd64 is older than 5.8; Falco's modern_ebpf driver needs the BPF ring buffer and BTF of 5.8+. Upgrade the node's kernel or keep agents off it",
    );
    expect(check.nodes[1]!.osImage).toBe("Debian GNU/Linux 10 (buster)");
    expect(check.architectures).toEqual(["aarch64", "x86_64"]);
    expect(check.unsupportedArchitectures).toEqual([{ node: "node-d", architecture: "mips64le" }]);
  });
});
