/**
 * CLI flags from zod schemas: each command has one schema (the source of truth) and a table that
 * gives every schema key its flag. A test checks that no key lacks a flag and no flag lacks a key.
 */
import { parseArgs } from "node:util";
import type { z } from "zod";
import { ConfigError } from "../common/errors.js";
import { formatZodError } from "../common/validate.js";

/** How one schema key is spelled and read on the command line. */
export interface FlagSpec {
  /** `string` flags take a value; `boolean` flags don't. */
  readonly type: "string" | "boolean";
  /** Repeatable: the values are collected into a list. */
  readonly multiple?: boolean;
  /** One line for `--help`. */
  readonly description: string;
  /** Placeholder in `--help`, such as `N` or `PATH`. */
  readonly value?: string;
  /** Turns the raw text into the value the schema expects (numbers, lists). */
  readonly parse?: (text: string, flag: string) => unknown;
  /** Read from the positional argument instead of a flag. */
  readonly positional?: boolean;
}

export type FlagTable<Keys extends string> = Record<Keys, FlagSpec>;

/** `maxTokens` → `max-tokens`. */
export function flagName(key: string): string {
  return key.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);
}

export function parseNumber(text: string, flag: string): number {
  const value = Number(text);
  if (text.trim() === "" || !Number.isFinite(value)) {
    throw new ConfigError(`Expected \`--${flag}\` to be a number, got \`${text}\``);
  }
  return value;
}

/** `16,4` → `[16, 4]`. */
export function parseIntegerList(text: string, flag: string): number[] {
  const parts = text.split(",").map((part) => part.trim());
  const values = parts.map(Number);
  if (parts.some((part) => part === "") || !values.every(Number.isInteger)) {
    throw new ConfigError(
      `Expected \`--${flag}\` to be a comma-separated list of integers such as 16,4, got \`${text}\``,
    );
  }
  return values;
}

/**
 * Parses `argv` against a flag table and validates the result with the schema. Unknown flags and
 * bad values throw a `ConfigError` that names the flag.
 */
export function parseCommand<Schema extends z.ZodType>(
  argv: readonly string[],
  schema: Schema,
  table: FlagTable<string>,
): z.output<Schema> {
  const options: Record<string, { type: "string" | "boolean"; multiple?: boolean }> = {};
  const keyOfFlag = new Map<string, string>();
  for (const [key, spec] of Object.entries(table)) {
    if (spec.positional) continue;
    const flag = flagName(key);
    options[flag] = { type: spec.type, ...(spec.multiple && { multiple: true }) };
    keyOfFlag.set(flag, key);
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: [...argv], options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new ConfigError(`${(error as Error).message}. Run \`pacore --help\` for the flags.`, {
      cause: error,
    });
  }
  const input: Record<string, unknown> = {};
  for (const [flag, raw] of Object.entries(parsed.values)) {
    const key = keyOfFlag.get(flag)!;
    const spec = table[key];
    const read = (text: unknown) =>
      spec.parse && typeof text === "string" ? spec.parse(text, flag) : text;
    input[key] = Array.isArray(raw) ? raw.map(read) : read(raw);
  }
  const positionalKey = Object.keys(table).find((key) => table[key].positional);
  if (parsed.positionals.length > 0) {
    if (!positionalKey || parsed.positionals.length > 1) {
      throw new ConfigError(
        `Expected at most one positional argument, got ${parsed.positionals.length}: ${parsed.positionals.map((p) => JSON.stringify(p)).join(" ")} (quote a prompt with spaces)`,
      );
    }
    input[positionalKey] = parsed.positionals[0];
  }
  const result = schema.safeParse(input, { reportInput: true });
  if (!result.success) {
    const message = formatZodError(result.error, "flag").replace(
      /`([A-Za-z.]+)`/,
      (_, key: string) => `\`--${flagName(key)}\``,
    );
    throw new ConfigError(message, { cause: result.error });
  }
  return result.data;
}

/** The flag lines of `--help`. */
export function describeFlags(table: FlagTable<string>): string {
  const rows = Object.entries(table)
    .filter(([, spec]) => !spec.positional)
    .map(([key, spec]) => {
      const left = `--${flagName(key)}${spec.value ? ` ${spec.value}` : ""}`;
      return `  ${left.padEnd(26)} ${spec.description}${spec.multiple ? " (repeatable)" : ""}`;
    });
  return rows.join("\n");
}
