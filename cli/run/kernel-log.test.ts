import { describe, expect, it } from "vitest";
import { parseLoggedSyscalls } from "./kernel-log.ts";

// Recorded on this project's test machine (Linux 6.18, x86_64) from a SCMP_ACT_LOG profile, plus an
// errno record (not a log record), an x32 call and an i386 call.
const LOG = [
  '[ 3524.137641] audit: type=1326 audit(1796525797.540:8): auid=4294967295 uid=0 gid=0 ses=4294967295 pid=20258 comm="true" exe="/usr/bin/true" sig=0 arch=c000003e syscall=0 compat=0 ip=0x7f6aacacbb74 code=0x7ffc0000',
  '[ 3524.137643] audit: type=1326 audit(1796525797.540:9): auid=4294967295 uid=0 gid=0 ses=4294967295 pid=20258 comm="true" exe="/usr/bin/true" sig=0 arch=c000003e syscall=17 compat=0 ip=0x7f6aacacbb9a code=0x7ffc0000',
  '[ 3524.137647] audit: type=1326 audit(1796525797.540:11): auid=4294967295 uid=0 gid=0 ses=4294967295 pid=20258 comm="true" exe="/usr/bin/true" sig=0 arch=c000003e syscall=17 compat=0 ip=0x7f6aacacbb9a code=0x7ffc0000',
  '[ 3524.137648] audit: type=1326 audit(1796525797.541:12): auid=4294967295 uid=0 gid=0 ses=4294967295 pid=20259 comm="my app" exe="/usr/bin/x" sig=0 arch=c000003e syscall=1073741825 compat=0 ip=0x7f6aacacba07 code=0x7ffc0000',
  '[ 3524.137649] audit: type=1326 audit(1796525797.541:13): auid=4294967295 uid=0 gid=0 ses=4294967295 pid=20259 comm="x" exe="/usr/bin/x" sig=0 arch=40000003 syscall=1 compat=1 ip=0x1 code=0x7ffc0000',
  '[ 3524.137650] audit: type=1326 audit(1796525797.541:14): auid=4294967295 uid=0 gid=0 ses=4294967295 pid=20259 comm="x" exe="/usr/bin/x" sig=0 arch=c000003e syscall=2 compat=0 ip=0x1 code=0x50001',
  "[ 3524.200000] traps: cut[17004] general protection fault ip:7fef1096650f",
].join("\n");

describe("parseLoggedSyscalls", () => {
  it("names each logged call by its architecture's table, most frequent first, and skips other actions", () => {
    expect(parseLoggedSyscalls(LOG, 0)).toEqual([
      { name: "pread64", count: 2, processes: ["true"] },
      { name: "exit", count: 1, processes: ["x"] },
      { name: "read", count: 1, processes: ["true"] },
      { name: "write", count: 1, processes: ["my app"] },
    ]);
  });

  it("keeps only the records at or after the given time", () => {
    expect(parseLoggedSyscalls(LOG, 1796525797541).map((l) => l.name)).toEqual(["exit", "write"]);
    expect(parseLoggedSyscalls(LOG, 1796525797542)).toEqual([]);
  });

  it("names a call of an architecture without a table by its audit arch and number", () => {
    const line = LOG.split("\n")[0]!.replace("arch=c000003e", "arch=80000016");
    expect(parseLoggedSyscalls(line, 0)).toEqual([{ name: "80000016:0", count: 1, processes: ["true"] }]);
  });
});
