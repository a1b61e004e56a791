import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import { FalcoLauncher, type FalcoLauncherOptions } from "./falco-launcher.ts";

/** A launcher whose "Falco" is node running `script`, with what it logged. */
function launcher(script: string, options: Partial<FalcoLauncherOptions> = {}) {
  const logs: Array<{ level: string; msg: string; entry: Record<string, unknown> }> = [];
  const log =
    (level: string) =>
    (entry: Record<string, unknown> | string, msg?: string): void => {
      if (typeof entry === "string") logs.push({ level, msg: entry, entry: {} });
      else logs.push({ level, msg: msg ?? "", entry });
    };
  const falco = new FalcoLauncher({
    binary: process.execPath,
    // `--`: what follows is the script's, not node's (`-c` would be node's --check).
    extraArgs: ["-e", script, "--"],
    spawn,
    logger: { info: log("info"), warn: log("warn"), error: log("error") } as FalcoLauncherOptions["logger"],
    ...options,
  });
  return { falco, logs };
}

/** Prints its command line after the script's own arguments, as JSON. */
const ECHO_ARGS = "process.stdout.write(JSON.stringify(process.argv.slice(1)))";

describe("FalcoLauncher", () => {
  it("starts Falco as `binary [extraArgs] -c <config>` in the given environment and logs the command line", async () => {
    const { falco, logs } = launcher(
      "process.stdout.write(JSON.stringify([process.argv.slice(1), process.env.FALCO_HOSTNAME]))",
      { env: { FALCO_HOSTNAME: "node-1" } },
    );
    const started = falco.start("/etc/seccompose/falco.yaml", () => undefined)!;
    expect(started.pid).toBe(started.child.pid);
    let out = "";
    started.child.stdout!.on("data", (chunk: Buffer) => (out += chunk.toString()));
    await new Promise((resolve) => started.child.on("close", resolve));
    expect(JSON.parse(out)).toEqual([["-c", "/etc/seccompose/falco.yaml"], "node-1"]);
    expect(logs).toEqual([
      {
        level: "info",
        msg: "Falco started",
        entry: {
          pid: started.pid,
          argv: [process.execPath, "-e", expect.any(String), "--", "-c", "/etc/seccompose/falco.yaml"],
        },
      },
    ]);
  });

  it("returns null for a binary that cannot be started and tells why once the error comes", async () => {
    const { falco, logs } = launcher("", { binary: "/nonexistent/falco", extraArgs: [] });
    const reason = await new Promise<string>((resolve) =>
      expect(falco.start("/c/falco.yaml", resolve)).toBeNull(),
    );
    expect(reason).toMatch(/^cannot start \/nonexistent\/falco: .*ENOENT/);
    expect(logs.map((entry) => [entry.level, entry.msg])).toEqual([["error", "cannot start Falco"]]);
  });

  it("reads the version, and the field support with the config, from one-shot runs", async () => {
    const { falco } = launcher(
      `const args = process.argv.slice(1);
       if (args.join(" ") === "-c /c/falco.yaml --version") process.stdout.write("Falco version: 0.44.1\\n");
       else if (args.join(" ") === "-c /c/falco.yaml --list=syscall") process.stdout.write("container.id\\nk8s.ns.name\\nk8s.pod.name\\nk8s.pod.uid\\n");
       else process.exit(2);`,
    );
    expect(await falco.version("/c/falco.yaml")).toBe("0.44.1");
    expect(await falco.fieldSupport("/c/falco.yaml")).toEqual({ container: true, k8s: true });
  });

  it("loses only the knowledge when a one-shot run fails or prints no version", async () => {
    const failing = launcher("process.exit(3)");
    expect(await failing.falco.version("/c/falco.yaml")).toBeUndefined();
    expect(await failing.falco.fieldSupport("/c/falco.yaml")).toBeUndefined();
    expect(failing.logs.map((entry) => entry.msg)).toEqual([
      "cannot determine the Falco version",
      "cannot list Falco's fields; rules will not use container or k8s fields",
    ]);
    const silent = launcher(ECHO_ARGS);
    expect(await silent.falco.version("/c/falco.yaml")).toBeUndefined();
    expect(silent.logs.map((entry) => entry.msg)).toEqual(["Falco --version printed no version"]);
  });
});
