import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import {
  detectFieldSupport,
  renderFalcoFiles,
  type FalcoConfigOptions,
  type FieldSupport,
} from "../../services/agent/falco/config-writer.ts";
import { compileCondition, type ConditionScope } from "./condition.ts";

const STANDIN = fileURLToPath(new URL("./standin-falco.ts", import.meta.url));
const dirs: string[] = [];

afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** Writes the agent's files for one session into a fresh directory; returns falco.yaml's path. */
function writeAgentFiles(fieldSupport: FieldSupport, options: Partial<FalcoConfigOptions> = {}): string {
  const configDir = mkdtempSync(join(tmpdir(), "standin-falco-"));
  dirs.push(configDir);
  const session = {
    schemaVersion: 1 as const,
    id: "s1",
    mode: "oneshot" as const,
    state: "running" as const,
    createdAt: "2026-11-27T16:00:00Z",
    targets: { namespaces: ["payments"] },
    profile: {},
  };
  const files = renderFalcoFiles([session], {
    configDir,
    alertFormat: "json",
    fieldSupport,
    narrowToNamespaces: true,
    ...options,
  });
  writeFileSync(files.configPath, files.config);
  writeFileSync(files.rulesPath, files.rules);
  return files.configPath;
}

function standin(...args: string[]) {
  return spawnSync(process.execPath, [STANDIN, ...args], { encoding: "utf8", timeout: 20_000 });
}

describe("the stand-in Falco", () => {
  it("loads the agent's rule without container fields when the container plugin is not loaded", () => {
    const configPath = writeAgentFiles({ container: false, k8s: false });
    const run = standin("-c", configPath, "--dry-run");
    expect(run.stderr).toBe("");
    expect(run.status).toBe(0);
  });

  it("refuses, as Falco does, a rule naming container fields when the container plugin is not loaded", () => {
    const configPath = writeAgentFiles({ container: true, k8s: true });
    const run = standin("-c", configPath, "--dry-run");
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/LOAD_ERR_COMPILE_CONDITION.*nonexistent field k8s\.ns\.name/);
  });

  it("loads the rule with container fields once the container plugin is loaded", () => {
    const configPath = writeAgentFiles(
      { container: true, k8s: true },
      { plugins: [{ name: "container", libraryPath: "libcontainer.so" }] },
    );
    expect(standin("-c", configPath, "--dry-run").status).toBe(0);
  });

  it("lists the container plugin's fields only when the config loads the plugin", () => {
    const without = standin("-c", writeAgentFiles({ container: false, k8s: false }), "--list=syscall");
    expect(without.status).toBe(0);
    expect(detectFieldSupport(without.stdout)).toEqual({ container: false, k8s: false });
    const withPlugin = standin(
      "-c",
      writeAgentFiles(
        { container: false, k8s: false },
        { plugins: [{ name: "container", libraryPath: "libcontainer.so" }] },
      ),
      "--list=syscall",
    );
    expect(detectFieldSupport(withPlugin.stdout)).toEqual({ container: true, k8s: true });
  });

  it("prints Falco's version block", () => {
    const run = standin("--version");
    expect(run.stdout.split("\n")[0]).toBe("Falco version: 0.44.1");
  });
});

describe("the stand-in's condition subset", () => {
  const scope: ConditionScope = {
    macros: new Map([["in_pod", 'thread.cgroup.cpu contains "kubepods"']]),
    lists: new Map([["noisy", ["switch", "page_fault"]]]),
    fieldExists: (field) => !field.startsWith("container."),
  };
  const event = (fields: Record<string, string | null>) => (field: string) => fields[field] ?? null;

  it("evaluates and, or, not, macros, lists and string operators like Falco", () => {
    const condition = compileCondition(
      'in_pod and not evt.type in (noisy) and (not k8s.ns.name exists or k8s.ns.name in (a, "b"))',
      scope,
    );
    const inPod = "/kubepods/burstable/pod1/c1";
    expect(condition(event({ "thread.cgroup.cpu": inPod, "evt.type": "openat" }))).toBe(true);
    expect(condition(event({ "thread.cgroup.cpu": inPod, "evt.type": "switch" }))).toBe(false);
    expect(condition(event({ "thread.cgroup.cpu": "/system.slice", "evt.type": "openat" }))).toBe(false);
    expect(condition(event({ "thread.cgroup.cpu": inPod, "evt.type": "openat", "k8s.ns.name": "b" }))).toBe(
      true,
    );
    expect(condition(event({ "thread.cgroup.cpu": inPod, "evt.type": "openat", "k8s.ns.name": "c" }))).toBe(
      false,
    );
  });

  it("fails every comparison on a missing value, as Falco does", () => {
    expect(compileCondition("evt.rawres != 0", scope)(event({}))).toBe(false);
    expect(compileCondition('proc.name startswith "x"', scope)(event({}))).toBe(false);
  });

  it("rejects unknown fields and operators it cannot honour", () => {
    expect(() => compileCondition("container.id != host", scope)).toThrow(/nonexistent field container\.id/);
    expect(() => compileCondition("evt.rawres > 0", scope)).toThrow(/not supported/);
    expect(() => compileCondition("unknown_macro", scope)).toThrow(/undefined macro/);
  });
});
