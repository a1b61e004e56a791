/**
 * The part of Falco's rule condition language the stand-in Falco evaluates: `and`, `or`,
 * `not`, parentheses, `<field> exists`, comparisons `=`/`==`/`!=`, `contains`, `icontains`,
 * `startswith`, `endswith`, `in (...)` with list names expanded, and macro names. As in Falco, a
 * field without a value (`<NA>`) fails every check but `not ... exists`. Anything else is a
 * compile error, so a rule the stand-in cannot honour is refused rather than misread.
 */

/** A field's value as text, or null when the event has none. */
export type FieldLookup = (field: string) => string | null;
export type Condition = (lookup: FieldLookup) => boolean;

export interface ConditionScope {
  macros: ReadonlyMap<string, string>;
  lists: ReadonlyMap<string, readonly string[]>;
  /** Whether this Falco has the field; an unknown field is a compile error, as in Falco. */
  fieldExists(field: string): boolean;
}

export class ConditionError extends Error {}

type Token = { kind: "string" | "punct" | "op" | "word"; text: string };

const TOKEN = /\s*(?:("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|([(),])|(!=|==|=|<=|>=|<|>)|([^\s(),=!<>"']+))/y;
const FIELD = /^[a-z_][a-z0-9_]*(?:\.[a-zA-Z0-9_]+)+(?:\[[^\]]*\])?$/;
const STRING_OPERATORS = new Set(["contains", "icontains", "startswith", "endswith"]);
const MAX_MACRO_DEPTH = 32;

export function compileCondition(text: string, scope: ConditionScope): Condition {
  return new Compiler(scope).compile(text, 0);
}

class Compiler {
  readonly #scope: ConditionScope;
  #tokens: Token[] = [];
  #at = 0;
  #depth = 0;

  constructor(scope: ConditionScope) {
    this.#scope = scope;
  }

  compile(text: string, depth: number): Condition {
    const saved = { tokens: this.#tokens, at: this.#at, depth: this.#depth };
    this.#tokens = tokenize(text);
    this.#at = 0;
    this.#depth = depth;
    const condition = this.#or();
    if (this.#at < this.#tokens.length)
      throw new ConditionError(`unexpected '${this.#tokens[this.#at]!.text}'`);
    this.#tokens = saved.tokens;
    this.#at = saved.at;
    this.#depth = saved.depth;
    return condition;
  }

  #or(): Condition {
    const parts = [this.#and()];
    while (this.#acceptWord("or")) parts.push(this.#and());
    return parts.length === 1 ? parts[0]! : (lookup) => parts.some((part) => part(lookup));
  }

  #and(): Condition {
    const parts = [this.#not()];
    while (this.#acceptWord("and")) parts.push(this.#not());
    return parts.length === 1 ? parts[0]! : (lookup) => parts.every((part) => part(lookup));
  }

  #not(): Condition {
    if (this.#acceptWord("not")) {
      const inner = this.#not();
      return (lookup) => !inner(lookup);
    }
    return this.#primary();
  }

  #primary(): Condition {
    const token = this.#next("a check");
    if (token.kind === "punct" && token.text === "(") {
      const inner = this.#or();
      this.#expect(")");
      return inner;
    }
    if (token.kind !== "word") throw new ConditionError(`unexpected '${token.text}'`);
    if (!FIELD.test(token.text)) return this.#macro(token.text);
    const field = token.text;
    if (!this.#scope.fieldExists(field))
      throw new ConditionError(`filter_check called with nonexistent field ${field}`);
    return this.#check(field);
  }

  #macro(name: string): Condition {
    const body = this.#scope.macros.get(name);
    if (body === undefined) throw new ConditionError(`undefined macro or unknown field '${name}'`);
    if (this.#depth >= MAX_MACRO_DEPTH) throw new ConditionError(`macro '${name}' nests too deeply`);
    return this.compile(body, this.#depth + 1);
  }

  #check(field: string): Condition {
    const operator = this.#next(`an operator after ${field}`);
    const op = operator.text;
    if (operator.kind === "word" && op === "exists") return (lookup) => lookup(field) !== null;
    if (operator.kind === "word" && op === "in") {
      const values = new Set(this.#list());
      return (lookup) => {
        const value = lookup(field);
        return value !== null && values.has(value);
      };
    }
    if (operator.kind === "op" && (op === "=" || op === "==" || op === "!=")) {
      const expected = this.#value();
      const equal = op !== "!=";
      return (lookup) => {
        const value = lookup(field);
        return value !== null && (value === expected) === equal;
      };
    }
    if (operator.kind === "word" && STRING_OPERATORS.has(op)) {
      const expected = this.#value();
      const lowered = expected.toLowerCase();
      return (lookup) => {
        const value = lookup(field);
        if (value === null) return false;
        if (op === "contains") return value.includes(expected);
        if (op === "icontains") return value.toLowerCase().includes(lowered);
        if (op === "startswith") return value.startsWith(expected);
        return value.endsWith(expected);
      };
    }
    throw new ConditionError(`operator '${op}' after ${field} is not supported by the stand-in`);
  }

  #list(): string[] {
    this.#expect("(");
    const values: string[] = [];
    if (this.#acceptPunct(")")) return values;
    do {
      const value = this.#value();
      values.push(...(this.#scope.lists.get(value) ?? [value]));
    } while (this.#acceptPunct(","));
    this.#expect(")");
    return values;
  }

  #value(): string {
    const token = this.#next("a value");
    if (token.kind === "string") return token.text.slice(1, -1).replace(/\\(.)/g, "$1");
    if (token.kind === "word") return token.text;
    throw new ConditionError(`expected a value, got '${token.text}'`);
  }

  #next(what: string): Token {
    const token = this.#tokens[this.#at];
    if (token === undefined) throw new ConditionError(`expected ${what} at the end of the condition`);
    this.#at += 1;
    return token;
  }

  #expect(punct: string): void {
    if (!this.#acceptPunct(punct)) throw new ConditionError(`expected '${punct}'`);
  }

  #acceptPunct(punct: string): boolean {
    const token = this.#tokens[this.#at];
    if (token?.kind !== "punct" || token.text !== punct) return false;
    this.#at += 1;
    return true;
  }

  #acceptWord(word: string): boolean {
    const token = this.#tokens[this.#at];
    if (token?.kind !== "word" || token.text !== word) return false;
    this.#at += 1;
    return true;
  }
}

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < text.length) {
    if (text.slice(TOKEN.lastIndex).trim() === "") break;
    const at = TOKEN.lastIndex;
    const match = TOKEN.exec(text);
    if (!match) throw new ConditionError(`cannot read the condition at '${text.slice(at, at + 20)}'`);
    if (match[1] !== undefined) tokens.push({ kind: "string", text: match[1] });
    else if (match[2] !== undefined) tokens.push({ kind: "punct", text: match[2] });
    else if (match[3] !== undefined) tokens.push({ kind: "op", text: match[3] });
    else tokens.push({ kind: "word", text: match[4]! });
  }
  return tokens;
}
