/** Runs the `pacore` command: exit 2 for bad input, 1 for a failed run; one line of reason. */
import { PacoreError } from "../common/errors.js";
import { main } from "./main.js";

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`pacore: ${message.replace(/\s*\n\s*/g, " ")}\n`);
  process.exitCode = error instanceof PacoreError && error.code === "PACORE_ERR_CONFIG" ? 2 : 1;
}
