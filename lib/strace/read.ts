import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import { ErrorCodes, SeccomposeError, isSeccomposeError } from "../errors.ts";
import { StraceParser, type StraceRecord } from "./parse.ts";

/**
 * Stream the records of a strace output file or FIFO, line by line. Pass a parser to choose lenient
 * mode or to read its `garbledLines` afterwards.
 */
export async function* readStraceFile(
  path: string,
  parser: StraceParser = new StraceParser({ source: path }),
): AsyncGenerator<StraceRecord> {
  const lines = createInterface({ input: createReadStream(path, { encoding: "utf8" }), crlfDelay: Infinity });
  try {
    for await (const line of lines) yield* parser.push(line);
  } catch (err) {
    if (isSeccomposeError(err)) throw err;
    throw new SeccomposeError(
      ErrorCodes.SC_FILE_READ,
      `cannot read strace output ${path}: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  } finally {
    lines.close();
  }
  yield* parser.end();
}
