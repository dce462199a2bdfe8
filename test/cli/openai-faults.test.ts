/**
 * `pacore run --backend openai` against a real `node:http` server that hangs, trickles or fails:
 * the CLI as a user runs it, requests counted on the server.
 *
 * PACORE_TEST_TRICKLE_SECONDS sets how long the trickling stream lasts (default 8; run it once
 * with 30 to see a long generation pass a 2 s timeout).
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { runCli } from "../helpers/cli.js";
import {
  type FakeOpenAIServer,
  type FakeOpenAIServerOptions,
  openaiFlags,
  startFakeOpenAIServer,
} from "../helpers/fake-openai-server.js";

const PROBLEM = "What is 2+2?";
const TRICKLE_SECONDS = Number(process.env.PACORE_TEST_TRICKLE_SECONDS ?? 8);

const servers: FakeOpenAIServer[] = [];
after(() => Promise.all(servers.map((server) => server.close())));

async function serve(options: FakeOpenAIServerOptions): Promise<FakeOpenAIServer> {
  const server = await startFakeOpenAIServer(options);
  servers.push(server);
  return server;
}

async function pacoreRun(server: FakeOpenAIServer, flags: readonly string[]) {
  const started = performance.now();
  const result = await runCli([
    "run",
    ...openaiFlags(server),
    "--strategy",
    "single",
    ...flags,
    PROBLEM,
  ]);
  const endedAt = performance.now();
  assert.doesNotMatch(result.stderr, /MaxListenersExceededWarning/);
  return { ...result, endedAt, seconds: (endedAt - started) / 1000 };
}

describe("pacore run --backend openai under server faults", () => {
  it("a server that sends headers and then nothing: --timeout 2 --retries 0 exits 1 within 5 s, naming --timeout", async () => {
    let stalledAt = Number.NaN;
    const server = await serve({
      faults: () => {
        stalledAt = performance.now();
        return { kind: "stall" };
      },
    });
    const { code, stderr, seconds, endedAt } = await pacoreRun(server, [
      "--timeout",
      "2",
      "--retries",
      "0",
    ]);
    assert.equal(code, 1, stderr);
    // From the request to the exit: the 2 s of silence, undici's timer tick (up to 1 s) and the
    // exit. The CLI's start (tsx compiling the sources, about 2 s here) comes on top.
    const afterRequest = (endedAt - stalledAt) / 1000;
    assert.ok(
      afterRequest >= 2 && afterRequest < 3.5,
      `exited ${afterRequest.toFixed(2)} s after the request`,
    );
    assert.match(stderr, /PACORE_ERR_TIMEOUT/);
    assert.match(stderr, /No byte from .* for 2 s/);
    assert.match(stderr, /--timeout/);
    assert.equal(server.chatRequests().length, 1);
    console.log(
      `stalled server, --timeout 2: exit ${code} ${afterRequest.toFixed(2)} s after the request, ${seconds.toFixed(2)} s in all`,
    );
  });

  it(`a stream of one token a second for ${TRICKLE_SECONDS} s completes under --timeout 2`, async () => {
    const server = await serve({
      faults: () => ({ kind: "trickle", intervalMs: 1000, events: TRICKLE_SECONDS }),
    });
    const { code, stdout, stderr, seconds } = await pacoreRun(server, [
      "--timeout",
      "2",
      "--retries",
      "0",
      "--json",
    ]);
    assert.equal(code, 0, stderr);
    assert.equal(JSON.parse(stdout).answer, "4");
    assert.ok(seconds >= TRICKLE_SECONDS, `the stream took only ${seconds.toFixed(1)} s`);
    assert.equal(server.chatRequests().length, 1);
    console.log(
      `${TRICKLE_SECONDS} s stream, --timeout 2: exit ${code} after ${seconds.toFixed(2)} s`,
    );
  });

  for (const retries of [0, 3]) {
    it(`a server that always answers 500: --retries ${retries} makes exactly ${retries + 1} request(s) and says so`, async () => {
      const server = await serve({ faults: () => ({ kind: "status", status: 500 }) });
      const { code, stderr, seconds } = await pacoreRun(server, ["--retries", String(retries)]);
      assert.equal(code, 1, stderr);
      assert.equal(server.chatRequests().length, retries + 1);
      const attempts = retries + 1;
      assert.match(
        stderr,
        new RegExp(
          `after ${attempts} attempt${attempts === 1 ? "" : "s"} \\(PACORE_ERR_HTTP_STATUS: HTTP 500`,
        ),
      );
      console.log(
        `always 500, --retries ${retries}: ${attempts} request(s), ${seconds.toFixed(2)} s`,
      );
    });
  }
});
