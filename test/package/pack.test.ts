/**
 * The library installs like any npm package: `npm pack`, install the tarball in a folder outside
 * the repo, import it from plain `.mjs` (no tsx), run its bin, and type-check a `.ts` consumer
 * against the shipped declarations.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const exec = promisify(execFile);
const repo = fileURLToPath(new URL("../../", import.meta.url));
const options = { timeout: 240_000, maxBuffer: 16 * 1024 * 1024 };

const CONSUMER_MJS = `import { functionBackend, pacore, run } from "pacore";
const backend = functionBackend(async ({ seed }) => "<think>…</think>The answer is " + (seed % 2 ? 396 : 397) + ".");
const result = await run({ backend, strategy: pacore({ k: [4, 2] }), problem: "What is 17*23+5?" });
const openai = await import("pacore/openai");
console.log(JSON.stringify({ calls: result.calls, answer: result.answer, openai: typeof openai.openaiBackend }));
`;

const CONSUMER_TS = `import { type ModelBackend, type RunResult, functionBackend, pacore, run } from "pacore";
const backend: ModelBackend = functionBackend(async () => "4");
const result: RunResult = await run({ backend, strategy: pacore({ k: [2] }), problem: "2+2?" });
const calls: number = result.calls;
// @ts-expect-error: plans are numbers
pacore({ k: ["4"] });
export { calls };
`;

describe("npm package", () => {
  let consumer: string;
  before(async () => {
    const packDir = await mkdtemp(join(tmpdir(), "pacore-pack-"));
    await exec("npm", ["pack", "--pack-destination", packDir], { cwd: repo, ...options });
    const [tarball] = (await readdir(packDir)).filter((file) => file.endsWith(".tgz"));
    consumer = await mkdtemp(join(tmpdir(), "pacore-consumer-"));
    await writeFile(join(consumer, "package.json"), '{ "name": "consumer", "type": "module" }\n');
    await exec(
      "npm",
      ["install", join(packDir, tarball), "--no-audit", "--no-fund", "--prefer-offline"],
      { cwd: consumer, ...options },
    );
  });
  after(async () => {
    if (consumer) await rm(consumer, { recursive: true, force: true });
  });

  it("ships only dist, bin, the embedded model and the README", async () => {
    const root = join(consumer, "node_modules", "pacore");
    assert.deepEqual((await readdir(root)).sort(), [
      "README.md",
      "bin",
      "dist",
      "models",
      "package.json",
    ]);
    assert.deepEqual(await readdir(join(root, "models")), ["pacore-tiny"]);
    const model = await readdir(join(root, "models", "pacore-tiny"));
    for (const file of ["config.json", "tokenizer.json", "tokenizer_config.json", "onnx"]) {
      assert.ok(model.includes(file), file);
    }
  });

  it("imports from plain .mjs and runs PaCoRe", async () => {
    await writeFile(join(consumer, "consumer.mjs"), CONSUMER_MJS);
    const { stdout } = await exec(process.execPath, ["consumer.mjs"], {
      cwd: consumer,
      ...options,
    });
    const output = JSON.parse(stdout);
    assert.equal(output.calls, 7);
    assert.match(output.answer, /^39[67]$/);
    assert.equal(output.openai, "function");
  });

  it("runs its bin from dist", async () => {
    const { stdout } = await exec(
      join(consumer, "node_modules", ".bin", "pacore"),
      // onnxruntime-node is an optional peer, not installed here: the simulated backend.
      ["run", "--backend", "simulated", "--strategy", "single", "--json", "What is 6*7?"],
      { cwd: consumer, ...options },
    );
    assert.equal(JSON.parse(stdout).calls, 1);
  });

  it("without the optional onnxruntime-node, the default backend says how to get it", async () => {
    const bin = join(consumer, "node_modules", ".bin", "pacore");
    const failure = await exec(bin, ["run", "What is 6*7?"], { cwd: consumer, ...options }).then(
      () => assert.fail("the run should fail"),
      (error: { code: number; stderr: string }) => error,
    );
    assert.equal(failure.code, 2);
    assert.match(failure.stderr, /npm install onnxruntime-node/);
  });

  it("type-checks a .ts consumer against the shipped declarations", async () => {
    await writeFile(join(consumer, "consumer.ts"), CONSUMER_TS);
    await writeFile(
      join(consumer, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          target: "ES2022",
          module: "NodeNext",
          moduleResolution: "NodeNext",
          strict: true,
          noEmit: true,
          skipLibCheck: true,
          typeRoots: [join(repo, "node_modules", "@types")],
        },
        files: ["consumer.ts"],
      }),
    );
    const tsc = join(repo, "node_modules", "typescript", "bin", "tsc");
    await exec(process.execPath, [tsc, "-p", "tsconfig.json"], { cwd: consumer, ...options });
  });
});
