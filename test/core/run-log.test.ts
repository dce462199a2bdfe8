import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { RunLogError } from "../../src/common/errors.js";
import { run } from "../../src/core/engine.js";
import { pacore } from "../../strategies/pacore.js";
import { scriptedBackend } from "../helpers/scripted-backend.js";

const CHILD = fileURLToPath(new URL("../helpers/resume-child.ts", import.meta.url));
const config = {
  strategy: pacore({ k: [8, 4] }),
  problem: "What is 17*23+5?",
  options: { seed: 3, concurrency: 4 },
};

async function tempLog(): Promise<string> {
  return join(await mkdtemp(join(tmpdir(), "pacore-log-")), "run.jsonl");
}

/** Starts the child and kill -9s it once `after` trajectories have ended. */
function runChildAndKill(log: string, after: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", CHILD, log], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    let ended = 0;
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk: string) => {
      ended += chunk.split("\n").filter((line) => line.startsWith("end ")).length;
      if (ended >= after) child.kill("SIGKILL");
    });
    child.on("error", reject);
    child.on("close", (_code, signal) => {
      if (signal !== "SIGKILL") reject(new Error(`child was not killed (ended ${ended})`));
      else resolve(ended);
    });
  });
}

describe("run log", () => {
  it("resume after kill -9 mid-run generates nothing twice and gives the same run", async () => {
    const log = await tempLog();
    const endedBeforeKill = await runChildAndKill(log, 10);
    const lines = (await readFile(log, "utf8")).trim().split("\n");
    const logged = lines.length - 1;
    assert.ok(logged >= endedBeforeKill, "every announced trajectory reached the file");
    assert.ok(logged < 13, "the run was killed before it finished");

    const backend = scriptedBackend();
    const resumed = await run({ ...config, backend, log });
    assert.equal(resumed.resumed, logged);
    assert.equal(backend.calls, 13 - logged, "only the missing trajectories are generated");
    assert.equal(resumed.calls, 13 - logged);

    const fresh = await run({ ...config, backend: scriptedBackend() });
    assert.deepEqual(
      resumed.rounds.map((round) => round.messages),
      fresh.rounds.map((round) => round.messages),
    );
    assert.equal(resumed.content, fresh.content);

    // A third run takes everything from the log.
    const again = scriptedBackend();
    const complete = await run({ ...config, backend: again, log });
    assert.equal(again.calls, 0);
    assert.equal(complete.resumed, 13);
  });

  it("refuses a log written with another config, naming what differs", async () => {
    const log = await tempLog();
    await run({ ...config, backend: scriptedBackend(), log });
    const before = await readFile(log, "utf8");
    await assert.rejects(
      run({ ...config, options: { seed: 4 }, backend: scriptedBackend(), log }),
      (error: unknown) => {
        assert.ok(error instanceof RunLogError);
        assert.match(error.message, /differs in seed/);
        return true;
      },
    );
    await assert.rejects(
      run({
        ...config,
        strategy: pacore({ k: [8, 4], template: "paper" }),
        backend: scriptedBackend(),
        log,
      }),
      /differs in template/,
    );
    // No --max-tokens: the budget a backend's own default gives is part of the identity too.
    await assert.rejects(
      run({ ...config, backend: scriptedBackend({ defaultMaxTokens: 100 }), log }),
      /differs in sampling/,
    );
    assert.equal(await readFile(log, "utf8"), before, "the log is left untouched");
  });

  it("ignores a partial last line and refuses a file that is not a run log", async () => {
    const log = await tempLog();
    await run({ ...config, backend: scriptedBackend(), log });
    const text = await readFile(log, "utf8");
    const lines = text.trim().split("\n");
    await writeFile(log, `${lines.slice(0, 5).join("\n")}\n{"type":"traj`);
    const backend = scriptedBackend();
    const result = await run({ ...config, backend, log });
    assert.equal(result.resumed, 4);
    assert.equal(backend.calls, 9);
    const third = scriptedBackend();
    assert.equal((await run({ ...config, backend: third, log })).resumed, 13);
    assert.equal(third.calls, 0, "the partial line was cut, not glued to the next one");

    const other = await tempLog();
    await writeFile(other, "hello\n");
    await assert.rejects(
      run({ ...config, backend: scriptedBackend(), log: other }),
      /corrupt line 1/,
    );
  });
});
