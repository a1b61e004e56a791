/**
 * Deterministic JSON with exact 64-bit integers: bigint values are written as bare JSON numbers
 * (seccomp argument values are uint64, beyond what a JS number holds exactly).
 */
export function toJsonText(value: unknown): string {
  // Most documents hold no bigint: JSON.stringify without a replacer is several times faster, and
  // throws a TypeError on the first bigint, which sends the value down the exact path below.
  try {
    return `${JSON.stringify(value, null, 2)}\n`;
  } catch (err) {
    if (!(err instanceof TypeError)) throw err;
  }
  const marker = "\u0000bigint:";
  const text = JSON.stringify(value, (_key, v: unknown) => (typeof v === "bigint" ? `${marker}${v}` : v), 2);
  return `${text.replace(/"\\u0000bigint:(\d+)"/g, "$1")}\n`;
}
