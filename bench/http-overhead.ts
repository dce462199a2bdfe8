/**
 * HTTP overhead of the OpenAI-compatible backend: N trajectories (one request each) against a
 * local fake server that answers every request after a fixed latency, at a fixed concurrency.
 * The server runs in a child process, so `process.cpuUsage()` here measures the client alone.
 *
 * Reports the achieved concurrency (time-weighted mean of requests in flight), the client's CPU
 * time per request, and the wall time against the ideal `latency × requests / concurrency`
 * (target: within 5%).
 *
 * `--baseline` sends the same requests through a bare undici `Pool` instead, to separate the
 * backend's own cost from what the machine (client and server sharing its cores) allows.
 *
 *   node --import tsx bench/http-overhead.ts [--requests 2000] [--concurrency 256] [--latency-ms 1000] [--stream] [--baseline]
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { Pool } from "undici";
import { openaiBackend } from "../src/backends/openai/index.js";
import { startFakeOpenAIServer } from "../test/helpers/fake-openai-server.js";

const { values } = parseArgs({
  options: {
    requests: { type: "string", default: "2000" },
    concurrency: { type: "string", default: "256" },
    "latency-ms": { type: "string", default: "1000" },
    baseline: { type: "boolean", default: false },
    stream: { type: "boolean", default: false },
    serve: { type: "boolean", default: false },
  },
});
const requests = Number(values.requests);
const concurrency = Number(values.concurrency);
const latencyMs = Number(values["latency-ms"]);

if (values.serve) {
  // Child: the fake server. Prints its base URL, then serves until stdin closes.
  const server = await startFakeOpenAIServer({
    flavour: "vllm",
    latencyMs,
    reply: () => "<think>ok</think>4",
  });
  process.stdout.write(`${JSON.stringify({ baseUrl: server.baseUrl })}\n`);
  process.stdin.resume();
  process.stdin.on("end", async () => {
    await server.close();
    process.exit(0);
  });
} else {
  await main();
}

async function main(): Promise<void> {
  const child = spawn(
    process.execPath,
    [
      ...process.execArgv,
      new URL(import.meta.url).pathname,
      "--serve",
      "--latency-ms",
      String(latencyMs),
    ],
    { stdio: ["pipe", "pipe", "inherit"] },
  );
  const lines = createInterface({ input: child.stdout });
  const [firstLine] = (await once(lines, "line")) as [string];
  const { baseUrl } = JSON.parse(firstLine) as { baseUrl: string };

  const backend = openaiBackend({
    baseUrls: [baseUrl],
    model: "fake-model",
    maxConcurrencyPerEndpoint: concurrency,
    nMode: "split",
    stream: values.stream,
  });
  const pool = new Pool(new URL(baseUrl).origin, { connections: concurrency + 4 });
  const bare = async (seed: number) => {
    const response = await pool.request({
      path: "/v1/chat/completions",
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        model: "fake-model",
        messages: [{ role: "user", content: "What is 2+2?" }],
        max_tokens: 64,
        seed,
      }),
    });
    JSON.parse(await response.body.text());
  };
  const generate = (seed: number) =>
    values.baseline
      ? bare(seed)
      : backend.generate({
          messages: [{ role: "user", content: "What is 2+2?" }],
          sampling: { temperature: 1, maxTokens: 64 },
          n: 1,
          seeds: [seed],
        });

  // Open the connections first, so that the measurement is of steady keep-alive traffic.
  await Promise.all(Array.from({ length: concurrency }, (_, i) => generate(i)));

  let inFlight = 0;
  let peak = 0;
  let area = 0;
  let lastChange = performance.now();
  const track = (delta: number) => {
    const now = performance.now();
    area += inFlight * (now - lastChange);
    lastChange = now;
    inFlight += delta;
    peak = Math.max(peak, inFlight);
  };

  let next = 0;
  let failures = 0;
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < requests) {
        const seed = next++;
        track(1);
        try {
          await generate(seed);
        } catch {
          failures++;
        } finally {
          track(-1);
        }
      }
    }),
  );
  const wallMs = performance.now() - started;
  track(0);
  const cpu = process.cpuUsage(cpuBefore);
  await backend.close();
  await pool.close();
  child.stdin.end();
  await once(child, "exit");

  const idealMs = (latencyMs * requests) / concurrency;
  const waveMs = latencyMs * Math.ceil(requests / concurrency);
  const ratio = wallMs / idealMs;
  const report = {
    requests,
    concurrency,
    latencyMs,
    client: values.baseline ? "bare undici Pool (baseline)" : "openaiBackend",
    stream: values.stream,
    failures,
    wallMs: Math.round(wallMs),
    idealMs: Math.round(idealMs),
    ratioToIdeal: Number(ratio.toFixed(4)),
    /** With whole waves of `concurrency` requests the floor is ceil(N / c) × latency. */
    waveFloorMs: waveMs,
    ratioToWaveFloor: Number((wallMs / waveMs).toFixed(4)),
    achievedConcurrency: Number((area / wallMs).toFixed(1)),
    peakConcurrency: peak,
    clientCpuMsPerRequest: Number(((cpu.user + cpu.system) / 1000 / requests).toFixed(3)),
    clientCpuUtilization: Number(((cpu.user + cpu.system) / 1000 / wallMs).toFixed(3)),
    withinTarget: ratio <= 1.05,
  };
  console.log(JSON.stringify(report, null, 2));
}
