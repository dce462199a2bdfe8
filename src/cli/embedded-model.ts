/**
 * The embedded model: pacore-tiny, a small reasoning model trained for the arith task
 * (models/arith/train.py), shipped in the repository and the package so that the main job runs
 * offline with no download.
 */
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

/**
 * Rows the embedded model decodes together. Wider than the ONNX default of 8 because the model is
 * small, but not 64: on 2 cores, 32 rows of level-5 solutions decode ×1.15 faster than 64
 * (`bench/onnx-batch-size.ts`), most likely because their KV cache stays in the CPU's cache.
 */
export const EMBEDDED_MODEL_BATCH_SIZE = 32;

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
