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
