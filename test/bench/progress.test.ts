import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { benchmarkProgressBar } from "../../src/cli/progress.js";

function fakeStream(isTTY: boolean) {
  const writes: string[] = [];
  const stream = {
    isTTY,
    columns: 120,
    write: (text: string) => writes.push(text) > 0,
    cursorTo: () => true,
    clearLine: () => true,
    moveCursor: () => true,
    on: () => stream,
    removeListener: () => stream,
  };
  return { stream: stream as unknown as NodeJS.WriteStream, writes };
}

describe("benchmark progress bar", () => {
  it("shows runs done, accuracy so far, tokens/s and the ETA on a terminal", () => {
    const { stream, writes } = fakeStream(true);
    const bar = benchmarkProgressBar(stream);
    bar.update({
      done: 2,
      total: 10,
      reused: 0,
      correct: 1,
      completionTokens: 3000,
      elapsedMs: 2000,
    });
    bar.update({
      done: 4,
      total: 10,
      reused: 0,
      correct: 3,
      completionTokens: 6000,
      elapsedMs: 4000,
    });
    bar.stop();
    const text = writes.join("");
    assert.match(text, /4\/10 runs · accuracy 0\.750 · 1,500 tokens\/s · ETA 6s/);
  });

  it("writes nothing when stderr is not a terminal", () => {
    const { stream, writes } = fakeStream(false);
    const bar = benchmarkProgressBar(stream);
    bar.update({ done: 1, total: 2, reused: 0, correct: 1, completionTokens: 10, elapsedMs: 5 });
    bar.stop();
    assert.deepEqual(writes, []);
  });
});
