import { Command } from "commander";

export const VERSION = "0.1.0";

type SetExitCode = (code: number) => void;
type Register = (program: Command, setExitCode: SetExitCode) => void;

interface CommandEntry {
  /** The top-level commands the module registers, in help order. */
  names: readonly string[];
  /** Their one-line summaries, shown by `seccompose --help` without loading the module. */
  summaries: readonly string[];
  load: () => Promise<Register>;
}

/**
 * Every command module, loaded only when its command runs: the cluster commands pull in the
 * Kubernetes client (about 2 s to load) and NATS, which `record`, `merge`, `config` and `--help`
 * never need. A test checks the summaries here against the modules.
 */
export const COMMANDS: readonly CommandEntry[] = [
  {
    names: ["record"],
    summaries: ["trace a command locally and write its seccomp profile"],
    load: async () => (await import("./record/record-command.ts")).registerRecord,
  },
  {
    names: ["merge"],
    summaries: ["merge profiles or recorded observations offline"],
    load: async () => (await import("./merge/merge-command.ts")).registerMerge,
  },
  {
    names: ["run"],
    summaries: ["run a command under a seccomp profile, loaded as runc loads it"],
    load: async () => (await import("./run/run-command.ts")).registerRun,
  },
  {
    names: ["start"],
    summaries: ["start recording the syscalls of selected pods on every node"],
    load: async () => (await import("./session/start-command.ts")).registerStart,
  },
  {
    names: ["status"],
    summaries: ["show sessions: what every agent recorded and what the aggregator merged"],
    load: async () => (await import("./session/status-command.ts")).registerStatus,
  },
  {
    names: ["stop"],
    summaries: ["stop a session and write its profiles"],
    load: async () => (await import("./session/stop-command.ts")).registerStop,
  },
  {
    names: ["events"],
    summaries: ["print a session's syscall events as they arrive"],
    load: async () => (await import("./session/events-command.ts")).registerEvents,
  },
  {
    names: ["drift"],
    summaries: ["list the syscalls frozen workloads made outside their frozen profile"],
    load: async () => (await import("./drift/drift-command.ts")).registerDrift,
  },
  {
    names: ["session"],
    summaries: ["manage recorded sessions: delete one"],
    load: async () => (await import("./session/session-command.ts")).registerSession,
  },
  {
    names: ["profile"],
    summaries: ["list, get, compare, install and freeze recorded profiles, and bind workloads to them"],
    load: async () => (await import("./profile/profile-command.ts")).registerProfile,
  },
  {
    names: ["install", "uninstall"],
    summaries: [
      "install seccompose in the cluster (NATS, agents, aggregator)",
      "remove seccompose from the cluster, with its recorded data",
    ],
    load: async () => (await import("./install/install-command.ts")).registerInstall,
  },
  {
    names: ["config"],
    summaries: ["show or change your defaults"],
    load: async () => (await import("./config/config-command.ts")).registerConfig,
  },
];

/**
 * The command `argv` (as in process.argv) asks for: the first word that is not an option, or the
 * word after `help`. The top level has no option that takes a value, so this cannot misread one.
 */
export function requestedCommand(argv: readonly string[]): string | undefined {
  const words = argv.slice(2).filter((a) => !a.startsWith("-"));
  return words[0] === "help" ? words[1] : words[0];
}

/**
 * The `seccompose` command tree for `argv`: the requested command's module is loaded and
 * registered for real, every other command only by name and summary for the help and for
 * "did you mean". `all` loads every module (the help-vs-docs test). `setExitCode` lets `record`
 * pass the traced command's status through, and the cluster commands report a partial result
 * (exit-codes.ts).
 */
export async function createProgram(
  setExitCode: SetExitCode,
  argv: readonly string[] | "all",
): Promise<Command> {
  const program = new Command("seccompose")
    .description("Least-privilege seccomp profiles recorded from what workloads really do")
    .version(VERSION)
    .showHelpAfterError("hint: run seccompose help COMMAND for its usage")
    // Options after a command's arguments belong to those arguments (record's CMD).
    .enablePositionalOptions()
    // Parser errors read like every other error: with the code docs/errors.md gives them.
    .configureOutput({
      outputError: (text, write) => write(`seccompose: ${text.replace(/^error: /, "error [SC_USAGE]: ")}`),
    })
    .exitOverride();
  const wanted = argv === "all" ? undefined : requestedCommand(argv);
  for (const entry of COMMANDS) {
    if (argv === "all" || (wanted !== undefined && entry.names.includes(wanted))) {
      (await entry.load())(program, setExitCode);
    } else {
      entry.names.forEach((name, i) => program.command(name).summary(entry.summaries[i]!));
    }
  }
  return program;
}
