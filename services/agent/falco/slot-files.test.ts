import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ErrorCodes } from "../../../lib/errors.ts";
import type { SessionRecord } from "../../../lib/contracts/types.ts";
import type { FalcoTargets } from "../ports.ts";
import { SlotFiles, type SlotFilesOptions } from "./slot-files.ts";

const POD = "5d0c8a3e-1f2b-4a6c-9d7e-0b1a2c3d4e5f";
const OWN_POD = "8e7f6a5b-4c3d-4e2f-8a1b-9c0d1e2f3a4b";
const CGROUP = `/kubepods/burstable/pod${POD}/4f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff01`;

const session: SessionRecord = {
  schemaVersion: 1,
  id: "s1",
  mode: "oneshot",
  state: "running",
  createdAt: "2026-11-27T16:00:00Z",
  targets: {},
  profile: {},
};
const TARGETS: FalcoTargets = { sessions: [session], excludeSyscalls: ["pread64"] };

let dir: string;
let proc: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "slot-files-"));
  proc = join(dir, "proc");
  mkdirSync(proc);
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function slotFiles(options: Partial<SlotFilesOptions> = {}): SlotFiles {
  return new SlotFiles({
    configDir: join(dir, "falco"),
    alertFormat: "compact",
    probePrefix: `${dir}/falco/probe-00ff-`,
    procRoot: proc,
    ownPodUid: OWN_POD,
    ...options,
  });
}

/** A pod process in the fake /proc, on cgroup v1. */
function addThread(tid: number): void {
  mkdirSync(join(proc, String(tid), "task", String(tid)), { recursive: true });
  writeFileSync(join(proc, String(tid), "cgroup"), `4:cpu:${CGROUP}\n1:name=systemd:/\n`);
}

describe("SlotFiles", () => {
  it("writes each slot's pair of files as rendered, with the running pod threads and the agent's own pod left out", async () => {
    addThread(4242);
    const files = slotFiles();
    const written = await files.write("b", TARGETS);
    expect(written.configPath).toBe(join(dir, "falco", "falco-b.yaml"));
    expect(written.rulesPath).toBe(join(dir, "falco", "seccompose_rules-b.yaml"));
    expect(readFileSync(written.configPath, "utf8")).toBe(written.config);
    expect(readFileSync(written.rulesPath, "utf8")).toBe(written.rules);
    // The Falco event name of pread64 is pread.
    expect(written.config).toContain('"!pread"');
    expect(written.rules).toContain(OWN_POD);
    expect(written.rules).toContain("4242");
    expect(written.rules).toContain("probe-00ff-");
    expect(files.render("a", TARGETS).configPath).toBe(join(dir, "falco", "falco.yaml"));
  });

  it("identifies a configuration by its rendering for either slot, which the targets change", () => {
    const files = slotFiles();
    expect(files.signature(TARGETS)).toBe(files.signature({ ...TARGETS }));
    expect(files.signature(TARGETS)).not.toBe(files.signature({ ...TARGETS, excludeSyscalls: [] }));
  });

  it("tells where a listed pod thread comes from, for a slot's last two listings", async () => {
    const files = slotFiles();
    addThread(4242);
    await files.write("a", TARGETS);
    expect(files.threadOrigins(4242)).toEqual({ pid: 4242, cgroup: CGROUP });
    expect(files.threadOrigins(4243)).toBeNull();
    rmSync(join(proc, "4242"), { recursive: true });
    addThread(4243);
    await files.write("b", TARGETS);
    await files.write("a", TARGETS);
    // Slot a's Falco may not have taken its new listing yet.
    expect(files.threadOrigins(4242)).toEqual({ pid: 4242, cgroup: CGROUP });
    expect(files.threadOrigins(4243)).toEqual({ pid: 4243, cgroup: CGROUP });
    await files.write("a", TARGETS);
    expect(files.threadOrigins(4242)).toBeNull();
  });

  it("fails with a file-write error naming the directory when the files cannot be written", async () => {
    writeFileSync(join(dir, "blocker"), "");
    const files = slotFiles({ configDir: join(dir, "blocker", "falco") });
    await expect(files.write("a", TARGETS)).rejects.toMatchObject({
      code: ErrorCodes.SC_FILE_WRITE,
      message: expect.stringContaining(
        `cannot write the Falco configuration in ${join(dir, "blocker", "falco")}`,
      ),
    });
  });
});
