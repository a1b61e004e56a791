/**
 * bcrypt ($2b$), the password hash nats-server accepts in its config (users.json of Secret
 * nats-auth), so the broker's configuration never holds a password in clear. Written from the
 * published algorithm (Provos and Mazières, "A Future-Adaptable Password Scheme", 1999, with
 * OpenBSD's $2b$ key handling), because no bcrypt package is among the project's dependencies.
 *
 * Blowfish's initial subkeys are the fractional hexadecimal digits of pi; they are computed here
 * once (Machin's formula in fixed point) rather than listed.
 */
import { randomBytes } from "node:crypto";
import { SeccomposeError } from "../../lib/errors.ts";

const P_WORDS = 18;
const S_WORDS = 4 * 256;
/** "OrpheanBeholderScryDoubt", the text bcrypt encrypts 64 times. */
const MAGIC = Buffer.from("OrpheanBeholderScryDoubt", "latin1");
const ALPHABET = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
export const DEFAULT_BCRYPT_COST = 11;

let piWords: Uint32Array | undefined;

/** atan(1/x) scaled by 2^bits, by its alternating series. */
function arctanInverse(x: bigint, bits: bigint): bigint {
  const x2 = x * x;
  let power = (1n << bits) / x;
  let sum = power;
  for (let k = 1n, sign = -1n; power !== 0n; k++, sign = -sign) {
    power /= x2;
    sum += (sign * power) / (2n * k + 1n);
  }
  return sum;
}

/** The first P_WORDS + S_WORDS 32-bit words of pi's fractional part (0x243f6a88, 0x85a308d3, ...). */
function blowfishConstants(): Uint32Array {
  if (piWords !== undefined) return piWords;
  const words = P_WORDS + S_WORDS;
  const guard = 64n;
  const bits = BigInt(words * 32) + guard;
  const pi = 16n * arctanInverse(5n, bits) - 4n * arctanInverse(239n, bits);
  const fraction = (pi & ((1n << bits) - 1n)) >> guard;
  const out = new Uint32Array(words);
  for (let i = 0; i < words; i++) out[i] = Number((fraction >> BigInt((words - 1 - i) * 32)) & 0xffffffffn);
  piWords = out;
  return out;
}

class Blowfish {
  readonly p: Uint32Array;
  readonly s: Uint32Array;
  readonly #block = new Uint32Array(2);

  constructor() {
    const pi = blowfishConstants();
    this.p = pi.slice(0, P_WORDS);
    this.s = pi.slice(P_WORDS);
  }

  #f(x: number): number {
    const s = this.s;
    return (
      (((s[x >>> 24]! + s[256 | ((x >>> 16) & 0xff)]!) ^ s[512 | ((x >>> 8) & 0xff)]!) +
        s[768 | (x & 0xff)]!) >>>
      0
    );
  }

  /** Encrypts the block (l, r) in place in #block. */
  encipher(l: number, r: number): Uint32Array {
    const p = this.p;
    l = (l ^ p[0]!) >>> 0;
    for (let i = 1; i < 16; i += 2) {
      r = (r ^ this.#f(l) ^ p[i]!) >>> 0;
      l = (l ^ this.#f(r) ^ p[i + 1]!) >>> 0;
    }
    this.#block[0] = (r ^ p[17]!) >>> 0;
    this.#block[1] = l;
    return this.#block;
  }

  /** Mixes `key` into the subkeys, then re-derives them by encryption, XORing in `data` when given. */
  expand(key: Uint8Array, data: Uint8Array | undefined): void {
    const keyStream = wordStream(key);
    for (let i = 0; i < P_WORDS; i++) this.p[i] = (this.p[i]! ^ keyStream()) >>> 0;
    const dataStream = data !== undefined ? wordStream(data) : () => 0;
    let l = 0;
    let r = 0;
    const fill = (target: Uint32Array, count: number) => {
      for (let i = 0; i < count; i += 2) {
        const block = this.encipher((l ^ dataStream()) >>> 0, (r ^ dataStream()) >>> 0);
        l = block[0]!;
        r = block[1]!;
        target[i] = l;
        target[i + 1] = r;
      }
    };
    fill(this.p, P_WORDS);
    fill(this.s, S_WORDS);
  }
}

/** Big-endian 32-bit words of `bytes`, cycling. */
function wordStream(bytes: Uint8Array): () => number {
  let j = 0;
  return () => {
    let word = 0;
    for (let k = 0; k < 4; k++) {
      word = ((word << 8) | bytes[j]!) >>> 0;
      j = (j + 1) % bytes.length;
    }
    return word;
  };
}

function encode(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i += 3) {
    const a = bytes[i]!;
    const b = bytes[i + 1];
    const c = bytes[i + 2];
    out += ALPHABET[a >> 2]!;
    out += ALPHABET[((a & 0x03) << 4) | ((b ?? 0) >> 4)]!;
    if (b === undefined) break;
    out += ALPHABET[((b & 0x0f) << 2) | ((c ?? 0) >> 6)]!;
    if (c === undefined) break;
    out += ALPHABET[c & 0x3f]!;
  }
  return out;
}

function decode(text: string, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let bits = 0;
  let acc = 0;
  let n = 0;
  for (const ch of text) {
    const v = ALPHABET.indexOf(ch);
    if (v < 0) throw new SeccomposeError("SC_CONFIG_INVALID", `"${ch}" is not a bcrypt base64 character`);
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      if (n < length) out[n++] = (acc >> bits) & 0xff;
    }
  }
  return out;
}

function hashWithSalt(password: string, cost: number, salt: Uint8Array): string {
  // $2b$: the password's UTF-8 bytes with their terminating NUL, at most 72 bytes of it used.
  const key = Buffer.concat([Buffer.from(password, "utf8").subarray(0, 72), Buffer.from([0])]);
  const bf = new Blowfish();
  bf.expand(key, salt);
  for (let i = 0, rounds = 2 ** cost; i < rounds; i++) {
    bf.expand(key, undefined);
    bf.expand(salt, undefined);
  }
  const text = new Uint32Array(6);
  for (let i = 0; i < 6; i++) text[i] = MAGIC.readUInt32BE(i * 4);
  for (let round = 0; round < 64; round++) {
    for (let i = 0; i < 6; i += 2) {
      const block = bf.encipher(text[i]!, text[i + 1]!);
      text[i] = block[0]!;
      text[i + 1] = block[1]!;
    }
  }
  const digest = Buffer.alloc(24);
  for (let i = 0; i < 6; i++) digest.writeUInt32BE(text[i]!, i * 4);
  return `$2b$${String(cost).padStart(2, "0")}$${encode(salt)}${encode(digest.subarray(0, 23))}`;
}

/** A new hash of `password` with a random salt. */
export function bcryptHash(password: string, cost = DEFAULT_BCRYPT_COST): string {
  if (!Number.isInteger(cost) || cost < 4 || cost > 31) {
    throw new SeccomposeError("SC_USAGE", `bcrypt cost must be an integer from 4 to 31, not ${cost}`);
  }
  return hashWithSalt(password, cost, randomBytes(16));
}

/** Whether `hash` ($2a$/$2b$/$2y$) is the bcrypt hash of `password`. */
export function bcryptVerify(password: string, hash: string): boolean {
  const m = /^\$2[aby]\$(\d\d)\$([./A-Za-z0-9]{22})([./A-Za-z0-9]{31})$/.exec(hash);
  if (m === null) return false;
  const again = hashWithSalt(password, Number(m[1]), decode(m[2]!, 16));
  return again.slice(4) === hash.slice(4);
}
