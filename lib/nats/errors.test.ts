import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import { describe, expect, it } from "vitest";
import {
  isCasConflict,
  isConsumerNotFound,
  isRepublishUnchangeable,
  isStreamNameInUse,
  isStreamNotFound,
} from "./errors.ts";

function apiError(status: number, errCode: number, description: string): JetStreamApiError {
  return new JetStreamApiError({ code: status, err_code: errCode, description });
}

describe("JetStream error conditions", () => {
  it("tells each condition by the server's error code, also when wrapped as a cause", () => {
    const wrongLast = apiError(400, JetStreamApiCodes.StreamWrongLastSequence, "wrong last sequence: 7");
    expect(isCasConflict(wrongLast)).toBe(true);
    expect(isCasConflict(new Error("update failed", { cause: wrongLast }))).toBe(true);
    expect(isCasConflict(apiError(400, JetStreamApiCodes.StreamWrongLastSequenceUnknown, "unknown"))).toBe(
      true,
    );
    expect(isStreamNotFound(apiError(404, JetStreamApiCodes.StreamNotFound, "stream not found"))).toBe(true);
    expect(isConsumerNotFound(apiError(404, JetStreamApiCodes.ConsumerNotFound, "consumer not found"))).toBe(
      true,
    );
    expect(isStreamNameInUse(apiError(400, 10058, "stream name already in use"))).toBe(true);
    expect(
      isRepublishUnchangeable(apiError(500, 10052, "stream configuration update can not change RePublish")),
    ).toBe(true);
  });

  it("does not mistake one condition for another", () => {
    const notFound = apiError(404, JetStreamApiCodes.StreamNotFound, "stream not found");
    expect(isCasConflict(notFound)).toBe(false);
    expect(isConsumerNotFound(notFound)).toBe(false);
    expect(isStreamNotFound(apiError(404, JetStreamApiCodes.ConsumerNotFound, "consumer not found"))).toBe(
      false,
    );
    expect(isStreamNotFound(new Error("stream not found"))).toBe(false);
  });

  it("counts a KV create of an existing key as a lost compare-and-set", () => {
    expect(isCasConflict(new Error("wrong last sequence: 3"))).toBe(true);
    expect(isCasConflict(new Error("key exists"))).toBe(true);
    expect(isCasConflict(new Error("timeout"))).toBe(false);
  });
});
