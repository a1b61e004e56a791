/**
 * Derives lib/contracts/types.generated.ts from schemas/ so the TypeScript types can never drift
 * from the contract; lib/contracts/types.test.ts fails when the committed file is stale.
 * Usage: npm run gen:types [-- --check]
 */
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { compile, type JSONSchema } from "json-schema-to-typescript";
import { schemaFiles } from "../lib/contracts/schemas.ts";

export const generatedTypesPath = fileURLToPath(
  new URL("../lib/contracts/types.generated.ts", import.meta.url),
);

type Json = Record<string, unknown>;

/** Rewrites cross-file refs ("common.schema.json#/$defs/X", "session.schema.json") into one local $defs. */
function localiseRefs(node: unknown, titles: Map<string, string>): unknown {
  if (Array.isArray(node)) return node.map((n) => localiseRefs(n, titles));
  if (node === null || typeof node !== "object") return node;
  const out: Json = {};
  for (const [key, value] of Object.entries(node as Json)) {
    if (key === "$ref" && typeof value === "string") {
      const [file, pointer] = value.split("#");
      if (pointer?.startsWith("/$defs/")) out[key] = `#${pointer}`;
      else if (file && titles.has(file)) out[key] = `#/$defs/${titles.get(file)}`;
      else throw new Error(`cannot localise $ref ${value}`);
    } else if (key !== "$id" && key !== "$schema") {
      out[key] = localiseRefs(value, titles);
    }
  }
  return out;
}

export async function renderContractTypes(): Promise<string> {
  const titles = new Map<string, string>();
  for (const [file, schema] of Object.entries(schemaFiles)) {
    if (file !== "common.schema.json") titles.set(file, (schema as Json).title as string);
  }
  const defs: Json = {};
  for (const [file, schema] of Object.entries(schemaFiles)) {
    const { $defs, ...top } = schema as Json;
    for (const [name, def] of Object.entries(($defs ?? {}) as Json)) defs[name] = localiseRefs(def, titles);
    if (titles.has(file)) defs[titles.get(file)!] = localiseRefs(top, titles);
  }
  const root = {
    title: "SeccomposeContracts",
    type: "object",
    additionalProperties: false,
    properties: Object.fromEntries(Object.keys(defs).map((name) => [name, { $ref: `#/$defs/${name}` }])),
    $defs: defs,
  };
  const ts = await compile(root as JSONSchema, "SeccomposeContracts", {
    bannerComment:
      "/* Generated from schemas/ by scripts/gen-contract-types.ts (npm run gen:types). Do not edit. */",
    additionalProperties: false,
    unreachableDefinitions: true,
    ignoreMinAndMaxItems: true,
    declareExternallyReferenced: true,
    format: true,
    style: { printWidth: 110 },
  });
  return ts;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const ts = await renderContractTypes();
  if (process.argv.includes("--check")) {
    if (readFileSync(generatedTypesPath, "utf8") !== ts) {
      console.error("lib/contracts/types.generated.ts is stale: run npm run gen:types");
      process.exit(1);
    }
  } else {
    writeFileSync(generatedTypesPath, ts);
    console.log(`wrote ${generatedTypesPath}`);
  }
}
