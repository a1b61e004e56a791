/**
 * docs/cli.md and the CLI's own help describe the same commands and options: every command has a
 * section, every option of a command is documented in its section (or, for the options every
 * cluster command shares, in "Reaching the cluster and the broker"), and every option a section
 * names exists on that command.
 */
import { readFile } from "node:fs/promises";
import type { Command } from "commander";
import { describe, expect, it } from "vitest";
import { createProgram } from "../../cli/program.ts";

const doc = await readFile(new URL("../../docs/cli.md", import.meta.url), "utf8");
const program = await createProgram(() => {}, "all");

/** The text under each `### \`seccompose NAME ...\`` heading, by NAME. */
const sections = new Map<string, string>();
for (const part of doc.split(/^### /m).slice(1)) {
  const name = /^`seccompose ([a-z-]+)/.exec(part)?.[1];
  if (name) sections.set(name, part.split(/^## /m)[0]!);
}
const shared = /^## Reaching the cluster and the broker\n([\s\S]*?)^## /m.exec(doc)?.[1] ?? "";

/**
 * Every long option of a command and of its subcommands; `hidden` ones (not in the help, such as
 * the `-o` that `record` refuses with a hint) only when asked for.
 */
function longOptions(cmd: Command, hidden = false): Set<string> {
  const flags = new Set(cmd.options.flatMap((o) => (o.long && (hidden || !o.hidden) ? [o.long] : [])));
  for (const sub of cmd.commands) for (const f of longOptions(sub, hidden)) flags.add(f);
  flags.delete("--help");
  return flags;
}

/** Options a text names in code: a code span starting `--flag` or `-f, --flag`, as the tables write them. */
const documented = (text: string) =>
  new Set([...text.matchAll(/`(?:-[a-zA-Z], )?(--[a-z][a-z-]*)/g)].map((m) => m[1]!));

/** Local commands share no options with the cluster commands. */
const LOCAL = new Set(["record", "merge", "run", "config"]);

describe("docs/cli.md against the CLI's help", () => {
  const commands = program.commands.filter((c) => c.name() !== "help");

  it("has a section for every command, and a command for every section", () => {
    expect([...sections.keys()].sort()).toEqual(commands.map((c) => c.name()).sort());
  });

  it.each(commands.map((c) => [c.name(), c] as const))("documents every option of %s", (name, cmd) => {
    const inSection = documented(sections.get(name) ?? "");
    const inShared = LOCAL.has(name) ? new Set<string>() : documented(shared);
    const missing = [...longOptions(cmd)].filter((f) => !inSection.has(f) && !inShared.has(f));
    expect(missing, `options of ${name} missing from docs/cli.md`).toEqual([]);
  });

  it.each(commands.map((c) => [c.name(), c] as const))("names only real options of %s", (name, cmd) => {
    const real = longOptions(cmd, true);
    const unknown = [...documented(sections.get(name) ?? "")].filter((f) => !real.has(f));
    expect(unknown, `docs/cli.md names options ${name} does not have`).toEqual([]);
  });

  it("documents every option the cluster commands share, and each exists", () => {
    const clusterFlags = longOptions(commands.find((c) => c.name() === "status")!);
    for (const f of documented(shared)) {
      if (f === "--install-namespace" || f === "--expect-agents") continue; // named there as start's
      expect(clusterFlags, `${f} in "Reaching the cluster"`).toContain(f);
    }
  });

  it("lists every subcommand of profile and config", () => {
    for (const parent of ["profile", "config"]) {
      for (const sub of commands.find((c) => c.name() === parent)!.commands) {
        expect(sections.get(parent), `${parent} ${sub.name()}`).toContain(`\`${parent} ${sub.name()}`);
      }
    }
  });
});
