/**
 * `pacore run --backend onnx` end to end in a child process: the greedy token ids equal the
 * torch reference for the fixture (chat template applied to the one user turn).
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { DEFAULT_CASES, TINY_CHAT_DIR } from "./fixture.js";

const run = promisify(execFile);
const PACORE = fileURLToPath(new URL("../../../bin/pacore.js", import.meta.url));

async function pacore(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [PACORE, ...args], { timeout: 30_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

describe("pacore run --backend onnx", () => {
  test("--strategy single --temperature 0 --max-tokens 16 --json gives the reference tokenIds", async () => {
    const item = [...DEFAULT_CASES].sort((a, b) => b.greedyIds.length - a.greedyIds.length)[0];
    assert.equal(item.messages.length, 1);
    const prompt = item.messages[0].content as string;
    const { code, stdout, stderr } = await pacore([
      "run",
      "--backend",
      "onnx",
      "--model",
      TINY_CHAT_DIR,
      "--device",
      "cpu",
      "--strategy",
      "single",
      "--temperature",
      "0",
      "--max-tokens",
      "16",
      "--json",
      prompt,
    ]);
    assert.equal(code, 0, stderr);
    const result = JSON.parse(stdout);
    assert.equal(result.backend, "onnx");
    const [trajectory] = result.rounds[0].trajectories;
    assert.deepEqual(trajectory.tokenIds, item.greedyIds);
    assert.equal(trajectory.finishReason, item.finishReason);
    assert.equal(trajectory.usage.promptTokens, item.promptIds.length);
  });

  test("a directory without config.json fails with the file named", async () => {
    const { code, stderr } = await pacore([
      "run",
      "--backend",
      "onnx",
      "--model",
      fileURLToPath(new URL("../../fixtures/onnx/", import.meta.url)),
      "--device",
      "cpu",
      "--json",
      "hi",
    ]);
    assert.equal(code, 2);
    assert.match(stderr, /no config\.json/);
  });
});
