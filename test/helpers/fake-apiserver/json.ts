/** Small helpers for objects as JSON, shared by the server's modules. */
import type { JsonObject } from "./types.ts";

export function clone<T>(value: T): T {
  return structuredClone(value);
}

export function asObject(value: unknown): JsonObject | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as JsonObject)
    : undefined;
}

/** A timestamp as the API server writes one: seconds, UTC. */
export function now(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, "Z");
}

/** The alphabet of the random suffixes Kubernetes appends to generated names. */
export const SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789";

export function randomSuffix(): string {
  let out = "";
  for (let i = 0; i < 5; i++) out += SUFFIX_ALPHABET[Math.floor(Math.random() * SUFFIX_ALPHABET.length)];
  return out;
}
