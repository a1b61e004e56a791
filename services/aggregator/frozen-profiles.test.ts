import { describe, expect, it } from "vitest";
import type { SessionRecord } from "../../lib/contracts/types.ts";
import { isSeccomposeError } from "../../lib/errors.ts";
import { sessionRecord } from "../../test/helpers/session-record.ts";
import { knownSyscalls, mergeEntry } from "./entry-merge.ts";
import { acceptDrift, followFrozen } from "./frozen-profiles.ts";
import { DEFAULT_LIMITS } from "./limits.ts";
import { SessionState } from "./session.ts";

const T0 = 1_700_000_000_000;
const TOKEN = "shop_Deployment_web_nginx";
const web = { namespace: "shop", kind: "Deployment", name: "web", container: "nginx" };

function continuous(frozen: string[]): SessionRecord {
  return sessionRecord("c1", { mode: "continuous", expectedNodes: ["node-a"], continuous: { frozen } });
}

/** A continuous session whose web workload recorded `names` on node-a. */
function sessionWith(names: string[], record = continuous([])): SessionState {
  const session = new SessionState("c1");
  session.record = record;
  see(session, names);
  return session;
}

function see(session: SessionState, names: string[], node = "node-a"): void {
  const entry = {
    workload: web,
    pod: "web-0",
    syscalls: names.map((name) => ({ name, count: 1, firstSeen: T0 })),
  };
  mergeEntry(
    session,
    session.node(node),
    { node, arch: "x86_64", droppedEvents: 0, sentAt: T0 },
    entry,
    knownSyscalls("x86_64"),
    T0,
    { fresh: true, drift: [] },
    { events: 0, unknownNames: 0, overLimit: 0 },
    DEFAULT_LIMITS,
  );
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return isSeccomposeError(err) ? err.code : "not a SeccomposeError";
  }
  return undefined;
}

const web0 = (session: SessionState) => session.workloads.get("shop/Deployment/web/nginx")!;

describe("followFrozen", () => {
  it("freezes the workloads the record lists, and on unfreeze takes their drift into the profile", () => {
    const session = sessionWith(["read"]);
    followFrozen(session, continuous([TOKEN]), T0);
    expect(web0(session).track.frozen).toBeDefined();
    see(session, ["ptrace"]);
    expect(web0(session).observations.syscalls.has("ptrace")).toBe(false);
    followFrozen(session, continuous([]), T0 + 1);
    expect(web0(session).track.frozen).toBeUndefined();
    expect([...web0(session).observations.syscalls.keys()].sort()).toEqual(["ptrace", "read"]);
    expect(web0(session).track.drift.size).toBe(0);
  });
});

describe("acceptDrift", () => {
  it("takes the named drift into the frozen profile, the rest stays drift", () => {
    const session = sessionWith(["read"]);
    followFrozen(session, continuous([TOKEN]), T0);
    see(session, ["ptrace", "kill"]);
    see(session, ["ptrace"], "node-b");
    expect(acceptDrift(session, "c1", [TOKEN], ["ptrace"], () => T0 + 5)).toEqual([
      { workloadToken: TOKEN, syscalls: ["ptrace"], calls: 2, revision: 1 },
    ]);
    expect(web0(session).observations.syscalls.has("ptrace")).toBe(true);
    expect([...web0(session).track.drift.values()].map((e) => e.syscall)).toEqual(["kill"]);
    expect(web0(session).track.frozen?.shape.has("ptrace")).toBe(true);
  });

  it("refuses with a code, changing nothing, what it cannot take: no session, finalised, unknown or unfrozen workload, no such drift", () => {
    const session = sessionWith(["read"]);
    followFrozen(session, continuous([TOKEN]), T0);
    see(session, ["ptrace"]);
    const clock = () => T0;
    expect(codeOf(() => acceptDrift(undefined, "c9", [TOKEN], ["ptrace"], clock))).toBe(
      "SC_SESSION_NOT_FOUND",
    );
    expect(codeOf(() => acceptDrift(session, "c1", ["shop_Deployment_db_pg"], ["ptrace"], clock))).toBe(
      "SC_PROFILE_NOT_FOUND",
    );
    expect(codeOf(() => acceptDrift(session, "c1", [TOKEN], ["ptrace", "mount"], clock))).toBe("SC_USAGE");
    expect(web0(session).track.drift.size).toBe(1);
    expect(web0(session).observations.syscalls.has("ptrace")).toBe(false);

    const unfrozen = sessionWith(["read"]);
    expect(codeOf(() => acceptDrift(unfrozen, "c1", [TOKEN], ["read"], clock))).toBe("SC_USAGE");
    session.finalised = { status: "complete", missingNodes: [], at: T0, workloads: [] };
    expect(codeOf(() => acceptDrift(session, "c1", [TOKEN], ["ptrace"], clock))).toBe("SC_USAGE");
  });
});
