/**
 * The workload of PaCoRe's first round on the embedded model's task, shared by the ONNX decoding
 * benches: arith problems, 16 samples each at temperature 1, all submitted at once (as
 * `pacore bench` does with its problems in flight), with fixed seeds so that runs compare.
 */
import { onnxBackend } from "../src/backends/onnx/index.js";
import type { ArithProblem } from "../src/tasks/arith.js";

export const SAMPLES = 16;

export interface FirstRound {
  readonly seconds: number;
  /** Generated tokens, all samples. */
  readonly tokens: number;
  /** Each sample's token ids, comma-joined, in problem then sample order. */
  readonly ids: readonly string[];
}

/** Runs the first round of every problem on a fresh CPU backend and times it. */
export async function runFirstRound(
  modelDir: string,
  maxBatchSize: number,
  problems: readonly ArithProblem[],
): Promise<FirstRound> {
  const backend = await onnxBackend({ modelDir, device: "cpu", maxBatchSize });
  try {
    const started = performance.now();
    const results = await Promise.all(
      problems.map((problem, p) =>
        backend.generate({
          messages: [{ role: "user", content: problem.prompt }],
          sampling: { temperature: 1 },
          n: SAMPLES,
          seeds: Array.from({ length: SAMPLES }, (_, i) => p * SAMPLES + i),
        }),
      ),
    );
    const seconds = (performance.now() - started) / 1000;
    const completions = results.flatMap((result) => result.completions);
    const tokens = completions.reduce((sum, c) => sum + c.usage.completionTokens, 0);
    return { seconds, tokens, ids: completions.map((c) => c.tokenIds?.join(",") ?? "") };
  } finally {
    await backend.close();
  }
}
