/**
 * `-o, --output FORMAT` has one meaning on every command, as in kubectl: the format of what the
 * command prints on stdout. A file to write is `--output-file FILE`, a directory `--output-dir DIR`
 * (no short form, so `-o` is never a path), the format of a written document `--format`. A path
 * given to `-o`, as older versions took it (`record -o FILE`, `stop -o DIR`), is refused with the
 * option that writes it.
 */
import { Option } from "commander";
import { SeccomposeError } from "../lib/errors.ts";

/** The option that writes what `-o` once named, and what it writes, for the hint. */
export interface Destination {
  flag: "--output-file" | "--output-dir";
  what: string;
}

/** Whether a value given to `-o` is meant as a file or directory rather than a format. */
const looksLikePath = (value: string): boolean => /[./\\]/.test(value);

const orList = (formats: readonly string[]): string =>
  formats.length === 1 ? formats[0]! : `${formats.slice(0, -1).join(", ")} or ${formats.at(-1)}`;

/** `value` as one of `formats`, or SC_USAGE; a path gets the option that writes it. */
export function parseOutputFormat(
  value: string,
  formats: readonly string[],
  destination?: Destination,
): string {
  if (formats.includes(value)) return value;
  if (destination !== undefined && looksLikePath(value)) {
    throw new SeccomposeError(
      "SC_USAGE",
      `-o selects the output format (${formats.join("|")}); write ${destination.what} with ${destination.flag} ${value}`,
    );
  }
  throw new SeccomposeError("SC_USAGE", `-o/--output must be ${orList(formats)}, not "${value}"`);
}

/** `-o, --output FORMAT` for a command that prints results; `formats[0]` is the default. */
export function outputOption(formats: readonly string[], destination?: Destination): Option {
  return new Option(
    "-o, --output <format>",
    `format of what is printed on stdout: ${orList(formats)} (default: ${formats[0]})`,
  ).argParser((value: string) => parseOutputFormat(value, formats, destination));
}

/**
 * For a command that prints nothing `-o` could format (`record`: stdout is the traced command's;
 * `merge`: the document, in `--format`): `-o` and `--output` are refused with the option to use
 * instead. Hidden, as it is no option of the command.
 */
export function refusedOutputOption(why: string, destination: Destination): Option {
  return new Option("-o, --output <file>").hideHelp().argParser((value: string) => {
    throw new SeccomposeError(
      "SC_USAGE",
      `-o selects the output format (text|json) of what a command prints, and ${why}; write ${destination.what} with ${destination.flag} ${value}`,
    );
  });
}
