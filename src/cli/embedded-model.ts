/**
 * The embedded model: pacore-tiny, a small reasoning model trained for the arith task
 * (models/arith/train.py), shipped in the repository and the package so that the main job runs
 * offline with no download.
 */
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** Rows the embedded model decodes together: it is small, so wide batches pay on a CPU. */
export const EMBEDDED_MODEL_BATCH_SIZE = 64;

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
