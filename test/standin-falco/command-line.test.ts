import { describe, expect, it } from "vitest";
import { parseCommandLine } from "./command-line.ts";
import { ConfigError } from "./config.ts";

describe("the stand-in's command line", () => {
  it("reads Falco's options the agent passes", () => {
    expect(parseCommandLine(["-c", "/etc/falco.yaml", "-o", "a=1", "-o", "b=2", "-U", "--dry-run"])).toEqual({
      configPath: "/etc/falco.yaml",
      version: false,
      list: false,
      dryRun: true,
      unbuffered: true,
      overrides: ["a=1", "b=2"],
    });
    expect(parseCommandLine(["--list=syscall"]).list).toBe(true);
    expect(parseCommandLine(["--version"]).version).toBe(true);
  });

  it("refuses an option Falco would not know, as a configuration error", () => {
    expect(() => parseCommandLine(["--bogus"])).toThrow(ConfigError);
    expect(() => parseCommandLine(["--bogus"])).toThrow("Unrecognized option '--bogus'");
  });
});
