import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { CONFIG_DOCS, renderConfigDoc } from "../../scripts/gen-config-docs.ts";

describe("docs/agent.md and docs/aggregator.md", () => {
  it.each(CONFIG_DOCS.map((d) => [d.file, d] as const))(
    "%s is what npm run gen:config-docs writes from the settings and the schema",
    async (file, doc) => {
      const committed = await readFile(new URL(`../../${file}`, import.meta.url), "utf8");
      expect(committed).toBe(await renderConfigDoc(doc));
    },
  );
});
