/**
 * Runs the `pacore` command. Exit codes: 0 done, 1 a run that failed, 2 bad input (nothing was
 * generated; the line says the fix), 130 interrupted. One line of reason on stderr.
 */
import { INPUT_ERROR_CODES, PacoreError } from "../common/errors.js";
import { main } from "./main.js";

/** The exit code of a failure, by its error code. */
function exitCodeOf(error: unknown): number {
  if (!(error instanceof PacoreError)) return 1;
  if (INPUT_ERROR_CODES.has(error.code)) return 2;
  return error.code === "PACORE_ERR_ABORTED" ? 130 : 1;
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`pacore: ${message.replace(/\s*\n\s*/g, " ")}\n`);
  process.exitCode = exitCodeOf(error);
}
