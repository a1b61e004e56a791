/**
 * Kubernetes label selectors in their string form, as `kubectl -l` takes them:
 * `a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a` (label present), `!a` (label absent);
 * requirements are separated by commas and must all hold. As in Kubernetes, `!=` and `notin`
 * also match objects that do not have the label at all. An empty selector matches everything.
 */
import { ErrorCodes, SeccomposeError } from "./errors.ts";

export type LabelOperator = "=" | "!=" | "in" | "notin" | "exists" | "!exists";

export interface LabelRequirement {
  key: string;
  operator: LabelOperator;
  /** One value for `=` and `!=`, at least one for `in`/`notin`, none for `exists`/`!exists`. */
  values: string[];
}

export type LabelSelector = readonly LabelRequirement[];

type TokenKind = "identifier" | "!" | "!=" | "=" | "==" | "(" | ")" | "," | "in" | "notin" | "end";

interface Token {
  kind: TokenKind;
  text: string;
  /** Zero-based offset in the selector text. */
  at: number;
}

// Characters that end an identifier; `<` and `>` are Kubernetes' numeric comparisons, which are
// not supported but must not silently become part of a key.
const SPECIAL = new Set(["!", "=", "(", ")", ",", "<", ">"]);
const WHITESPACE = /\s/;

// A label name: 63 characters at most, alphanumeric at both ends, `-`, `_`, `.` inside.
const NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
// A key prefix: a DNS subdomain of 253 characters at most.
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Parses a selector; throws SeccomposeError SC_USAGE naming the selector, the problem and its position. */
export function parseLabelSelector(text: string): LabelSelector {
  const tokens = tokenize(text);
  const requirements: LabelRequirement[] = [];
  let i = 0;
  const fail = (message: string, token: Token): never => {
    throw new SeccomposeError(
      ErrorCodes.SC_USAGE,
      `invalid label selector ${JSON.stringify(text)}: ${message} at position ${token.at + 1}`,
    );
  };
  const next = (): Token => tokens[i++]!;
  const peek = (): Token => tokens[i]!;

  if (peek().kind === "end") return requirements;
  for (;;) {
    let token = next();
    if (token.kind === "!") {
      const key = next();
      if (key.kind !== "identifier") fail("expected a label key after '!'", key);
      requirements.push({ key: checkKey(key, fail), operator: "!exists", values: [] });
    } else if (token.kind === "identifier") {
      const key = checkKey(token, fail);
      const op = peek();
      if (op.kind === "," || op.kind === "end") {
        requirements.push({ key, operator: "exists", values: [] });
      } else if (op.kind === "=" || op.kind === "==" || op.kind === "!=") {
        i++;
        // `a=` selects the empty value, as in Kubernetes.
        const value = peek();
        let text = "";
        if (isValueToken(value)) {
          i++;
          text = checkValue(value, fail);
        } else if (value.kind !== "," && value.kind !== "end") {
          fail(`expected a value after '${op.text}'`, value);
        }
        requirements.push({ key, operator: op.kind === "!=" ? "!=" : "=", values: [text] });
      } else if (op.kind === "in" || op.kind === "notin") {
        i++;
        requirements.push({ key, operator: op.kind, values: parseValueSet(op) });
      } else {
        fail(`expected '=', '==', '!=', 'in', 'notin', ',' or the end after key "${key}"`, op);
      }
    } else {
      fail(token.kind === "end" ? "expected a requirement" : `unexpected '${token.text}'`, token);
    }
    token = next();
    if (token.kind === "end") return requirements;
    if (token.kind !== ",") fail(`expected ',' or the end, found '${token.text}'`, token);
  }

  function parseValueSet(op: Token): string[] {
    const open = next();
    if (open.kind !== "(") fail(`expected '(' after '${op.text}'`, open);
    const values: string[] = [];
    for (;;) {
      const value = next();
      if (!isValueToken(value)) {
        fail(
          value.kind === ")" && values.length === 0
            ? `'${op.text}' needs at least one value`
            : "expected a value",
          value,
        );
      }
      values.push(checkValue(value, fail));
      const separator = next();
      if (separator.kind === ")") return values;
      if (separator.kind !== ",") fail("expected ',' or ')' in the value list", separator);
    }
  }
}

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const ch = text[i]!;
    if (WHITESPACE.test(ch)) {
      i++;
      continue;
    }
    const two = text.slice(i, i + 2);
    if (two === "!=" || two === "==") {
      tokens.push({ kind: two, text: two, at: i });
      i += 2;
      continue;
    }
    if (ch === "!" || ch === "=" || ch === "(" || ch === ")" || ch === ",") {
      tokens.push({ kind: ch, text: ch, at: i });
      i++;
      continue;
    }
    if (ch === "<" || ch === ">") {
      throw new SeccomposeError(
        ErrorCodes.SC_USAGE,
        `invalid label selector ${JSON.stringify(text)}: the numeric comparison '${ch}' is not supported at position ${i + 1}`,
      );
    }
    const start = i;
    while (i < text.length && !SPECIAL.has(text[i]!) && !WHITESPACE.test(text[i]!)) i++;
    const word = text.slice(start, i);
    const kind = word === "in" || word === "notin" ? word : "identifier";
    tokens.push({ kind, text: word, at: start });
  }
  tokens.push({ kind: "end", text: "", at: text.length });
  return tokens;
}

/** The words `in` and `notin` are keywords only where an operator is expected; as values they are plain text. */
function isValueToken(token: Token): boolean {
  return token.kind === "identifier" || token.kind === "in" || token.kind === "notin";
}

function checkKey(token: Token, fail: (message: string, token: Token) => never): string {
  const key = token.text;
  const slash = key.indexOf("/");
  const prefix = slash === -1 ? undefined : key.slice(0, slash);
  const name = slash === -1 ? key : key.slice(slash + 1);
  if (prefix !== undefined && (prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))) {
    fail(`label key prefix "${prefix}" is not a DNS subdomain`, token);
  }
  if (!NAME.test(name)) {
    fail(
      `label key "${key}" is not valid (name part: at most 63 characters, alphanumeric at both ends, '-', '_', '.' inside)`,
      token,
    );
  }
  return key;
}

function checkValue(token: Token, fail: (message: string, token: Token) => never): string {
  if (!NAME.test(token.text)) {
    fail(
      `label value "${token.text}" is not valid (at most 63 characters, alphanumeric at both ends, '-', '_', '.' inside)`,
      token,
    );
  }
  return token.text;
}

/** Whether labels satisfy every requirement of the selector. */
export function selectorMatches(selector: LabelSelector, labels: Readonly<Record<string, string>>): boolean {
  for (const req of selector) {
    const has = Object.hasOwn(labels, req.key);
    const value = has ? labels[req.key]! : undefined;
    switch (req.operator) {
      case "exists":
        if (!has) return false;
        break;
      case "!exists":
        if (has) return false;
        break;
      case "=":
      case "in":
        if (value === undefined || !req.values.includes(value)) return false;
        break;
      case "!=":
      case "notin":
        if (value !== undefined && req.values.includes(value)) return false;
        break;
    }
  }
  return true;
}
