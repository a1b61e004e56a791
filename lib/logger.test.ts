import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { SeccomposeError } from "./errors.ts";
import { createLogger, type Logger } from "./logger.ts";

function capture(component: string): { lines: Array<Record<string, unknown>>; log: Logger } {
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  return { lines, log: createLogger(component, { base: { node: "node-a" }, destination }) };
}

describe("createLogger", () => {
  it("puts component and node on every line and keeps code, stack and cause of a logged error", () => {
    const { lines, log } = capture("agent");
    const cause = new Error("connection refused");
    log.error(
      { err: new SeccomposeError("SC_NATS_UNREACHABLE", "no NATS server answered", { cause }) },
      "publish failed",
    );
    const [line] = lines;
    expect(line).toMatchObject({ component: "agent", node: "node-a", msg: "publish failed" });
    const err = line!.err as Record<string, unknown>;
    expect(err).toMatchObject({ type: "SeccomposeError", code: "SC_NATS_UNREACHABLE" });
    expect(String(err.message)).toContain("no NATS server answered");
    expect(String(err.stack)).toContain("logger.test.ts");
    expect(err.cause).toMatchObject({ message: "connection refused" });
  });

  it("leaves out base fields that are not set", () => {
    expect(createLogger("aggregator", { base: { node: undefined } }).bindings()).toEqual({
      component: "aggregator",
    });
  });
});
