import { Command } from "commander";
import { describe, expect, it } from "vitest";
import { COMMANDS, createProgram, requestedCommand } from "./program.ts";

describe("the lazily loaded command table", () => {
  it.each(COMMANDS.map((e) => [e.names.join(", "), e] as const))(
    "names and summarises %s as its module does",
    async (_, entry) => {
      const probe = new Command().enablePositionalOptions();
      (await entry.load())(probe, () => {});
      expect(probe.commands.map((c) => c.name())).toEqual(entry.names);
      expect(probe.commands.map((c) => c.summary())).toEqual(entry.summaries);
    },
  );

  it("finds the requested command past top-level options and after help", () => {
    expect(requestedCommand(["node", "seccompose", "record", "--output-file", "x", "--", "ls"])).toBe(
      "record",
    );
    expect(requestedCommand(["node", "seccompose", "--help"])).toBeUndefined();
    expect(requestedCommand(["node", "seccompose", "help", "stop"])).toBe("stop");
  });

  it("registers the requested command for real and the others by name only", async () => {
    const program = await createProgram(() => {}, ["node", "seccompose", "record", "--", "true"]);
    const record = program.commands.find((c) => c.name() === "record")!;
    expect(record.options.map((o) => o.long)).toContain("--observations");
    const status = program.commands.find((c) => c.name() === "status")!;
    expect(status.options).toEqual([]);
    expect(status.summary()).toBe(COMMANDS.find((e) => e.names.includes("status"))!.summaries[0]);
  });
});
