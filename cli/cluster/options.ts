/**
 * The options every cluster command shares (where the cluster and the broker are, how to log in,
 * how to print), and their resolution: flag, then environment, then `seccompose config`, then the
 * default.
 */
import type { Command } from "commander";
import type { CliConfig } from "../../lib/contracts/types.ts";
import { readPasswordFile, readUserConfig } from "../config/user-config.ts";
import { outputOption, parseOutputFormat, type Destination } from "../output-option.ts";

export const DEFAULT_INSTALL_NAMESPACE = "seccompose";

export interface ClusterFlags {
  kubeconfig?: string;
  context?: string;
  /** The install namespace (on `start`: --install-namespace, as -n/--namespace selects targets there). */
  namespace?: string;
  installNamespace?: string;
  natsUrl?: string;
  natsUser?: string;
  natsPassword?: string;
  natsPasswordFile?: string;
  natsCreds?: string;
  output?: string;
}

export type OutputFormat = "text" | "json";
const OUTPUT_FORMATS: readonly OutputFormat[] = ["text", "json"];

/** Where seccompose runs and how to reach it, after every source was consulted. */
export interface ClusterSettings {
  kubeconfig: string | undefined;
  context: string | undefined;
  namespace: string;
  nats: {
    url: string | undefined;
    user: string | undefined;
    password: string | undefined;
    creds: string | undefined;
  };
  output: OutputFormat;
  config: CliConfig;
}

/**
 * Adds the shared options. `start` uses -n/--namespace for the namespaces to record, so there the
 * install namespace is `--install-namespace`. `destination` is the option of the command that
 * writes files, named when a path is given to `-o`; `output: false` leaves `-o` to the command.
 */
export function addClusterOptions(
  cmd: Command,
  opts: {
    installNamespaceFlag?: "--namespace" | "--install-namespace";
    output?: boolean;
    destination?: Destination;
  } = {},
): Command {
  const namespaceFlag = opts.installNamespaceFlag ?? "--namespace";
  cmd
    .option("--kubeconfig <file>", "kubeconfig file (default: $KUBECONFIG, ~/.kube/config)")
    .option("--context <name>", "kubeconfig context (default: its current context)")
    .option(
      `${namespaceFlag} <namespace>`,
      `namespace seccompose is installed in (env SECCOMPOSE_NAMESPACE; default ${DEFAULT_INSTALL_NAMESPACE})`,
    )
    .option(
      "--nats-url <url>",
      "NATS server (env SECCOMPOSE_NATS_URL; default: a port-forward to the in-cluster nats service)",
    )
    .option("--nats-user <user>", "NATS user (env SECCOMPOSE_NATS_USER; in-cluster default: cli)")
    .option(
      "--nats-password <password>",
      "NATS password (env SECCOMPOSE_NATS_PASSWORD; in-cluster default: Secret seccompose-cli-nats)",
    )
    .option(
      "--nats-password-file <file>",
      "file holding the NATS password, kept out of the shell history (env SECCOMPOSE_NATS_PASSWORD_FILE)",
    )
    .option("--nats-creds <file>", "NATS .creds file (env SECCOMPOSE_NATS_CREDS)");
  if (opts.output !== false) cmd.addOption(outputOption(OUTPUT_FORMATS, opts.destination));
  return cmd;
}

const nonEmpty = (value: string | undefined): string | undefined =>
  value !== undefined && value !== "" ? value : undefined;

/** Resolves every shared setting: flag > environment > user config > default. */
export async function clusterSettings(
  flags: ClusterFlags,
  env: NodeJS.ProcessEnv = process.env,
): Promise<ClusterSettings> {
  const config = await readUserConfig();
  const output = parseOutputFormat(flags.output ?? config.output ?? "text", OUTPUT_FORMATS) as OutputFormat;
  return {
    kubeconfig: flags.kubeconfig ?? config.kubeconfig,
    context: flags.context ?? config.context,
    namespace:
      flags.namespace ??
      flags.installNamespace ??
      nonEmpty(env.SECCOMPOSE_NAMESPACE) ??
      config.namespace ??
      DEFAULT_INSTALL_NAMESPACE,
    nats: {
      url: flags.natsUrl ?? nonEmpty(env.SECCOMPOSE_NATS_URL) ?? config.natsUrl,
      user: flags.natsUser ?? nonEmpty(env.SECCOMPOSE_NATS_USER) ?? config.natsUser,
      password:
        flags.natsPassword ??
        (await readPasswordFile(flags.natsPasswordFile)) ??
        nonEmpty(env.SECCOMPOSE_NATS_PASSWORD) ??
        (await readPasswordFile(nonEmpty(env.SECCOMPOSE_NATS_PASSWORD_FILE))) ??
        config.natsPassword ??
        (await readPasswordFile(config.natsPasswordFile)),
      creds: flags.natsCreds ?? nonEmpty(env.SECCOMPOSE_NATS_CREDS) ?? config.natsCreds,
    },
    output,
    config,
  };
}
