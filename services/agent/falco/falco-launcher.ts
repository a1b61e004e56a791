/**
 * Starts Falco with the agent's command line, `<binary> [extraArgs] -c <config>`: the supervised
 * Falco that captures, and one-shot runs that tell what the installed Falco is (its version and,
 * with plugins, whether it has container and k8s fields; a failure only loses that knowledge).
 * The extra arguments come first so that `binary` can be an interpreter: tests run the stand-in
 * Falco as `process.execPath` with `extraArgs: [".../standin-falco.ts"]`.
 */
import type { ChildProcess, SpawnOptions } from "node:child_process";
import type { Logger } from "pino";
import { detectFieldSupport, type FieldSupport } from "./config-writer.ts";
import { runFalcoCommand } from "./falco-command.ts";
import { parseFalcoVersion } from "./falco-log.ts";

export type SpawnFunction = (command: string, args: readonly string[], options: SpawnOptions) => ChildProcess;

const DEFAULT_PROBE_TIMEOUT_MS = 15_000;

export interface FalcoLauncherOptions {
  binary: string;
  extraArgs?: readonly string[];
  /** Falco's environment; the agent's own by default. */
  env?: NodeJS.ProcessEnv;
  spawn: SpawnFunction;
  /** Limit for `--version` and `--list`. */
  probeTimeoutMs?: number;
  logger: Pick<Logger, "info" | "warn" | "error">;
}

export class FalcoLauncher {
  readonly #o: FalcoLauncherOptions;

  constructor(options: FalcoLauncherOptions) {
    this.#o = options;
  }

  /**
   * Spawns a Falco on `configPath`. Null when the binary cannot be started at all (missing or not
   * executable, which no retry fixes): `onCannotStart` gets the reason once the error comes.
   */
  start(
    configPath: string,
    onCannotStart: (reason: string) => void,
  ): { child: ChildProcess; pid: number } | null {
    const { binary, logger } = this.#o;
    const argv = [...(this.#o.extraArgs ?? []), "-c", configPath];
    const child = this.#o.spawn(binary, argv, {
      stdio: ["ignore", "pipe", "pipe"],
      env: this.#o.env ?? process.env,
    });
    if (child.pid === undefined) {
      child.once("error", (err) => {
        logger.error({ binary, err }, "cannot start Falco");
        onCannotStart(`cannot start ${binary}: ${err.message}`);
      });
      return null;
    }
    logger.info({ pid: child.pid, argv: [binary, ...argv] }, "Falco started");
    return { child, pid: child.pid };
  }

  /** Falco's version, from `--version`; undefined when it cannot be told. */
  async version(configPath: string): Promise<string | undefined> {
    try {
      const version = parseFalcoVersion(await this.#run(configPath, ["--version"]));
      if (version === undefined) this.#o.logger.warn("Falco --version printed no version");
      return version;
    } catch (err) {
      this.#o.logger.warn({ err }, "cannot determine the Falco version");
      return undefined;
    }
  }

  /** Whether Falco (with its plugins) has container and k8s fields; undefined when they cannot be listed. */
  async fieldSupport(configPath: string): Promise<FieldSupport | undefined> {
    try {
      const fieldSupport = detectFieldSupport(await this.#run(configPath, ["--list=syscall"]));
      this.#o.logger.info({ fieldSupport }, "Falco metadata fields");
      return fieldSupport;
    } catch (err) {
      this.#o.logger.warn({ err }, "cannot list Falco's fields; rules will not use container or k8s fields");
      return undefined;
    }
  }

  /** Runs `binary [extraArgs] -c <config> <args>` to completion and returns its stdout. */
  #run(configPath: string, args: readonly string[]): Promise<string> {
    return runFalcoCommand(
      {
        spawn: this.#o.spawn,
        binary: this.#o.binary,
        argv: [...(this.#o.extraArgs ?? []), "-c", configPath, ...args],
        env: this.#o.env ?? process.env,
        timeoutMs: this.#o.probeTimeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS,
      },
      args.join(" "),
    );
  }
}
