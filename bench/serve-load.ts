/**
 * Load test of `pacore serve` on loopback: N concurrent chat requests of `pacore:4` from the
 * official `openai` client against a server in a child process (simulated backend), printing
 * requests/s, p50/p99 latency and whether any request was lost. Baselines measured in the same
 * invocation: the same runs called in-process through `run` with no HTTP, and the same client
 * requests against a server that answers a canned completion at once (the client's and HTTP's
 * own cost; client and server share the machine's cores).
 *
 *   node --import tsx bench/serve-load.ts [--requests 200] [--latency-ms 0] [--stream] [--model pacore:4]
 */
import { fork } from "node:child_process";
import { createServer as createHttpServer } from "node:http";
import { parseArgs } from "node:util";
import OpenAI from "openai";
import { simulatedBackend } from "../src/backends/simulated/index.js";
import { run } from "../src/core/engine.js";
import { createServer } from "../src/serve/index.js";
import { pacore } from "../strategies/pacore.js";

const { values } = parseArgs({
  options: {
    requests: { type: "string", default: "200" },
    "latency-ms": { type: "string", default: "0" },
    model: { type: "string", default: "pacore:4" },
    stream: { type: "boolean", default: false },
    server: { type: "boolean", default: false },
  },
});
const requests = Number(values.requests);
const latencyMs = Number(values["latency-ms"]);
const backendOptions = { latencyMs, maxConcurrency: 4096 };

if (values.server) {
  // The child: the server, on the simulated backend; it reports its port to the parent.
  const server = createServer({
    backend: simulatedBackend(backendOptions),
    maxConcurrentRequests: requests + 1,
    log: false,
  });
  const { port } = await server.listen(0);
  // A server that answers every request with the same small completion at once: what the
  // client and HTTP alone cost.
  const canned = JSON.stringify({
    id: "chatcmpl-canned",
    object: "chat.completion",
    created: 0,
    model: "canned",
    choices: [{ index: 0, message: { role: "assistant", content: "4" }, finish_reason: "stop" }],
  });
  const bare = createHttpServer((request, response) => {
    request.resume();
    request.on("end", () => {
      response.writeHead(200, { "content-type": "application/json" });
      response.end(canned);
    });
  });
  await new Promise<void>((resolve) => bare.listen(0, "127.0.0.1", resolve));
  process.send?.({ port, barePort: (bare.address() as { port: number }).port });
  process.on("message", async () => {
    await server.close({ graceMs: 1000 });
    process.exit(0);
  });
} else {
  await main();
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function main(): Promise<void> {
  const problems = Array.from({ length: requests }, (_, i) => `What is ${17 + i}*23+${i % 9}?`);

  // Baseline: the same runs in this process, no HTTP.
  const baselineStart = performance.now();
  const backend = simulatedBackend(backendOptions);
  await Promise.all(
    problems.map((problem, seed) =>
      run({ backend, strategy: pacore({ k: [4] }), problem, options: { seed } }),
    ),
  );
  const baselineMs = performance.now() - baselineStart;

  const child = fork(
    new URL(import.meta.url),
    ["--server", "--requests", String(requests), "--latency-ms", String(latencyMs)],
    {
      execArgv: ["--import", "tsx"],
    },
  );
  const { port, barePort } = await new Promise<{ port: number; barePort: number }>(
    (resolve, reject) => {
      child.once("message", (message) => resolve(message as { port: number; barePort: number }));
      child.once("exit", (code) => reject(new Error(`the server exited with ${code}`)));
    },
  );
  const client = new OpenAI({
    baseURL: `http://127.0.0.1:${port}/v1`,
    apiKey: "none",
    maxRetries: 0,
    timeout: 120_000,
  });
  // Warm-up: a batch of a quarter of the requests, so that module loading and JIT in both
  // processes are not measured.
  await Promise.all(
    problems.slice(0, Math.ceil(requests / 4)).map((problem) =>
      client.chat.completions.create({
        model: values.model,
        messages: [{ role: "user", content: problem }],
      }),
    ),
  );

  // The client and HTTP alone: the same number of requests against the canned server.
  const bareClient = new OpenAI({
    baseURL: `http://127.0.0.1:${barePort}/v1`,
    apiKey: "none",
    maxRetries: 0,
  });
  const bareRequests = () =>
    Promise.all(
      problems.map((problem) =>
        bareClient.chat.completions.create({
          model: "canned",
          messages: [{ role: "user", content: problem }],
        }),
      ),
    );
  await bareRequests();
  const bareStart = performance.now();
  await bareRequests();
  const bareMs = performance.now() - bareStart;

  const latencies: number[] = [];
  const failures: string[] = [];
  let answered = 0;
  const start = performance.now();
  await Promise.all(
    problems.map(async (problem, seed) => {
      const began = performance.now();
      try {
        const messages = [{ role: "user" as const, content: problem }];
        let content = "";
        if (values.stream) {
          const stream = await client.chat.completions.create({
            model: values.model,
            messages,
            seed,
            stream: true,
          });
          for await (const chunk of stream) content += chunk.choices[0]?.delta?.content ?? "";
        } else {
          const completion = await client.chat.completions.create({
            model: values.model,
            messages,
            seed,
          });
          content = completion.choices[0].message.content ?? "";
        }
        if (content.trim() === "") throw new Error("empty answer");
        answered++;
        latencies.push(performance.now() - began);
      } catch (error) {
        failures.push((error as Error).message);
      }
    }),
  );
  const wallMs = performance.now() - start;
  child.send("stop");
  await new Promise((resolve) => child.once("exit", resolve));

  latencies.sort((a, b) => a - b);
  const rounds = values.model === "pacore:4" ? 2 : Number.NaN;
  console.log(
    `${requests} concurrent requests of ${values.model}${values.stream ? " (streaming)" : ""} over the simulated backend (latency ${latencyMs} ms per call), server in a child process, loopback`,
  );
  console.log(
    `answered ${answered}/${requests}, lost ${requests - answered}${failures.length > 0 ? ` (${[...new Set(failures)].slice(0, 3).join("; ")})` : ""}`,
  );
  console.log(
    `wall ${wallMs.toFixed(0)} ms, ${((answered / wallMs) * 1000).toFixed(1)} requests/s, latency p50 ${percentile(latencies, 50).toFixed(0)} ms, p99 ${percentile(latencies, 99).toFixed(0)} ms, max ${latencies.at(-1)?.toFixed(0)} ms`,
  );
  console.log(
    `baseline (the same ${requests} runs in-process, no HTTP): ${baselineMs.toFixed(0)} ms; HTTP wall / baseline ${(wallMs / baselineMs).toFixed(2)}×${latencyMs > 0 && Number.isFinite(rounds) ? `; ideal ${rounds * latencyMs} ms (${rounds} rounds × latency): ${(wallMs / (rounds * latencyMs)).toFixed(2)}×` : ""}`,
  );
  console.log(
    `the client and HTTP alone (the same ${requests} requests to a canned server): ${bareMs.toFixed(0)} ms; HTTP wall / (canned + in-process) ${(wallMs / (bareMs + baselineMs)).toFixed(2)}×`,
  );
  if (answered !== requests) process.exitCode = 1;
}
