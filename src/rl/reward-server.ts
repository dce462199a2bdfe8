/**
 * The reward server: OpenRLHF's remote reward protocol, so a cluster's rollouts can be scored by
 * any pacore reward (judges included). `POST /get_reward` with
 * `{ "query": [prompt + response, …], "prompts": [prompt, …], "labels": [label, …] }` answers
 * `{ "rewards": [...], "scores": [...], "extra_logs": { part: [...] } }`: OpenRLHF reads
 * `rewards` for the advantage, `scores` (0–1) for dynamic filtering and logs `extra_logs`.
 * The response of each item is `query` with its prompt cut off the front. Requests are
 * validated with zod; rewards run under one concurrency bound; loopback by default.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import pLimit from "p-limit";
import { z } from "zod";
import { describeError } from "../common/errors.js";
import { formatZodError } from "../common/validate.js";
import type { Reward, RewardResult } from "./rewards/types.js";

/** A request as OpenRLHF sends it (extra keys such as `datasources` are accepted and ignored). */
export const RewardRequestSchema = z
  .object({
    query: z.array(z.string()).min(1),
    prompts: z.array(z.string()).optional(),
    labels: z.array(z.string().nullable()).optional(),
  })
  .loose()
  .superRefine((body, context) => {
    for (const key of ["prompts", "labels"] as const) {
      const list = body[key];
      if (list !== undefined && list.length !== body.query.length) {
        context.addIssue({
          code: "custom",
          path: [key],
          message: `Expected ${body.query.length} ${key} (one per query), got ${list.length}`,
        });
      }
    }
  });

export type RewardRequest = z.infer<typeof RewardRequestSchema>;

/** Options of the reward server. */
export interface RewardServerOptions {
  readonly reward: Reward;
  /** Rewards computed at once across all requests (default 8). */
  readonly maxConcurrency?: number;
  /** Largest request body in bytes (default 64 MiB: a rollout batch of long responses). */
  readonly maxBodyBytes?: number;
  /** One line per request (default: none). */
  readonly log?: (line: string) => void;
}

/** The response text of an item: the query with its prompt cut off the front. */
export function responseOf(query: string, prompt: string | undefined): string {
  if (prompt !== undefined && prompt !== "" && query.startsWith(prompt))
    return query.slice(prompt.length);
  return query;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

async function readBody(req: IncomingMessage, maxBytes: number): Promise<string | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) return null;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** Scores one request: rewards, scores and the parts as `extra_logs` columns. */
export async function scoreRequest(
  reward: Reward,
  request: RewardRequest,
  limit: <T>(fn: () => Promise<T>) => Promise<T> = (fn) => fn(),
  signal?: AbortSignal,
) {
  const results: RewardResult[] = await Promise.all(
    request.query.map((query, i) =>
      limit(() => {
        const prompt = request.prompts?.[i];
        const label = request.labels?.[i];
        return reward({
          response: responseOf(query, prompt),
          ...(label !== undefined && label !== null && label !== "" && { groundTruth: label }),
          // The problem a reward sees is the prompt as sent (chat-template markup included).
          ...(prompt !== undefined && { problem: prompt }),
          ...(signal !== undefined && { signal }),
        });
      }),
    ),
  );
  const names = [...new Set(results.flatMap((result) => Object.keys(result.parts)))];
  const extra_logs: Record<string, number[]> = {};
  for (const name of names) extra_logs[name] = results.map((result) => result.parts[name] ?? 0);
  const rewards = results.map((result) => result.score);
  return { rewards, scores: rewards, extra_logs };
}

/** A running reward server. */
export interface RewardServer {
  readonly server: Server;
  /** Listens on `host` (default 127.0.0.1, loopback only) and `port` (default 5000; 0 = free). */
  listen(port?: number, host?: string): Promise<AddressInfo>;
  close(): Promise<void>;
}

/**
 * Creates the reward server.
 *
 * @example
 * ```ts
 * const server = createRewardServer({ reward: namedReward("math", ["completeness"]) });
 * await server.listen(5000); // OpenRLHF: --remote_rm_url http://127.0.0.1:5000/get_reward
 * ```
 */
export function createRewardServer(options: RewardServerOptions): RewardServer {
  const limit = pLimit(options.maxConcurrency ?? 8);
  const maxBodyBytes = options.maxBodyBytes ?? 64 * 1024 * 1024;
  const server = createServer(async (req, res) => {
    const started = performance.now();
    const url = new URL(req.url ?? "/", "http://localhost");
    const done = (status: number, body: unknown, items = 0) => {
      send(res, status, body);
      options.log?.(
        `${req.method} ${url.pathname} ${status} ${items} items ${Math.round(performance.now() - started)} ms`,
      );
    };
    if (url.pathname === "/health") return done(200, { status: "ok" });
    if (url.pathname !== "/get_reward") {
      return done(404, { error: `No route ${url.pathname}; POST /get_reward` });
    }
    if (req.method !== "POST") return done(405, { error: "Use POST /get_reward" });
    const controller = new AbortController();
    res.on("close", () => {
      if (!res.writableFinished) controller.abort();
    });
    try {
      const text = await readBody(req, maxBodyBytes);
      if (text === null) return done(413, { error: `Request body over ${maxBodyBytes} bytes` });
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        return done(400, { error: "Request body is not JSON" });
      }
      const parsed = RewardRequestSchema.safeParse(json, { reportInput: true });
      if (!parsed.success) {
        return done(400, { error: formatZodError(parsed.error, "field") });
      }
      const body = await scoreRequest(options.reward, parsed.data, limit, controller.signal);
      return done(200, body, parsed.data.query.length);
    } catch (error) {
      const { code, message } = describeError(error);
      return done(code === "PACORE_ERR_CONFIG" ? 400 : 500, { error: message, code });
    }
  });
  return {
    server,
    listen(port = 5000, host = "127.0.0.1") {
      return new Promise((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, host, () => {
          server.off("error", reject);
          resolve(server.address() as AddressInfo);
        });
      });
    },
    close() {
      return new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
    },
  };
}
