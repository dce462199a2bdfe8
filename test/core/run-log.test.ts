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
  });

  it("never writes to a file that is not a run log, whatever it holds", async () => {
    for (const content of [
      "a\nb",
      "hello\n",
      "null",
      "null\n",
      "[1,2]\n{}",
      '{"type":"pacore-run"}',
    ]) {
      const other = await tempLog();
      await writeFile(other, content);
      const backend = scriptedBackend();
      await assert.rejects(run({ ...config, backend, log: other }), (error: unknown) => {
        assert.ok(error instanceof RunLogError, String(error));
        assert.match(error.message, /is not a pacore run log; |is not a pacore run log \(/);
        return true;
      });
      assert.equal(await readFile(other, "utf8"), content, `${JSON.stringify(content)} unchanged`);
      assert.equal(backend.calls, 0);
    }
  });

  it("a corrupt line in the middle of a log is refused and the log left as it was", async () => {
    const log = await tempLog();
    await run({ ...config, backend: scriptedBackend(), log });
    const lines = (await readFile(log, "utf8")).split("\n");
    lines[3] = "{oops";
    const broken = `${lines.join("\n")}{"type":"traj`;
    await writeFile(log, broken);
    await assert.rejects(run({ ...config, backend: scriptedBackend(), log }), /corrupt line 4/);
    assert.equal(await readFile(log, "utf8"), broken);
  });

  it("a last line whole but for its newline is kept, not cut", async () => {
    const log = await tempLog();
    await run({ ...config, backend: scriptedBackend(), log });
    const text = await readFile(log, "utf8");
    await writeFile(log, text.trimEnd());
    const backend = scriptedBackend();
    assert.equal((await run({ ...config, backend, log })).resumed, 13);
    assert.equal(backend.calls, 0);
    assert.equal(await readFile(log, "utf8"), text);
  });

  it("creates a missing folder; a folder or a path under a file is refused with the fix", async () => {
    const base = await mkdtemp(join(tmpdir(), "pacore-log-"));
    const nested = join(base, "a", "b", "run.jsonl");
    assert.equal((await run({ ...config, backend: scriptedBackend(), log: nested })).calls, 13);
    await assert.rejects(
      run({ ...config, backend: scriptedBackend(), log: base }),
      /is a folder; pass a file path such as .*run\.jsonl/,
    );
    await assert.rejects(
      run({ ...config, backend: scriptedBackend(), log: join(nested, "x.jsonl") }),
      (error: unknown) =>
        error instanceof RunLogError && /pass another --log path/.test(error.message),
    );
  });
});
