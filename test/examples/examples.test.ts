/** Every example runs, so none of them rots. */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readdirSync } from "node:fs";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);
const dir = fileURLToPath(new URL("../../examples/", import.meta.url));
const expected: Record<string, RegExp> = {
  "wrap-function.ts": /^answer \d+ after 11 trajectories$/m,
  "pacore-events.ts": /run-start plan \[6, 3, 1\][\s\S]*round-end 3[\s\S]*run-end: answer \d+/,
  "compare-strategies.ts": /pacore +accuracy [\d.]+[\s\S]*self-consistency +accuracy [\d.]+/,
};

describe("examples", () => {
  const files = readdirSync(dir).filter((file) => file.endsWith(".ts"));
  it("each example has an expected output here", () => {
    assert.deepEqual(files.sort(), Object.keys(expected).sort());
  });
  for (const file of files) {
    it(`${file} runs`, async () => {
      const { stdout } = await run(process.execPath, ["--import", "tsx", `${dir}${file}`], {
        timeout: 60_000,
      });
      assert.match(stdout, expected[file]);
    });
  }
});
