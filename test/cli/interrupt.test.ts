/**
 * The probes of the hardening issue on the real CLI and the embedded model: a file that is not
 * a run log is never touched; Ctrl-C mid-round exits 130 and `--json` still holds every
 * trajectory finished (and logged) so far; `--context` past the model's window is refused.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { runCli, startCli } from "../helpers/cli.js";

function loggedTrajectories(log: string): number {
  if (!existsSync(log)) return 0;
  return readFileSync(log, "utf8")
    .split("\n")
    .filter((line) => line.startsWith('{"type":"trajectory"')).length;
}

describe("pacore run: interrupts and files", () => {
  it("--log on a file that is not a run log: exit 2, the file byte for byte unchanged", async () => {
    const dir = await mkdtemp(join(tmpdir(), "pacore-notes-"));
    for (const content of ["a\nb", "null", "{}\n", ""]) {
      const notes = join(dir, "notes.txt");
      await writeFile(notes, content);
      const args = ["run", "--backend", "simulated", "--log", notes, "What is 2+2?"];
      const { code, stderr } = await runCli(args);
      if (content === "") {
        assert.equal(code, 0, "an empty file holds nothing to harm: it becomes the log");
        continue;
      }
      assert.equal(code, 2, stderr);
      assert.match(stderr, /is not a pacore run log/);
      assert.equal(readFileSync(notes, "utf8"), content);
    }
    const { code, stderr } = await runCli(["run", "--backend", "simulated", "--log", dir, "2+2?"]);
    assert.equal(code, 2);
    assert.match(stderr, /is a folder; pass a file path/);
  });

  it("SIGINT mid-round with --json: exit 130, calls = the trajectories in the log, with usage", async () => {
    const log = join(await mkdtemp(join(tmpdir(), "pacore-int-")), "run.jsonl");
    const { child, done } = startCli([
      "run",
      "--strategy",
      "self-consistency",
      "--k",
      "64",
      "--json",
      "--log",
      log,
      "What is 17*23+5?",
    ]);
    // Interrupt once a few round-1 trajectories are in the log: mid-round by construction.
    const poll = setInterval(() => {
      if (loggedTrajectories(log) >= 5) {
        clearInterval(poll);
        child.kill("SIGINT");
      }
    }, 20);
    const { code, stdout, stderr } = await done;
    clearInterval(poll);
    assert.equal(code, 130, stderr);
    assert.match(stderr, /Interrupted \(SIGINT\); run the same command again to resume/);
    const result = JSON.parse(stdout);
    assert.equal(result.error.code, "PACORE_ERR_ABORTED");
    const logged = loggedTrajectories(log);
    assert.ok(logged >= 5 && logged < 64, `interrupted mid-round (${logged} logged)`);
    assert.equal(result.calls, logged);
    const finished = result.rounds.flatMap(
      (round: { trajectories: { usage: { completionTokens: number } }[] }) => round.trajectories,
    );
    assert.equal(finished.length, logged);
    const completion = finished.reduce(
      (sum: number, t: { usage: { completionTokens: number } }) => sum + t.usage.completionTokens,
      0,
    );
    assert.ok(completion > 0);
    assert.equal(result.usage.completionTokens, completion);
  });

  it("--context above the ONNX model's window: exit 2 naming the window", async () => {
    const { code, stderr } = await runCli(["run", "--context", "4096", "What is 2+2?"]);
    assert.equal(code, 2, stderr);
    assert.match(stderr, /at most the model's window of 1,024 tokens.*--context 1024 or less/);
  });
});
