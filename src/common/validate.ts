import type { z } from "zod";
import { ConfigError } from "./errors.js";

/** Throws unless `value` is a non-empty list of positive integers. */
export function checkPositiveIntegers(name: string, value: unknown): void {
  if (
    !Array.isArray(value) ||
    value.length === 0 ||
    !value.every((k) => Number.isInteger(k) && k > 0)
  ) {
    throw new ConfigError(
      `Expected \`${name}\` to be a list of positive integers, got \`${JSON.stringify(value)}\``,
    );
  }
}

/** One line per issue: ``Invalid run option `topP`: expected number > 0, got `0` ``. */
export function formatZodError(error: z.ZodError, what: string): string {
  return error.issues
    .map((issue) => {
      if (issue.code === "unrecognized_keys") {
        const prefix = issue.path.length > 0 ? `${issue.path.join(".")}.` : "";
        return `Unknown ${what} ${issue.keys.map((key) => `\`${prefix}${key}\``).join(", ")}`;
      }
      const key = issue.path.join(".") || "(root)";
      const got = "input" in issue ? `, got \`${JSON.stringify(issue.input)}\`` : "";
      return `Invalid ${what} \`${key}\`: ${issue.message}${got}`;
    })
    .join("; ");
}
