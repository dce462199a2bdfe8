import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { attachProgress } from "../../src/cli/progress.js";
import { Run } from "../../src/core/engine.js";
import { pacore } from "../../strategies/pacore.js";
import { scriptedBackend } from "../helpers/scripted-backend.js";

function fakeStream(isTTY: boolean) {
  const writes: string[] = [];
  const stream = { isTTY, write: (text: string) => writes.push(text) > 0 };
  return { stream: stream as unknown as NodeJS.WriteStream, writes };
}

describe("progress", () => {
  it("draws rounds and trajectories on a terminal, and clears the line at the end", async () => {
    const { stream, writes } = fakeStream(true);
    const run = new Run({
      backend: scriptedBackend(),
      strategy: pacore({ k: [3] }),
      problem: "2+2?",
    });
    const detach = attachProgress(run, stream);
    await run.start();
    detach();
    assert.ok(writes.some((text) => /round 1\/2 · 3\/3 trajectories/.test(text)));
    assert.ok(writes.some((text) => /round 2\/2 · 1\/1 trajectories/.test(text)));
    assert.equal(writes[writes.length - 1], "\r\u001b[2K");
  });

  it("writes nothing when stderr is not a terminal", async () => {
    const { stream, writes } = fakeStream(false);
    const run = new Run({
      backend: scriptedBackend(),
      strategy: pacore({ k: [2] }),
      problem: "2+2?",
    });
    attachProgress(run, stream)();
    await run.start();
    assert.deepEqual(writes, []);
  });
});
