import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import type { SessionRecord } from "../../../lib/contracts/types.ts";
import { FALCO_FIXTURES_DIR } from "../../../test/helpers/falco-fixtures.ts";
import { COMPACT_FIELDS, compactRuleOutput } from "../intake/compact-alert.ts";
import {
  CGROUP_FIELD,
  NO_METADATA_FIELDS,
  RULE_NAME,
  detectFieldSupport,
  podExclusion,
  renderFalcoFiles,
  type FalcoConfigOptions,
} from "./config-writer.ts";
import { sessionInNamespaces } from "../../../test/helpers/session-record.ts";

const FIXTURE_FIELD_LIST = join(FALCO_FIXTURES_DIR, "falco-list-fields-syscall.txt");
const ALL_FIELDS = { container: true, k8s: true };

function render(sessions: SessionRecord[], options: Partial<FalcoConfigOptions> = {}) {
  const files = renderFalcoFiles(sessions, {
    configDir: "/run/seccompose/falco",
    alertFormat: "compact",
    ...options,
  });
  const config = parse(files.config) as Record<string, unknown>;
  const rules = parse(files.rules) as Array<Record<string, unknown>>;
  return { files, config, rules, rule: rules[0]! };
}

describe("renderFalcoFiles", () => {
  it("writes a falco.yaml that loads only our rules file, captures all syscalls and writes alerts to stdout", () => {
    const { files, config } = render([sessionInNamespaces("s1")]);
    expect(files.configPath).toBe("/run/seccompose/falco/falco.yaml");
    expect(files.rulesPath).toBe("/run/seccompose/falco/seccompose_rules.yaml");
    expect(config).toMatchObject({
      rules_files: ["/run/seccompose/falco/seccompose_rules.yaml"],
      watch_config_files: false,
      load_plugins: [],
      engine: { kind: "modern_ebpf", modern_ebpf: { drop_failed_exit: false } },
      base_syscalls: { all: true, custom_set: ["!switch", "!page_fault"] },
      priority: "debug",
      rule_matching: "first",
      json_output: false,
      json_include_output_property: false,
      json_include_tags_property: false,
      json_include_output_fields_property: true,
      append_output: [],
      buffered_outputs: true,
      stdout_output: { enabled: true },
      syslog_output: { enabled: false },
      file_output: { enabled: false },
      http_output: { enabled: false },
      program_output: { enabled: false },
      webserver: { enabled: false },
      syscall_event_drops: { threshold: 0, actions: ["log", "alert"] },
      log_stderr: true,
      log_syslog: false,
    });
    expect((config["outputs_queue"] as { capacity: number }).capacity).toBeGreaterThan(0);
  });

  it("keeps signal deliveries but excludes the scheduler and page-fault tracepoints", () => {
    const { config, rule } = render([sessionInNamespaces("s1")]);
    const customSet = (config["base_syscalls"] as { custom_set: string[] }).custom_set;
    expect(customSet).not.toContain("!signaldeliver");
    expect(rule["condition"]).toContain("not evt.type in (switch, page_fault)");
    expect(rule["condition"]).not.toContain("signaldeliver");
  });

  it("writes one debug-priority catch-all rule on the kubelet cgroup path with the intake's compact output", () => {
    const { rules, rule } = render([sessionInNamespaces("s1")]);
    expect(rules).toHaveLength(1);
    expect(rule).toMatchObject({
      rule: RULE_NAME,
      condition: `${CGROUP_FIELD} contains "kubepods" and not evt.type in (switch, page_fault)`,
      output: compactRuleOutput(),
      priority: "DEBUG",
      source: "syscall",
      warn_evttypes: false,
    });
    expect(COMPACT_FIELDS).toContain(CGROUP_FIELD);
  });

  it("also matches the listed pod threads a Falco may not know, on the thread id alone", () => {
    const { rule } = render([sessionInNamespaces("s1")], { unknownPodThreads: [4711, 42, 0, -1, 1.5] });
    expect(rule["condition"]).toBe(
      `(${CGROUP_FIELD} contains "kubepods" or (not ${CGROUP_FIELD} exists and thread.tid in (4711, 42))) and not evt.type in (switch, page_fault)`,
    );
  });

  it("matches cgroupfs, systemd and nested kubelet cgroup paths with its cgroup test", () => {
    const needle = /contains "([^"]+)"/.exec(
      render([sessionInNamespaces("s1")]).rule["condition"] as string,
    )![1]!;
    for (const path of [
      "/kubepods/burstable/pod5d0c8a3e-1f2b-4a6c-9d7e-0b1a2c3d4e5f/4f1e2d3c4b5a",
      "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod5d0c8a3e_1f2b.slice/cri-containerd-4f1e.scope",
      "/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-pod5d0c8a3e_1f2b.slice/crio-4f1e.scope",
      "/docker/0123abcd/kubepods/pod5d0c8a3e-1f2b-4a6c-9d7e-0b1a2c3d4e5f/4f1e2d3c4b5a",
    ]) {
      expect(path.includes(needle)).toBe(true);
    }
    expect("/system.slice/containerd.service".includes(needle)).toBe(false);
  });

  it("switches Falco to JSON alerts with output fields only when asked for the json format", () => {
    const { config, rule } = render([sessionInNamespaces("s1")], { alertFormat: "json" });
    expect(config["json_output"]).toBe(true);
    const output = rule["output"] as string;
    for (const field of COMPACT_FIELDS.filter((field) => field !== "evt.rawtime")) {
      expect(output).toContain(`${field}=%${field}`);
    }
  });

  it("names no container or k8s field when Falco lacks them, so the rule loads without the container plugin", () => {
    for (const alertFormat of ["json", "compact"] as const) {
      const { files } = render([sessionInNamespaces("s1", ["payments"])], {
        alertFormat,
        fieldSupport: NO_METADATA_FIELDS,
        narrowToNamespaces: true,
      });
      expect(files.rules).not.toMatch(/container\.|k8s\./);
    }
  });

  it("adds container and k8s fields to JSON alerts when Falco has them", () => {
    const { rule } = render([sessionInNamespaces("s1")], { alertFormat: "json", fieldSupport: ALL_FIELDS });
    for (const field of ["container.id", "k8s.ns.name", "k8s.pod.name", "k8s.pod.uid"]) {
      expect(rule["output"]).toContain(`${field}=%${field}`);
    }
    // The compact layout is fixed; attribution comes from the cgroup path.
    expect(render([sessionInNamespaces("s1")], { fieldSupport: ALL_FIELDS }).rule["output"]).toBe(
      compactRuleOutput(),
    );
  });

  it("narrows the rule to the sessions' namespaces only when asked, when k8s fields exist and every session names namespaces", () => {
    const narrowed = render(
      [sessionInNamespaces("s1", ["web", "payments"]), sessionInNamespaces("s2", ["payments"])],
      {
        fieldSupport: ALL_FIELDS,
        narrowToNamespaces: true,
      },
    );
    expect(narrowed.rule["condition"]).toContain(
      "(not k8s.ns.name exists or k8s.ns.name in (payments, web))",
    );
    const notAsked = render([sessionInNamespaces("s1", ["web"])], { fieldSupport: ALL_FIELDS });
    expect(notAsked.rule["condition"]).not.toContain("k8s.ns.name");
    const unconfined = render([sessionInNamespaces("s1", ["web"]), sessionInNamespaces("s2")], {
      fieldSupport: ALL_FIELDS,
      narrowToNamespaces: true,
    });
    expect(unconfined.rule["condition"]).not.toContain("k8s.ns.name");
    const oddName = render([sessionInNamespaces("s1", ["web) or (evt.type"])], {
      fieldSupport: ALL_FIELDS,
      narrowToNamespaces: true,
    });
    expect(oddName.rule["condition"]).not.toContain("k8s.ns.name");
  });

  it("loads the given plugins and serves the webserver on loopback only when a port is given", () => {
    const { config } = render([sessionInNamespaces("s1")], {
      plugins: [{ name: "container", libraryPath: "libcontainer.so", initConfig: { label_max_len: 100 } }],
      webserverPort: 8765,
    });
    expect(config["load_plugins"]).toEqual(["container"]);
    expect(config["plugins"]).toEqual([
      { name: "container", library_path: "libcontainer.so", init_config: { label_max_len: 100 } },
    ]);
    expect(config["webserver"]).toMatchObject({
      enabled: true,
      listen_address: "127.0.0.1",
      listen_port: 8765,
    });
  });

  it("splits the syscalls between a hot Falco and one whose driver never delivers them", () => {
    const hotNames = ["write", "read", "pread"];
    const probePrefix = "/run/seccompose/falco/probe-n-";
    const hot = render([sessionInNamespaces("s1")], {
      partition: { role: "hot", syscalls: hotNames },
      probePrefix,
    });
    const rest = render([sessionInNamespaces("s1")], {
      partition: { role: "rest", syscalls: hotNames },
      probePrefix,
    });
    const base = `${CGROUP_FIELD} contains "kubepods" and not evt.type in (switch, page_fault)`;
    // rules[0] is the probe rule, rules[1] the capture rule.
    expect(hot.rules[1]!["condition"]).toBe(`${base} and evt.type in (pread, read, write)`);
    // Negated in the rule, a syscall without an event of its own would take all such ones out.
    expect(rest.rules[1]!["condition"]).toBe(base);
    // `all` keeps the I/O syscalls Falco ignores by default; the hot driver set is its own and the probe's.
    expect(hot.config["base_syscalls"]).toEqual({
      all: true,
      custom_set: ["openat", "pread", "read", "write"],
      repair: true,
    });
    expect(rest.config["base_syscalls"]).toEqual({
      all: true,
      custom_set: ["!switch", "!page_fault", "!pread", "!read", "!write"],
      repair: true,
    });
  });

  it("leaves a lowered hot syscall out of the hot driver set but keeps the rule, which never goes empty", () => {
    const partition = { role: "hot" as const, syscalls: ["read", "write"] };
    const { config, rules } = render([sessionInNamespaces("s1")], {
      partition,
      probePrefix: "/p/probe-",
      excludeSyscalls: ["read", "write", "getpid"],
    });
    expect(config["base_syscalls"]).toEqual({
      all: true,
      custom_set: ["openat", "!getpid", "!read", "!write"],
      repair: true,
    });
    expect(rules[1]!["condition"]).toContain("and evt.type in (read, write)");
    expect(() =>
      render([sessionInNamespaces("s1")], { partition: { role: "hot", syscalls: ["Bad Name"] } }),
    ).toThrow(/a hot-syscall split needs at least one syscall/);
  });

  it("renders the same text for the same input and does not depend on session order", () => {
    const options = { fieldSupport: ALL_FIELDS, narrowToNamespaces: true };
    const a = render([sessionInNamespaces("s1", ["b"]), sessionInNamespaces("s2", ["a"])], options).files;
    const b = render([sessionInNamespaces("s2", ["a"]), sessionInNamespaces("s1", ["b"])], options).files;
    expect(b).toEqual(a);
    expect(render([sessionInNamespaces("s1")]).files).toEqual(render([sessionInNamespaces("s3")]).files);
  });
});

describe("detectFieldSupport", () => {
  it("finds no container or k8s fields in the field list of a Falco without the container plugin", () => {
    const list = readFileSync(FIXTURE_FIELD_LIST, "utf8");
    expect(list).toContain("thread.cgroups");
    expect(detectFieldSupport(list)).toEqual({ container: false, k8s: false });
  });

  it("finds container and k8s fields listed by the container plugin", () => {
    const list = [
      readFileSync(FIXTURE_FIELD_LIST, "utf8"),
      "-------------------------------",
      "Field Class:                  container (plugin: container)",
      "Event Sources:                syscall ",
      "",
      "container.id                  The truncated container ID (first 12 characters), e.g. 3ad7b26ded6d is ",
      "                              extracted from the Linux cgroups by Falco within the kernel.",
      "container.name                The container name.",
      "k8s.pod.name                  The Kubernetes pod name.",
      "k8s.ns.name                   The Kubernetes namespace name.",
      "k8s.pod.uid                   The Kubernetes pod UID.",
      "",
    ].join("\n");
    expect(detectFieldSupport(list)).toEqual({ container: true, k8s: true });
  });

  it("reads names-only listings and ignores field names that appear only in descriptions", () => {
    expect(detectFieldSupport("evt.type\ncontainer.id\nproc.name\n")).toEqual({
      container: true,
      k8s: false,
    });
    const described = "proc.name                     see also container.id and k8s.ns.name\n";
    expect(detectFieldSupport(described)).toEqual({ container: false, k8s: false });
  });
});

describe("podExclusion", () => {
  it("leaves out the named pods' cgroups in both kubelet cgroup drivers, and ignores what is not a pod UID", () => {
    const uid = "5d0c8a3e-1f2b-4a6c-9d7e-0b1a2c3d4e5f";
    expect(podExclusion([uid, uid, 'x" or evt.type exists'])).toBe(
      ` and not (thread.cgroup.cpu contains "pod${uid}" or thread.cgroup.cpu contains "pod5d0c8a3e_1f2b_4a6c_9d7e_0b1a2c3d4e5f")`,
    );
    expect(podExclusion([])).toBe("");
    const files = renderFalcoFiles([], { configDir: "/x", alertFormat: "compact", excludePodUids: [uid] });
    expect(files.rules).toContain(`not (thread.cgroup.cpu contains "pod${uid}"`);
  });
});
