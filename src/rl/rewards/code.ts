/**
 * Code reward: the fraction of test cases a program passes, each run in a subprocess with a time
 * limit, a memory limit and the network cut (`unshare -n`, a network namespace of its own with
 * only a downed loopback). Where the system cannot make a namespace (no `unshare`, or no
 * permission: a container without CAP_SYS_ADMIN and without user namespaces), the reward refuses
 * to run code unless told `network: "allow"`, and says so.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { ConfigError } from "../../common/errors.js";
import { splitReasoning } from "../../common/think.js";
import { formatZodError } from "../../common/validate.js";
import type { Reward } from "./types.js";

export const CODE_LANGUAGES = ["python", "javascript"] as const;
export type CodeLanguage = (typeof CODE_LANGUAGES)[number];

/** A ground truth for code: test cases run on stdin/stdout. */
export const CodeTestsSchema = z.union([
  z.object({
    language: z.enum(CODE_LANGUAGES).optional(),
    tests: z.array(z.object({ input: z.string().default(""), output: z.string() })).min(1),
  }),
  z.array(z.object({ input: z.string().default(""), output: z.string() })).min(1),
]);

/** Options of `codeReward`. */
export interface CodeRewardOptions {
  /** Language when the ground truth does not name one (default python). */
  readonly language?: CodeLanguage;
  /** Wall-clock limit per test case in milliseconds (default 5000). */
  readonly timeoutMs?: number;
  /** Address-space (python) or heap (javascript) limit in MiB (default 512). */
  readonly memoryMb?: number;
  /**
   * `cut` (default): run each program in its own network namespace, and refuse to run code where
   * the system cannot make one. `allow`: run without cutting the network (trusted code only).
   */
  readonly network?: "cut" | "allow";
  /** The interpreters (default `python3`, `node`). */
  readonly python?: string;
  readonly node?: string;
}

/** How this machine cuts the network for a child, or why it cannot. */
export type NetworkIsolation =
  | { readonly available: true; readonly prefix: readonly string[] }
  | { readonly available: false; readonly reason: string };

let isolation: NetworkIsolation | undefined;

/**
 * Whether `unshare -n` works here (tried once): as root it needs CAP_SYS_ADMIN, otherwise user
 * namespaces (`unshare -rn`). The answer is cached for the process.
 */
export function networkIsolation(): NetworkIsolation {
  if (isolation) return isolation;
  for (const prefix of [
    ["unshare", "-n", "--"],
    ["unshare", "-rn", "--"],
  ]) {
    const probe = spawnSync(prefix[0], [...prefix.slice(1), "true"], { stdio: "ignore" });
    if (probe.status === 0) {
      isolation = { available: true, prefix };
      return isolation;
    }
  }
  isolation = {
    available: false,
    reason:
      "`unshare -n` and `unshare -rn` both failed here (util-linux missing, or no CAP_SYS_ADMIN and user namespaces disabled)",
  };
  return isolation;
}

/** The last fenced code block of the response's conclusion, or null. */
export function extractCode(response: string): string | null {
  const body = splitReasoning(response).content;
  const blocks = [...body.matchAll(/```[\w+-]*[^\n]*\n([\s\S]*?)```/g)];
  const last = blocks.at(-1)?.[1];
  return last === undefined || last.trim() === "" ? null : last;
}

interface ProgramRun {
  readonly stdout: string;
  readonly exitCode: number | null;
  readonly timedOut: boolean;
}

const MAX_OUTPUT_BYTES = 1 << 20;

function runProgram(
  argv: readonly string[],
  input: string,
  timeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<ProgramRun> {
  return new Promise((resolve) => {
    const child = spawn(argv[0], argv.slice(1), {
      stdio: ["pipe", "pipe", "ignore"],
      detached: true, // its own process group, so a kill takes its children too
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: tmpdir(), LANG: "C.UTF-8" },
    });
    let stdout = "";
    let bytes = 0;
    let timedOut = false;
    const kill = () => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
      } catch {}
    };
    const timer = setTimeout(() => {
      timedOut = true;
      kill();
    }, timeoutMs);
    signal?.addEventListener("abort", kill, { once: true });
    child.stdout.on("data", (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > MAX_OUTPUT_BYTES) kill();
      else stdout += chunk.toString("utf8");
    });
    child.stdin.on("error", () => {}); // a program that exits without reading its input
    child.stdin.end(input);
    child.on("close", (exitCode) => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", kill);
      resolve({ stdout, exitCode, timedOut });
    });
    child.on("error", () => {
      clearTimeout(timer);
      resolve({ stdout: "", exitCode: null, timedOut: false });
    });
  });
}

const normalizeOutput = (text: string) =>
  text
    .replace(/\r\n/g, "\n")
    .split("\n")
    .map((line) => line.trimEnd())
    .join("\n")
    .trim();

/**
 * The fraction of test cases passed: the ground truth is JSON, either
 * `{ "language": "python", "tests": [{ "input": "1 2\n", "output": "3\n" }] }` or the bare list.
 * The program is the response's last fenced code block; it reads stdin and writes stdout, which
 * must match the expected output up to trailing whitespace. Parts: `code` (the fraction),
 * `timeouts`, `networkCut` (1 when the network was cut).
 *
 * @example
 * const reward = codeReward({ timeoutMs: 2000, memoryMb: 256 });
 * await reward({ response: "```python\nprint(sum(map(int, input().split())))\n```",
 *   groundTruth: JSON.stringify([{ input: "1 2", output: "3" }]) }); // score 1
 */
export function codeReward(options: CodeRewardOptions = {}): Reward {
  const timeoutMs = options.timeoutMs ?? 5000;
  const memoryMb = options.memoryMb ?? 512;
  const network = options.network ?? "cut";
  if (!(timeoutMs > 0) || !(memoryMb > 0)) {
    throw new ConfigError(
      `Expected a positive timeoutMs and memoryMb, got \`${timeoutMs}\` and \`${memoryMb}\``,
    );
  }
  return async (input) => {
    let parsed: z.output<typeof CodeTestsSchema>;
    try {
      parsed = CodeTestsSchema.parse(JSON.parse(input.groundTruth ?? ""));
    } catch (error) {
      const detail =
        error instanceof z.ZodError ? formatZodError(error, "test") : (error as Error).message;
      throw new ConfigError(
        `The code reward needs test cases as JSON ({ "tests": [{ "input", "output" }] }) in the ground truth: ${detail}`,
        { cause: error },
      );
    }
    const tests = Array.isArray(parsed) ? parsed : parsed.tests;
    const language =
      (Array.isArray(parsed) ? undefined : parsed.language) ?? options.language ?? "python";
    let prefix: readonly string[] = [];
    if (network === "cut") {
      const sandbox = networkIsolation();
      if (!sandbox.available) {
        throw new ConfigError(
          `The code reward cannot cut the network here: ${sandbox.reason}. Run it where \`unshare -n\` works, or pass network: "allow" (--code-network allow) for trusted code.`,
        );
      }
      prefix = sandbox.prefix;
    }
    const code = extractCode(input.response);
    const networkCut = network === "cut" ? 1 : 0;
    if (code === null) {
      return {
        score: 0,
        parts: { code: 0, timeouts: 0, networkCut },
        reason: "no fenced code block in the response",
      };
    }
    const dir = await mkdtemp(join(tmpdir(), "pacore-code-"));
    try {
      const file = join(dir, language === "python" ? "main.py" : "main.mjs");
      await writeFile(file, code);
      const seconds = Math.ceil(timeoutMs / 1000) + 1;
      const argv =
        language === "python"
          ? [
              ...prefix,
              "prlimit",
              `--as=${memoryMb * 1024 * 1024}`,
              `--cpu=${seconds}`,
              "--",
              options.python ?? "python3",
              "-I",
              file,
            ]
          : [
              ...prefix,
              "prlimit",
              `--cpu=${seconds}`,
              "--",
              options.node ?? "node",
              `--max-old-space-size=${memoryMb}`,
              file,
            ];
      let passed = 0;
      let timeouts = 0;
      for (const test of tests) {
        if (input.signal?.aborted) break;
        const result = await runProgram(argv, test.input, timeoutMs, input.signal);
        if (result.timedOut) timeouts++;
        if (
          !result.timedOut &&
          result.exitCode === 0 &&
          normalizeOutput(result.stdout) === normalizeOutput(test.output)
        ) {
          passed++;
        }
      }
      const score = passed / tests.length;
      return {
        score,
        parts: { code: score, timeouts, networkCut },
        ...(timeouts > 0 && {
          reason: `${timeouts} of ${tests.length} tests ran past ${timeoutMs} ms`,
        }),
      };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  };
}
