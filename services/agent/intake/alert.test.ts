import { describe, expect, it } from "vitest";
import {
  parseBigIntRange,
  parseIntRange,
  parseIsoTimeNs,
  parseTimeOfDayNs,
  parseUnsignedBigIntRange,
  rawArgRadix,
} from "./alert.ts";

describe("parseIsoTimeNs", () => {
  it("reads Falco's JSON time with nanoseconds exactly", () => {
    expect(parseIsoTimeNs("2026-11-27T16:30:32.138726621Z")).toBe(1795797032138726621n);
  });

  it("reads the text prefix form with a numeric UTC offset", () => {
    expect(parseIsoTimeNs("2016-08-04T16:17:57.881781397+0000")).toBe(1470327477881781397n);
    expect(parseIsoTimeNs("2016-08-04T18:17:57.881781397+02:00")).toBe(1470327477881781397n);
    expect(parseIsoTimeNs("2016-08-04T15:17:57.881781397-0100")).toBe(1470327477881781397n);
  });

  it("scales fractions shorter than nanoseconds and accepts none", () => {
    expect(parseIsoTimeNs("2023-03-03T03:03:03.5Z")).toBe(1677812583500000000n);
    expect(parseIsoTimeNs("2023-03-03T03:03:03Z")).toBe(1677812583000000000n);
  });

  it.each([
    "yesterday",
    "2026-11-27 16:30:32.138726621Z",
    "2026-13-27T16:30:32Z",
    "2026-11-27T16:30:32.1234567890Z",
    "2026-11-27T16:30:32.Z",
    "2026-11-27T16:30:32",
    "2026-11-27T16:30:32+0",
    "-026-11-27T16:30:32Z",
  ])("rejects %s", (text) => {
    expect(parseIsoTimeNs(text)).toBeNull();
  });
});

describe("parseTimeOfDayNs", () => {
  it("reads Falco's default HH:MM:SS.nnnnnnnnn prefix as nanoseconds since midnight", () => {
    expect(parseTimeOfDayNs("16:30:42.942841699", 0, 18)).toBe(59_442_942_841_699n);
  });

  it("rejects other shapes and out-of-range clock values", () => {
    expect(parseTimeOfDayNs("16:30:42.94284169", 0, 17)).toBeNull();
    expect(parseTimeOfDayNs("24:30:42.942841699", 0, 18)).toBeNull();
    expect(parseTimeOfDayNs("16-30-42.942841699", 0, 18)).toBeNull();
  });
});

describe("raw integer ranges", () => {
  it("reads hex and decimal arguments inside a longer text without allocating a substring", () => {
    expect(parseBigIntRange("x|280BA03|y", 2, 9, 16)).toBe(0x280ba03n);
    expect(parseBigIntRange("x|-2|y", 2, 4, 10)).toBe(-2n);
  });

  it("stays exact beyond 2^53", () => {
    expect(parseBigIntRange("FFFFFFFFFFFFFFFF", 0, 16, 16)).toBe(0xffffffffffffffffn);
    expect(parseBigIntRange("18446744073709551615", 0, 20, 10)).toBe(18446744073709551615n);
  });

  it("rejects digits of the wrong radix, signs on hex and empty ranges", () => {
    expect(parseBigIntRange("12AB", 0, 4, 10)).toBeNull();
    expect(parseBigIntRange("-A", 0, 2, 16)).toBeNull();
    expect(parseBigIntRange("", 0, 0, 16)).toBeNull();
    expect(parseBigIntRange("G0000000000000000", 0, 17, 16)).toBeNull();
  });

  it("reads small decimal integers as numbers", () => {
    expect(parseIntRange("pid|30945|", 4, 9)).toBe(30945);
    expect(parseIntRange("-2", 0, 2)).toBe(-2);
    expect(parseIntRange("3O", 0, 2)).toBeNull();
    expect(parseIntRange("-", 0, 1)).toBeNull();
  });

  it("knows which raw arguments Falco renders in hex", () => {
    expect(rawArgRadix("openat", "flags")).toBe(16);
    expect(rawArgRadix("ioctl", "request")).toBe(16);
    expect(rawArgRadix("ptrace", "request")).toBe(10);
    expect(rawArgRadix("socket", "domain")).toBe(10);
    expect(rawArgRadix("prctl", "option")).toBe(10);
  });
});

describe("parseUnsignedBigIntRange", () => {
  it("is exact for every length up to 20 digits, whatever the previous value was", () => {
    const values = [
      "0",
      "7",
      "123456789",
      "1234567890",
      "1764945032138726621",
      "1764945032138726622",
      "1764945099000000000",
      "9007199254740993",
      "99999999999999999999",
      "18446744073709551615",
      "1764945032138726621",
    ];
    for (const value of values) {
      const line = `x${value}y`;
      expect(parseUnsignedBigIntRange(line, 1, line.length - 1)).toBe(BigInt(value));
    }
  });

  it("refuses empty ranges, more than 20 digits and non-digits", () => {
    expect(parseUnsignedBigIntRange("", 0, 0)).toBeNull();
    expect(parseUnsignedBigIntRange("123456789012345678901", 0, 21)).toBeNull();
    expect(parseUnsignedBigIntRange("17649450321387266-1", 0, 19)).toBeNull();
    expect(parseUnsignedBigIntRange("1764945032a", 0, 11)).toBeNull();
  });
});
