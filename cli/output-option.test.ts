import { Command } from "commander";
import { describe, expect, it } from "vitest";
import { outputOption, parseOutputFormat, refusedOutputOption } from "./output-option.ts";

const file = { flag: "--output-file", what: "the profile" } as const;

describe("parseOutputFormat", () => {
  it("accepts the command's formats only", () => {
    expect(parseOutputFormat("json", ["text", "json"])).toBe("json");
    expect(parseOutputFormat("yaml", ["text", "json", "yaml"])).toBe("yaml");
    expect(() => parseOutputFormat("yaml", ["text", "json"])).toThrow(
      '-o/--output must be text or json, not "yaml"',
    );
  });

  it("names the option that writes a path, on a command that writes files", () => {
    for (const path of ["ls.json", "out/", "./x", "/tmp/p"]) {
      expect(() => parseOutputFormat(path, ["text", "json"], file)).toThrow(
        `-o selects the output format (text|json); write the profile with --output-file ${path}`,
      );
    }
    // A word that is no path is a mistyped format, even there.
    expect(() => parseOutputFormat("xml", ["text", "json"], file)).toThrow("must be text or json");
    expect(() => parseOutputFormat("ls.json", ["text", "json"])).toThrow("must be text or json");
  });
});

describe("the options", () => {
  const parse = (cmd: Command, args: string[]) => cmd.exitOverride().parse(args, { from: "user" }).opts();

  it("-o and --output are one option", () => {
    const cmd = () => new Command("c").addOption(outputOption(["text", "json"]));
    expect(parse(cmd(), ["-o", "json"])).toEqual({ output: "json" });
    expect(parse(cmd(), ["--output", "text"])).toEqual({ output: "text" });
    expect(parse(cmd(), [])).toEqual({});
  });

  it("a command without -o refuses it, with SC_USAGE, hidden from its help", () => {
    const cmd = new Command("record").addOption(refusedOutputOption("record prints nothing", file));
    expect(() => parse(cmd, ["-o", "ls.json"])).toThrow(
      expect.objectContaining({
        code: "SC_USAGE",
        message: expect.stringContaining("--output-file ls.json"),
      }),
    );
    expect(cmd.helpInformation()).not.toContain("--output");
  });
});
