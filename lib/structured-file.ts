import { readFile } from "node:fs/promises";
import { parse as parseYaml, YAMLParseError } from "yaml";
import { SeccomposeError } from "./errors.ts";

/** A file's text; a failure is SC_FILE_READ naming what the file is (`config file`, ...) and where. */
export async function readTextFile(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    throw new SeccomposeError("SC_FILE_READ", `cannot read ${what} ${path}: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/** YAML (JSON is a subset) to a value; a syntax error is SC_CONFIG_INVALID naming the file and line. */
export function parseYamlText(text: string, path: string, what: string): unknown {
  try {
    return parseYaml(text) ?? {};
  } catch (err) {
    const line = err instanceof YAMLParseError && err.linePos ? ` (line ${err.linePos[0].line})` : "";
    throw new SeccomposeError(
      "SC_CONFIG_INVALID",
      `${what} ${path} is not valid YAML${line}: ${(err as Error).message.split("\n")[0]}`,
      { cause: err },
    );
  }
}

/**
 * A YAML or JSON file's value, for configs, session and pods files; schema validation is the
 * caller's. With `missingOk`, a file that does not exist reads as undefined.
 */
export async function readYamlFile(
  path: string,
  what: string,
  opts: { missingOk?: boolean } = {},
): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    if (opts.missingOk && (err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new SeccomposeError("SC_FILE_READ", `cannot read ${what} ${path}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return parseYamlText(text, path, what);
}

/** Like readYamlFile, for a file whose top level must be a mapping of settings. */
export async function readYamlMapping(path: string, what: string): Promise<Record<string, unknown>> {
  const value = await readYamlFile(path, what);
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new SeccomposeError("SC_CONFIG_INVALID", `${what} ${path} must hold a mapping of settings`);
  }
  return value as Record<string, unknown>;
}
