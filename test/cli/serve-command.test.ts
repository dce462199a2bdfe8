/** `pacore serve` as a user runs it: a child process, the official client, SIGTERM. */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import OpenAI from "openai";
import { SERVE_FLAGS, ServeCommandSchema } from "../../src/cli/serve-command.js";
import { runCli } from "../helpers/cli.js";

const BIN = fileURLToPath(new URL("../../bin/pacore.js", import.meta.url));

interface Serving {
  readonly child: ChildProcess;
  readonly baseURL: string;
  stderr(): string;
  exited: Promise<number | null>;
}

/** Starts `pacore serve ARGS` and resolves once it prints its address. */
function serve(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<Serving> {
  const child = spawn(process.execPath, [BIN, "serve", "--port", "0", ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...env },
  });
  let stderr = "";
  const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
  const killer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  exited.then(() => clearTimeout(killer));
  return new Promise((resolve, reject) => {
    child.stderr.on("data", (data) => {
      stderr += data;
      const match = /listening on (http:\/\/\S+\/v1)/.exec(stderr);
      if (match) resolve({ child, baseURL: match[1], stderr: () => stderr, exited });
    });
    exited.then((code) => reject(new Error(`pacore serve exited with ${code}: ${stderr}`)));
  });
}

describe("pacore serve", () => {
  it("every schema key has a flag and every flag a key", () => {
    assert.deepEqual(Object.keys(SERVE_FLAGS).sort(), Object.keys(ServeCommandSchema.shape).sort());
  });

  it("serves the official client on loopback, logs one line per request, stops on SIGTERM", async () => {
    const serving = await serve(["--backend", "simulated", "--k", "3", "--api-key-env", "KEY"], {
      KEY: "test-key",
    });
    assert.match(serving.baseURL, /^http:\/\/127\.0\.0\.1:\d+\/v1$/);
    const client = new OpenAI({ baseURL: serving.baseURL, apiKey: "test-key", maxRetries: 0 });
    const completion = await client.chat.completions.create({
      model: "pacore",
      messages: [{ role: "user", content: "What is 17*23+5?" }],
    });
    const extra = (completion as unknown as { pacore: { plan: number[] } }).pacore;
    assert.deepEqual(extra.plan, [3, 1], "--k sets what the model `pacore` runs");
    serving.child.kill("SIGTERM");
    assert.equal(await serving.exited, 0, serving.stderr());
    const lines = serving.stderr().split("\n");
    assert.ok(
      lines.some((line) =>
        /POST \/v1\/chat\/completions model=pacore status=200 rounds=2 tokens=\d+ ms=/.test(line),
      ),
      serving.stderr(),
    );
    assert.doesNotMatch(serving.stderr(), /test-key|17\*23/);
    assert.match(serving.stderr(), /shutting down/);
  });

  it("--log-prompts adds the prompt to the log line", async () => {
    const serving = await serve(["--backend", "simulated", "--log-prompts"]);
    const client = new OpenAI({ baseURL: serving.baseURL, apiKey: "none", maxRetries: 0 });
    await client.chat.completions.create({
      model: "single",
      messages: [{ role: "user", content: "What is 6*7?" }],
    });
    serving.child.kill("SIGTERM");
    assert.equal(await serving.exited, 0);
    assert.match(serving.stderr(), /model=single status=200 .* prompt="What is 6\*7\?"/);
  });

  it("an unset key variable is a startup error naming it; bad strategy flags fail at startup", async () => {
    const unset = await runCli(
      ["serve", "--backend", "simulated", "--port", "0", "--api-key-env", "PACORE_NO_SUCH_VAR"],
      { env: { PACORE_NO_SUCH_VAR: "" } },
    );
    assert.equal(unset.code, 2);
    assert.match(unset.stderr, /`PACORE_NO_SUCH_VAR` is not set/);
    const verifier = await runCli([
      "serve",
      "--backend",
      "simulated",
      "--port",
      "0",
      "--strategy",
      "best-of-n",
    ]);
    assert.equal(verifier.code, 2);
    assert.match(verifier.stderr, /--verifier/);
  });
});
