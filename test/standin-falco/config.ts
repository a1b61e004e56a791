/**
 * The stand-in Falco's configuration and rules (see standin-falco.ts): falco.yaml with `-o`
 * overrides, the rules files it names, their conditions (condition.ts), priorities and output
 * fields, refused the way Falco refuses them.
 */
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { ConditionError, compileCondition, type Condition } from "./condition.ts";

const ENGINE_KINDS = new Set(["kmod", "modern_ebpf", "replay", "nodriver"]);
/** Field classes Falco has without plugins, and those the container plugin adds. */
const CORE_FIELD_CLASSES = ["evt", "proc", "thread", "fd", "fs", "user", "group", "syscall", "fdlist"];
const CONTAINER_FIELD_CLASSES = ["container", "k8s"];
const PRIORITIES: Record<string, string> = {
  emergency: "Emergency",
  alert: "Alert",
  critical: "Critical",
  error: "Error",
  warning: "Warning",
  notice: "Notice",
  informational: "Informational",
  info: "Informational",
  debug: "Debug",
};
const PRIORITY_ORDER = [
  "emergency",
  "alert",
  "critical",
  "error",
  "warning",
  "notice",
  "informational",
  "debug",
];
export interface StandinRule {
  name: string;
  matches: Condition;
  output: string;
  priority: string;
  tags: string[];
  outputFields: string[];
}

export interface StandinConfig {
  path: string;
  jsonOutput: boolean;
  includeOutput: boolean;
  includeOutputFields: boolean;
  includeTags: boolean;
  includeMessage: boolean;
  isoTime: boolean;
  buffered: boolean;
  stdout: boolean;
  engineKind: string;
  containerPlugin: boolean;
  drops: { threshold: number; actions: string[] };
  rulesFiles: string[];
  rules: StandinRule[];
  /**
   * Syscalls the driver is not asked for: the `!name` entries of `base_syscalls.custom_set`, as
   * written (kernel or Falco event names). Falco's `repair` (adding back what its own state needs)
   * is not modelled: the agent never leaves such a syscall out.
   */
  notAsked: ReadonlySet<string>;
}

export class ConfigError extends Error {}

type Yaml = Record<string, unknown>;

export function loadConfig(path: string, overrides: readonly string[], withRules: boolean): StandinConfig {
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(path, "utf8"));
  } catch (err) {
    throw new ConfigError(`Error reading config file (${path}): ${(err as Error).message}`);
  }
  const config: Yaml = isObject(doc) ? doc : {};
  for (const override of overrides) applyOverride(config, override);

  const loadPlugins = asStringList(config["load_plugins"]);
  const pluginEntries = Array.isArray(config["plugins"]) ? config["plugins"] : [];
  for (const name of loadPlugins) {
    if (!pluginEntries.some((entry) => isObject(entry) && entry["name"] === name)) {
      throw new ConfigError(`Cannot load plugin '${name}': plugin config not found for given name`);
    }
    if (name !== "container")
      throw new ConfigError(`cannot load plugin '${name}': the stand-in has no such plugin`);
  }
  const engine = isObject(config["engine"]) ? config["engine"] : {};
  const engineKind = typeof engine["kind"] === "string" ? engine["kind"] : "kmod";
  if (!ENGINE_KINDS.has(engineKind))
    throw new ConfigError(`engine.kind '${engineKind}' is not a valid kind.`);
  const drops = isObject(config["syscall_event_drops"]) ? config["syscall_event_drops"] : {};
  const base = isObject(config["base_syscalls"]) ? config["base_syscalls"] : {};
  const notAsked = new Set(
    asStringList(base["custom_set"]).flatMap((name) => (name.startsWith("!") ? [name.slice(1)] : [])),
  );

  const partial = {
    path,
    jsonOutput: config["json_output"] === true,
    includeOutput: config["json_include_output_property"] !== false,
    includeOutputFields: config["json_include_output_fields_property"] !== false,
    includeTags: config["json_include_tags_property"] !== false,
    includeMessage: config["json_include_message_property"] === true,
    isoTime: config["time_format_iso_8601"] === true,
    buffered: config["buffered_outputs"] === true,
    stdout: !isObject(config["stdout_output"]) || config["stdout_output"]["enabled"] !== false,
    engineKind,
    containerPlugin: loadPlugins.includes("container"),
    drops: {
      threshold: typeof drops["threshold"] === "number" ? drops["threshold"] : 0.1,
      actions: drops["actions"] === undefined ? ["log", "alert"] : asStringList(drops["actions"]),
    },
    rulesFiles: withRules ? rulesFilesOf(config["rules_files"]) : [],
    notAsked,
  };
  const minPriority = typeof config["priority"] === "string" ? config["priority"].toLowerCase() : "debug";
  const rules = withRules ? loadRules(partial.rulesFiles, partial.containerPlugin, minPriority) : [];
  return { ...partial, rules };
}

function applyOverride(config: Yaml, override: string): void {
  const eq = override.indexOf("=");
  if (eq <= 0) throw new ConfigError(`Invalid -o option '${override}': expected key=value`);
  const keys = override.slice(0, eq).split(".");
  let node = config;
  for (const key of keys.slice(0, -1)) {
    if (!isObject(node[key])) node[key] = {};
    node = node[key] as Yaml;
  }
  node[keys[keys.length - 1]!] = parseYaml(override.slice(eq + 1));
}

function rulesFilesOf(value: unknown): string[] {
  const files: string[] = [];
  for (const entry of asStringList(value)) {
    let isDirectory: boolean;
    try {
      isDirectory = statSync(entry).isDirectory();
    } catch {
      throw new ConfigError(`Could not read rules file ${entry}: no such file or directory`);
    }
    if (!isDirectory) files.push(entry);
    else {
      for (const name of readdirSync(entry).sort()) {
        if (name.endsWith(".yaml") || name.endsWith(".yml")) files.push(join(entry, name));
      }
    }
  }
  return files;
}

interface RulesItem {
  file: string;
  item: Yaml;
}

function readRulesFile(file: string): RulesItem[] {
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(file, "utf8"));
  } catch (err) {
    throw new ConfigError(
      `${file}: Invalid\n1 Errors:\nIn rules content: (${file}:0:0)\n${(err as Error).message}`,
    );
  }
  if (doc === null) return [];
  if (!Array.isArray(doc))
    throw new ConfigError(`${file}: Invalid\nRules content is not yaml array of objects`);
  return doc.filter(isObject).map((item) => ({ file, item }));
}

/** The enabled syscall rules at or above `minPriority`, in file order; lists and macros may be used anywhere. */
function loadRules(files: readonly string[], containerPlugin: boolean, minPriority: string): StandinRule[] {
  const items = files.flatMap(readRulesFile);
  const macros = new Map<string, string>();
  const lists = new Map<string, string[]>();
  for (const { item } of items) {
    if (typeof item["macro"] === "string" && typeof item["condition"] === "string") {
      macros.set(item["macro"], item["condition"]);
    } else if (typeof item["list"] === "string") {
      lists.set(item["list"], asStringList(item["items"]));
    }
  }
  const scope = { macros, lists, fieldExists: (field: string) => fieldExists(field, containerPlugin) };
  const rules: StandinRule[] = [];
  for (const { file, item } of items) {
    if (typeof item["rule"] !== "string") continue;
    const name = item["rule"];
    const condition = item["condition"];
    const output = item["output"];
    if (typeof condition !== "string" || typeof output !== "string") {
      throw ruleError(
        file,
        name,
        "LOAD_ERR_YAML_VALIDATE",
        "Item has no mapping for key 'condition' or 'output'",
      );
    }
    let matches: Condition;
    try {
      matches = compileCondition(condition, scope);
    } catch (err) {
      if (!(err instanceof ConditionError)) throw err;
      throw ruleError(file, name, "LOAD_ERR_COMPILE_CONDITION (Error compiling condition)", err.message);
    }
    const outputFields = [...output.matchAll(OUTPUT_TOKEN)].map((match) => match[1]!);
    const unknown = outputFields.find((field) => !fieldExists(field, containerPlugin));
    if (unknown !== undefined) {
      throw ruleError(
        file,
        name,
        "LOAD_ERR_COMPILE_OUTPUT (Error compiling output)",
        `invalid formatting token ${unknown}`,
      );
    }
    const priority = typeof item["priority"] === "string" ? item["priority"].toLowerCase() : "debug";
    if (!(priority in PRIORITIES))
      throw ruleError(file, name, "LOAD_ERR_VALIDATE", `Invalid priority ${priority}`);
    if (item["enabled"] === false) continue;
    if (item["source"] !== undefined && item["source"] !== "syscall") continue;
    if (rank(priority) > rank(minPriority)) continue;
    rules.push({
      name,
      matches,
      output: output.trim(),
      priority: PRIORITIES[priority]!,
      tags: asStringList(item["tags"]),
      outputFields,
    });
  }
  return rules;
}

function rank(priority: string): number {
  const normalised = priority === "info" ? "informational" : priority;
  const index = PRIORITY_ORDER.indexOf(normalised);
  return index < 0 ? PRIORITY_ORDER.length : index;
}

export const OUTPUT_TOKEN = /%([a-zA-Z_][a-zA-Z0-9_]*(?:\.[a-zA-Z0-9_]+)+(?:\[[^\]]*\])?)/g;

function fieldExists(field: string, containerPlugin: boolean): boolean {
  const fieldClass = field.slice(0, field.indexOf("."));
  return (
    CORE_FIELD_CLASSES.includes(fieldClass) ||
    (containerPlugin && CONTAINER_FIELD_CLASSES.includes(fieldClass))
  );
}

function ruleError(file: string, rule: string, code: string, message: string): ConfigError {
  return new ConfigError(
    `${file}: Invalid\n1 Errors:\nIn rules content: (${file}:0:0)\n    rule '${rule}': (${file}:1:2)\n------\n${code}: ${message}`,
  );
}

function isObject(value: unknown): value is Yaml {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function asStringList(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === "string") : [];
}
