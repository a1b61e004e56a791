import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { attributeUnknownThread, cpuCgroupPath, podThreads } from "./pod-threads.ts";

const POD_A = "5d0c8a3e-1f2b-4a6c-9d7e-0b1a2c3d4e5f";
const POD_B = "8e7f6a5b-4c3d-4e2f-8a1b-9c0d1e2f3a4b";
const CONTAINER = "4f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff01";
const V1_CGROUP = `/kubepods/burstable/pod${POD_A}/${CONTAINER}`;

/** A /proc/<tid>/cgroup file of cgroup v1, as these machines have it. */
function v1File(cpuPath: string): string {
  return `12:pids:/\n4:cpu:${cpuPath}\n3:cpuacct:${cpuPath}\n1:name=systemd:/\n`;
}

let proc: string;

function addProcess(pid: number, cgroupFile: string, tids: number[] = [pid]): void {
  mkdirSync(join(proc, String(pid), "task"), { recursive: true });
  writeFileSync(join(proc, String(pid), "cgroup"), cgroupFile);
  for (const tid of tids) mkdirSync(join(proc, String(pid), "task", String(tid)), { recursive: true });
}

beforeEach(() => {
  proc = mkdtempSync(join(tmpdir(), "sc-proc-"));
});
afterEach(() => rmSync(proc, { recursive: true, force: true }));

describe("cpuCgroupPath", () => {
  it("reads the cpu controller's path on cgroup v1 and the unified path on cgroup v2", () => {
    expect(cpuCgroupPath(v1File(V1_CGROUP))).toBe(V1_CGROUP);
    expect(cpuCgroupPath("5:cpu,cpuacct:/kubepods/pod1/abc\n")).toBe("/kubepods/pod1/abc");
    const v2 = "/kubepods.slice/kubepods-burstable.slice/x.scope";
    expect(cpuCgroupPath(`0::${v2}\n`)).toBe(v2);
    expect(cpuCgroupPath("garbage\n")).toBeUndefined();
  });
});

describe("podThreads", () => {
  it("lists every thread of processes in pod cgroups, with its process and cgroup, not those of other cgroups or excluded pods", () => {
    const podB = `/kubepods/besteffort/pod${POD_B}/${CONTAINER}`;
    addProcess(100, v1File(V1_CGROUP), [100, 101, 102]);
    addProcess(200, v1File(podB), [200]);
    addProcess(300, v1File("/system.slice/nats-server.service"), [300, 301]);
    mkdirSync(join(proc, "self"));
    const a = { pid: 100, cgroup: V1_CGROUP };
    expect([...podThreads(proc)]).toEqual([
      [100, a],
      [101, a],
      [102, a],
      [200, { pid: 200, cgroup: podB }],
    ]);
    expect([...podThreads(proc, [POD_B]).keys()]).toEqual([100, 101, 102]);
    expect([...podThreads(proc, [], 2).keys()]).toEqual([100, 101]);
  });

  it("keeps what it listed after the threads exit: their last alerts come later", () => {
    addProcess(100, v1File(V1_CGROUP), [100, 101]);
    const listed = podThreads(proc);
    rmSync(join(proc, "100"), { recursive: true });
    const line = "08:02:50.5: Debug sc1|1|exit_group|0|-1|101|<NA>|<NA>|<NA>|<NA>|<NA>";
    expect(attributeUnknownThread(line, (tid) => listed.get(tid) ?? null)).toBe(
      `08:02:50.5: Debug sc1|1|exit_group|0|100|101|<NA>|<NA>|<NA>|<NA>|${V1_CGROUP}`,
    );
  });

  it("lists nothing from a /proc it cannot read", () => {
    expect(podThreads(join(proc, "missing")).size).toBe(0);
  });
});

describe("attributeUnknownThread", () => {
  const lookup = (tid: number) => (tid === 101 ? { pid: 100, cgroup: V1_CGROUP } : null);

  it("fills in the pid and cgroup of a compact alert of a thread Falco did not know", () => {
    const unknown =
      "08:02:50.520546988: Debug sc1|1796544170520546988|getppid|100|-1|101|<NA>|<NA>|<NA>|<NA>|<NA>";
    expect(attributeUnknownThread(unknown, lookup)).toBe(
      `08:02:50.520546988: Debug sc1|1796544170520546988|getppid|100|100|101|<NA>|<NA>|<NA>|<NA>|${V1_CGROUP}`,
    );
  });

  it("fills in the output fields of a JSON alert of a thread Falco did not know", () => {
    const unknown =
      '{"hostname":"vm","output":"x","output_fields":{"evt.rawres":null,"evt.time":1796544170520546000,"proc.pid":-1,"thread.cgroup.cpu":null,"thread.tid":101},"priority":"Debug","rule":"r"}';
    const fields = (
      JSON.parse(attributeUnknownThread(unknown, lookup)) as { output_fields: Record<string, unknown> }
    ).output_fields;
    expect(fields).toEqual({
      "evt.rawres": null,
      "evt.time": 1796544170520546000,
      "proc.pid": 100,
      "thread.cgroup.cpu": V1_CGROUP,
      "thread.tid": 101,
    });
  });

  it("leaves known threads, gone threads and other lines as they are", () => {
    const known = `08:02:50.5: Debug sc1|1|getppid|100|100|101|<NA>|<NA>|<NA>|<NA>|${V1_CGROUP}`;
    const gone = "08:02:50.5: Debug sc1|1|getppid|100|-1|999|<NA>|<NA>|<NA>|<NA>|<NA>";
    expect(attributeUnknownThread(known, lookup)).toBe(known);
    expect(attributeUnknownThread(gone, lookup)).toBe(gone);
    expect(attributeUnknownThread("Events detected: 5", lookup)).toBe("Events detected: 5");
  });
});
