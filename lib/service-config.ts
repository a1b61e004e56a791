/**
 * How both services (agent and aggregator) read their configuration: an optional YAML/JSON file
 * (`-c/--config` or SECCOMPOSE_CONFIG_FILE), then environment variables, then flags, each
 * overriding the one before. Every option is one row of a table (`Setting`): where it lives in
 * the file, its flag, its environment variables, its default and its help, so the command line,
 * the help text and the option tables in docs/agent.md and docs/aggregator.md (generated from the
 * same rows, `npm run gen:config-docs`) cannot disagree.
 */
import { Command, CommanderError, Option } from "commander";
import { SeccomposeError } from "./errors.ts";
import { listItems } from "./list-items.ts";
import { readYamlMapping } from "./structured-file.ts";

/**
 * How an option's text becomes a value: as is, a comma-separated (or repeated) list, an integer,
 * or a list of one item per flag given (`repeated`, for values that may hold commas).
 */
export type SettingKind = "string" | "list" | "integer" | "repeated";

/** One option: where it lives in the config file, and how the command line and environment give it. */
export interface Setting {
  readonly path: readonly string[];
  readonly flag: string;
  /** Environment variables, most specific first; empty: flag and file only. */
  readonly env: readonly string[];
  readonly kind: SettingKind;
  readonly help: string;
  /** The default as a reader should see it, when there is one. */
  readonly default?: string;
  /** Turns the text into the value at `path`, for a setting with a syntax of its own. */
  readonly parse?: (text: string, source: string) => unknown;
}

export interface SettingOptions {
  /** Environment variables instead of SECCOMPOSE_<FLAG> (`[]`: none). */
  env?: readonly string[];
  default?: string;
  parse?: (text: string, source: string) => unknown;
}

/** A setting at `path` (dotted), given as `--<flag>` or SECCOMPOSE_<FLAG> unless `options.env` says otherwise. */
export function setting(
  path: string,
  flag: string,
  kind: SettingKind,
  help: string,
  options: SettingOptions = {},
): Setting {
  return {
    path: path.split("."),
    flag,
    env: options.env ?? [`SECCOMPOSE_${flag.toUpperCase().replaceAll("-", "_")}`],
    kind,
    help,
    ...(options.default !== undefined ? { default: options.default } : {}),
    ...(options.parse !== undefined ? { parse: options.parse } : {}),
  };
}

/** A service's command line: its name, what it does, and its settings. */
export interface ServiceSpec {
  readonly name: string;
  readonly description: string;
  readonly settings: readonly Setting[];
}

export const CONFIG_FILE_ENV = "SECCOMPOSE_CONFIG_FILE";

function optionHelp(s: Setting): string {
  const env = s.env.length > 0 ? `env ${s.env.join(" or ")}` : "no environment variable";
  const repeat =
    s.kind === "list" ? "; repeatable or comma-separated" : s.kind === "repeated" ? "; repeatable" : "";
  const dflt = s.default !== undefined ? `; default ${s.default}` : "";
  return `${s.help} (${env}${repeat}${dflt})`;
}

/** The service's commander command: `-c/--config` and one option per setting; parse errors throw. */
export function serviceCommand(spec: ServiceSpec): Command {
  const command = new Command(spec.name)
    .description(spec.description)
    .option("-c, --config <file>", `YAML or JSON config file (env ${CONFIG_FILE_ENV})`)
    .helpOption("-h, --help", "print this help")
    .exitOverride()
    .configureOutput({ writeOut: () => {}, writeErr: () => {} });
  for (const s of spec.settings) {
    const option = new Option(`--${s.flag} <value>`, optionHelp(s));
    if (s.kind === "list" || s.kind === "repeated")
      option.argParser((value: string, previous: string[] = []) => [...previous, value]);
    command.addOption(option);
  }
  return command;
}

/** The text `--help` prints. */
export function serviceHelp(spec: ServiceSpec): string {
  return serviceCommand(spec).helpInformation();
}

function parseValue(raw: string, s: Setting, source: string): unknown {
  const kind = s.kind;
  if (s.parse !== undefined) return s.parse(raw, source);
  if (kind === "string") return raw;
  if (kind === "list" || kind === "repeated") return listItems(raw);
  if (!/^-?\d+$/.test(raw.trim())) {
    throw new SeccomposeError("SC_CONFIG_INVALID", `${source} must be an integer, got "${raw}"`);
  }
  return Number(raw.trim());
}

function setPath(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (next === null || typeof next !== "object" || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1]!] = value;
}

/** What the layers gave, before the service validates it and fills its defaults. */
export interface LayeredConfig {
  /** The file's mapping with the environment's and the flags' values written over it. */
  config: Record<string, unknown>;
  /** The config file, when one was given. */
  file: string | undefined;
  /** Which layers gave something, for error messages: e.g. `agent.yaml + environment + flags`. */
  where: string;
  /** Per setting (dotted path) the environment or a flag gave: that variable's name or `--flag`. */
  origins: ReadonlyMap<string, string>;
}

/**
 * Reads the layers: file, then environment, then flags. "help" when --help was asked for;
 * SC_USAGE for a command line the parser refuses, SC_CONFIG_INVALID for a value of the wrong kind.
 */
export async function readLayeredConfig(
  spec: ServiceSpec,
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
): Promise<LayeredConfig | "help"> {
  const command = serviceCommand(spec);
  try {
    command.parse([...argv], { from: "user" });
  } catch (err) {
    if (err instanceof CommanderError && err.code === "commander.helpDisplayed") return "help";
    const message =
      err instanceof CommanderError
        ? err.message.replace(/^error: /, "").replace(/\s*\n\s*/g, " ")
        : String(err);
    throw new SeccomposeError("SC_USAGE", `${message} (${spec.name} --help lists the options)`, {
      cause: err,
    });
  }
  const flags = command.opts<Record<string, string | string[] | undefined>>();
  const file = (flags.config as string | undefined) ?? (env[CONFIG_FILE_ENV] || undefined);
  const config = file !== undefined ? await readYamlMapping(file, "config file") : {};
  const sources = file !== undefined ? [file] : [];
  const origins = new Map<string, string>();
  for (const s of spec.settings) {
    // A variable set to nothing (or blanks) is as good as unset: manifests often leave one empty.
    const name = s.env.find((e) => (env[e] ?? "").trim() !== "");
    if (name === undefined) continue;
    setPath(config, s.path, parseValue(env[name]!, s, `environment variable ${name}`));
    origins.set(s.path.join("."), name);
    if (!sources.includes("environment")) sources.push("environment");
  }
  for (const s of spec.settings) {
    const given = flags[command.options.find((o) => o.long === `--${s.flag}`)!.attributeName()];
    if (given === undefined) continue;
    const value =
      s.kind === "repeated"
        ? given
        : parseValue(Array.isArray(given) ? given.join(",") : given, s, `flag --${s.flag}`);
    setPath(config, s.path, value);
    origins.set(s.path.join("."), `--${s.flag}`);
    if (!sources.includes("flags")) sources.push("flags");
  }
  return { config, file, where: sources.length > 0 ? sources.join(" + ") : "defaults", origins };
}

export interface SchemaNode {
  type?: string | readonly string[];
  $ref?: string;
  description?: string;
  properties?: Record<string, SchemaNode>;
  $defs?: Record<string, SchemaNode>;
}

function cell(text: string): string {
  return text.replaceAll("|", "\\|").replaceAll("\n", " ");
}

/**
 * The Markdown table of every option: each leaf of the config schema (what a file may hold), with
 * its flag, environment variables and default where the settings give them, and the setting's help
 * (or the schema's description for a file-only option). `schemas` holds the schema files a `$ref`
 * may name, by file name; `root` is the service's.
 */
export function optionTable(
  spec: ServiceSpec,
  schemas: Readonly<Record<string, SchemaNode>>,
  root: string,
): string {
  // A schema node with the file it lives in, $refs followed: a "#..." $ref is local to its file.
  type Located = { node: SchemaNode; file: string };
  const deref = ({ node, file }: Located): Located => {
    if (node.$ref === undefined) return { node, file };
    const [name, pointer = ""] = node.$ref.split("#");
    const targetFile = name || file;
    let target: SchemaNode | undefined = schemas[targetFile];
    for (const part of pointer.split("/").filter(Boolean)) {
      target = (target as Record<string, SchemaNode> | undefined)?.[part];
    }
    if (target === undefined) throw new Error(`${file}: cannot resolve ${node.$ref}`);
    return deref({ node: target, file: targetFile });
  };
  const child = (parent: Located, key: string): Located | undefined => {
    const node = parent.node.properties?.[key];
    return node === undefined ? undefined : deref({ node, file: parent.file });
  };
  const top = deref({ node: schemas[root]!, file: root });
  const unknown = spec.settings.filter(
    (s) => s.path.reduce<Located | undefined>((at, key) => at && child(at, key), top) === undefined,
  );
  if (unknown.length > 0) {
    throw new Error(
      `${root}: settings outside the schema: ${unknown.map((s) => s.path.join(".")).join(", ")}`,
    );
  }
  const byPath = new Map(spec.settings.map((s) => [s.path.join("."), s]));
  const leaves = (at: Located, prefix: readonly string[]): Array<{ key: string; node: SchemaNode }> =>
    Object.keys(at.node.properties ?? {}).flatMap((name) => {
      const found = child(at, name)!;
      const path = [...prefix, name];
      const key = path.join(".");
      return found.node.properties !== undefined && !byPath.has(key)
        ? leaves(found, path)
        : [{ key, node: found.node }];
    });
  const rows = [
    "| config file | flag | environment | default | meaning |",
    "| --- | --- | --- | --- | --- |",
  ];
  for (const { key, node } of leaves(top, [])) {
    const s = byPath.get(key);
    const description = s?.help ?? node.description ?? "";
    const env = s?.env.map((e) => `\`${e}\``).join(", ") ?? "";
    rows.push(
      `| \`${key}\` | ${s ? `\`--${s.flag}\`` : ""} | ${env} | ${cell(s?.default ?? "")} | ${cell(description)} |`,
    );
  }
  return rows.join("\n");
}
