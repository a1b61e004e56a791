/** Deterministic generators of malformed input for the bad-input tests. */

export type Random = () => number;

/** A small seeded PRNG (mulberry32), so every run feeds the same inputs. */
export function seededRandom(seed: number): Random {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const JUNK = [
  '"',
  "{",
  "}",
  "[",
  "]",
  ":",
  ",",
  "|",
  "\\",
  "\u0000",
  "\n",
  "null",
  "-1",
  "1e999",
  "NaN",
  "<NA>",
  "\u00ff",
  "\ud800",
];

/** `count` mutations of the samples: truncations, byte flips, deletions, insertions, swaps and random bytes. */
export function mutations(samples: readonly string[], count: number, rand: Random): string[] {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const s = pick(samples);
    const at = Math.floor(rand() * s.length);
    switch (i % 8) {
      case 0:
        out.push(s.slice(0, at));
        break;
      case 1:
        out.push(s.slice(0, at) + String.fromCharCode(Math.floor(rand() * 256)) + s.slice(at + 1));
        break;
      case 2:
        out.push(s.slice(0, at) + s.slice(at + 1 + Math.floor(rand() * 40)));
        break;
      case 3:
        out.push(s.slice(0, at) + pick(JUNK) + s.slice(at));
        break;
      case 4: {
        const b = Math.floor(rand() * s.length);
        out.push(
          s.slice(0, Math.min(at, b)) + s.slice(Math.max(at, b)) + s.slice(Math.min(at, b), Math.max(at, b)),
        );
        break;
      }
      case 5:
        out.push(
          Array.from({ length: 1 + Math.floor(rand() * 300) }, () =>
            String.fromCharCode(Math.floor(rand() * 256)),
          ).join(""),
        );
        break;
      case 6:
        // Replace a number with something that is not one of the right kind.
        out.push(s.replace(/\d+/, pick(["-5", "99999999999999999999999", "x", "", "1.5"])));
        break;
      default:
        // Replace a quoted string value with another type.
        out.push(s.replace(/:"[^"]*"/, pick([":null", ":1", ":[]", ":{}", ":true"])));
    }
  }
  return out;
}
