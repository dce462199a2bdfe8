/**
 * The embedded model: pacore-tiny, a small reasoning model trained for the arith task
 * (models/arith/train.py), shipped in the repository and the package so that the main job runs
 * offline with no download.
 */
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

/**
 * Rows the embedded model decodes together. Wider than the ONNX default of 8, but not 32 or 64:
 * on 2 cores, with the KV cache no longer expanded per query head (models/common/tinylm.py),
 * PaCoRe `[16,4]` on 64 level-5 problems runs in 65–71 s at 16 rows against 78 s at 32, and
 * `bench/onnx-batch-size.ts` gives 16 rows ×1.44 the tokens/s of 32 (8 rows ×1.25): most likely
 * a smaller cache stays in the CPU's caches.
 */
export const EMBEDDED_MODEL_BATCH_SIZE = 16;

/**
 * The embedded model's directory: `models/pacore-tiny` at the package root, which is two levels
 * above this file in the sources and three in dist/. Undefined when it is not there.
 */
export function embeddedModelDir(): string | undefined {
  for (const relative of ["../../models/pacore-tiny/", "../../../models/pacore-tiny/"]) {
    const dir = fileURLToPath(new URL(relative, import.meta.url));
    if (existsSync(`${dir}config.json`)) return dir;
  }
  return undefined;
}
