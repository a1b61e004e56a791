/**
 * `npm run bench`: runs every bench/*.bench.ts in its own process, one after another (they
 * measure one core each, and the machine has two), prints their figures and writes them with
 * the machine they were measured on to docs/benchmarks.md.
 * `npm run bench -- <filter>` runs only the files whose name contains the filter.
 */
import { spawn } from "node:child_process";
import { readdirSync, writeFileSync } from "node:fs";
import { cpus, release, totalmem } from "node:os";
import { fileURLToPath } from "node:url";

const benchDir = fileURLToPath(new URL(".", import.meta.url));
const docPath = fileURLToPath(new URL("../docs/benchmarks.md", import.meta.url));
const filter = process.argv[2] ?? "";
const files = readdirSync(benchDir)
  .filter((f) => f.endsWith(".bench.ts") && f.includes(filter))
  .sort();

async function run(file: string): Promise<{ file: string; output: string; ok: boolean; seconds: number }> {
  const started = Date.now();
  const child = spawn(process.execPath, ["--expose-gc", `${benchDir}${file}`], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => {
    process.stdout.write(chunk);
    output += chunk.toString();
  });
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  return { file, output: output.trimEnd(), ok: code === 0, seconds: (Date.now() - started) / 1000 };
}

const results = [];
for (const file of files) {
  console.log(`\n== ${file}`);
  results.push(await run(file));
}

const machine = [
  `- CPU: ${cpus()[0]?.model ?? "unknown"} × ${cpus().length}`,
  `- Memory: ${(totalmem() / 1024 ** 3).toFixed(1)} GiB`,
  `- Kernel: Linux ${release()}`,
  `- Node.js: ${process.version}`,
  `- Measured: ${new Date().toISOString()}`,
].join("\n");
const sections = results.map(
  (r) =>
    `## ${r.file}${r.ok ? "" : " (FAILED)"}\n\n\`\`\`\n${r.output || "(no output)"}\n\`\`\`\n\n${r.seconds.toFixed(1)} s`,
);
if (filter === "") {
  writeFileSync(
    docPath,
    `# Benchmarks\n\nWritten by \`npm run bench\` (bench/run.ts); every figure below comes from that run.\n\n${machine}\n\n${sections.join("\n\n")}\n`,
  );
  console.log(`\nwrote ${docPath}`);
}
if (results.some((r) => !r.ok)) process.exitCode = 1;
