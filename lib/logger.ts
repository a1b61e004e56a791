/**
 * The one way services make their logger: pino JSON lines with `component` (and `node` where there
 * is one) on every line, and errors logged as `{ err }` through pino's serializer, which keeps the
 * message, stack, `code` and the `cause` chain. Lines that tests and operators key on carry a
 * stable `event` name besides the human-readable message.
 */
import { pino, stdSerializers, type DestinationStream, type Logger, type LevelWithSilent } from "pino";

export type { Logger } from "pino";

export interface LoggerOptions {
  level?: LevelWithSilent;
  /** Fields on every line, besides `component`: e.g. `node`. */
  base?: Record<string, string | undefined>;
  /** Where lines go; standard output by default. */
  destination?: DestinationStream;
}

export function createLogger(component: string, opts: LoggerOptions = {}): Logger {
  const base: Record<string, string> = { component };
  for (const [key, value] of Object.entries(opts.base ?? {})) if (value !== undefined) base[key] = value;
  const options = { level: opts.level ?? "info", base, serializers: { err: stdSerializers.errWithCause } };
  return opts.destination !== undefined ? pino(options, opts.destination) : pino(options);
}
