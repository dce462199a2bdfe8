/**
 * Benchmark files as people have them: JSONL, JSON arrays, CSV and Parquet, in the shapes the
 * common math and science benchmarks are published in. Every record becomes a `BenchmarkProblem`
 * or an error that names the file, the line (CSV: the record, Parquet: the row) and the field:
 * nothing is skipped silently. csv-parse and hyparquet are loaded only for their formats.
 */
import { readFile } from "node:fs/promises";
import { basename, extname } from "node:path";
import { ConfigError } from "../common/errors.js";
import { createRandom, hashSeed, shuffle } from "../common/random.js";
import type { ChatMessage } from "../spec/backend.js";
import { type BenchmarkProblem, gradedProblem } from "./problem.js";

/** File formats `loadBenchmark` reads. */
export const BENCHMARK_FORMATS = ["jsonl", "json", "csv", "parquet"] as const;
export type BenchmarkFormat = (typeof BENCHMARK_FORMATS)[number];

/**
 * The record shapes found by column names when no field is mapped:
 * - `pacore`: the PaCoRe release format, `conversation` (a chat) and `ground_truth`.
 * - `gpqa`: `Question`, `Correct Answer`, `Incorrect Answer 1..3`; options shuffled per problem
 *   by a seeded RNG, rendered with letters, graded by letter.
 * - `chat`: a `messages` chat with `answer` (or `ground_truth`).
 * - `matharena`: `problem_idx`, `problem`, `answer` (LaTeX text).
 * - `gsm8k`: `question`, and an `answer` whose final value follows `####`.
 * - `math`: `problem`/`answer`, or `Problem`/`Answer` (MATH-500, AIME exports).
 * - `mapped`: the fields were named with `fields`.
 */
export type BenchmarkShape = "pacore" | "gpqa" | "chat" | "matharena" | "gsm8k" | "math" | "mapped";

/** Which columns hold what, for files in no shape that is detected. */
export interface BenchmarkFields {
  /** The problem: text, or a chat (a list of `{ role, content }`) whose last user turn is it. */
  readonly problem?: string;
  /** The reference answer. */
  readonly answer?: string;
  /** A unique id (default: an `id`-like column, else the 1-based record number). */
  readonly id?: string;
}

/** What `loadBenchmark` reads and which problems it keeps. */
export interface BenchmarkSource {
  /** The file. */
  readonly path: string;
  /** Default: from the extension (`.jsonl`/`.ndjson`, `.json`, `.csv`, `.parquet`). */
  readonly format?: BenchmarkFormat;
  /** Columns to use; unnamed ones are taken from the detected shape. */
  readonly fields?: BenchmarkFields;
  /** Keep only these ids, in file order; an id the file lacks is an error. */
  readonly ids?: readonly string[];
  /** Skip this many problems (after `ids`). */
  readonly offset?: number;
  /** Keep at most this many problems (after `offset`). */
  readonly limit?: number;
  /** Seed of the multiple-choice option shuffle (default 0). */
  readonly seed?: number;
}

/** A loaded benchmark. */
export interface LoadedBenchmark {
  readonly problems: BenchmarkProblem[];
  /** The shape the records were read as. */
  readonly shape: BenchmarkShape;
  readonly format: BenchmarkFormat;
  /** Records in the file, before `ids`, `offset` and `limit`. */
  readonly records: number;
}

/** A record of the file and where it is, for error messages (`line 7`, `record 3 (line 5)`). */
interface SourceRecord {
  readonly value: Record<string, unknown>;
  readonly where: string;
  /** 1-based position among the records. */
  readonly number: number;
}

const ID_COLUMNS = ["id", "ID", "Id", "unique_id", "problem_id", "problem_idx", "idx", "Record ID"];

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

function formatOf(path: string, format: BenchmarkFormat | undefined): BenchmarkFormat {
  if (format !== undefined) return format;
  const extension = extname(path).toLowerCase();
  if (extension === ".jsonl" || extension === ".ndjson") return "jsonl";
  if (extension === ".json") return "json";
  if (extension === ".csv") return "csv";
  if (extension === ".parquet") return "parquet";
  throw new ConfigError(
    `Cannot tell the format of ${path} from its extension \`${extension}\`: expected .jsonl, .json, .csv or .parquet. Fix: rename the file`,
  );
}

function readJsonl(path: string, text: string): SourceRecord[] {
  const records: SourceRecord[] = [];
  const lines = text.split("\n");
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index].trim();
    if (line === "") continue;
    const where = `line ${index + 1}`;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      throw new ConfigError(
        `${path} ${where}: not valid JSON (${(error as Error).message}). Fix: repair or remove that line`,
        { cause: error },
      );
    }
    if (!isObject(value)) {
      throw new ConfigError(
        `${path} ${where}: expected a JSON object per line, got ${Array.isArray(value) ? "an array" : JSON.stringify(value)?.slice(0, 40)}`,
      );
    }
    records.push({ value, where, number: records.length + 1 });
  }
  return records;
}

function readJson(path: string, text: string): SourceRecord[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(
      `${path}: not valid JSON (${(error as Error).message}). Fix: repair the file, or use JSONL (.jsonl) to find the bad line by its number`,
      { cause: error },
    );
  }
  // A `{ "data": [...] }` wrapper (some exports) or a bare array.
  const rows = Array.isArray(value)
    ? value
    : isObject(value) && Object.keys(value).length === 1 && Array.isArray(Object.values(value)[0])
      ? (Object.values(value)[0] as unknown[])
      : undefined;
  if (rows === undefined) {
    throw new ConfigError(`${path}: expected a JSON array of records, got ${typeof value}`);
  }
  return rows.map((row, index) => {
    const where = `element ${index + 1}`;
    if (!isObject(row)) throw new ConfigError(`${path} ${where}: expected a JSON object`);
    return { value: row, where, number: index + 1 };
  });
}

async function readCsv(path: string, text: string): Promise<SourceRecord[]> {
  const { parse } = await import("csv-parse/sync");
  let rows: { record: Record<string, string>; info: { lines: number } }[];
  try {
    rows = parse(text, { columns: true, bom: true, skip_empty_lines: true, info: true });
  } catch (error) {
    throw new ConfigError(
      `${path}: ${(error as Error).message}. Fix: quote fields that hold commas, quotes or newlines`,
      { cause: error },
    );
  }
  return rows.map(({ record, info }, index) => ({
    value: record,
    where: `record ${index + 1} (line ${info.lines})`,
    number: index + 1,
  }));
}

async function readParquet(path: string, bytes: Buffer): Promise<SourceRecord[]> {
  const { parquetReadObjects } = await import("hyparquet");
  const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  let rows: Record<string, unknown>[];
  try {
    rows = await parquetReadObjects({ file: file as ArrayBuffer });
  } catch (error) {
    throw new ConfigError(`${path}: not a readable Parquet file (${(error as Error).message})`, {
      cause: error,
    });
  }
  return rows.map((value, index) => ({ value, where: `row ${index + 1}`, number: index + 1 }));
}

/** The first of `names` that the record has. */
const firstPresent = (columns: ReadonlySet<string>, names: readonly string[]) =>
  names.find((name) => columns.has(name));

function detectShape(columns: ReadonlySet<string>): Exclude<BenchmarkShape, "mapped"> | undefined {
  const has = (name: string) => columns.has(name);
  if (has("conversation") && has("ground_truth")) return "pacore";
  if (has("Question") && has("Correct Answer") && has("Incorrect Answer 1")) return "gpqa";
  if (has("messages") && (has("answer") || has("ground_truth"))) return "chat";
  if (has("problem_idx") && has("problem") && has("answer")) return "matharena";
  if (has("question") && has("answer")) return "gsm8k";
  if ((has("problem") && has("answer")) || (has("Problem") && has("Answer"))) return "math";
  return undefined;
}

/** Problem, answer and id columns of a shape. */
function columnsOf(
  shape: Exclude<BenchmarkShape, "mapped">,
  columns: ReadonlySet<string>,
): { problem: string; answer: string; id?: string } {
  switch (shape) {
    case "pacore":
      return { problem: "conversation", answer: "ground_truth" };
    case "gpqa":
      return { problem: "Question", answer: "Correct Answer" };
    case "chat":
      return { problem: "messages", answer: columns.has("answer") ? "answer" : "ground_truth" };
    case "matharena":
      return { problem: "problem", answer: "answer", id: "problem_idx" };
    case "gsm8k":
      return { problem: "question", answer: "answer" };
    case "math":
      return columns.has("problem")
        ? { problem: "problem", answer: "answer" }
        : { problem: "Problem", answer: "Answer" };
  }
}

/** A cell as text: strings trimmed, numbers and bigints printed; anything else is undefined. */
function textOf(value: unknown): string | undefined {
  if (typeof value === "string") return value.trim();
  if (typeof value === "number" || typeof value === "bigint") return String(value);
  return undefined;
}

function chatOf(value: unknown, fail: (reason: string) => never): ChatMessage[] | undefined {
  let list = value;
  if (typeof value === "string" && value.trimStart().startsWith("[")) {
    try {
      list = JSON.parse(value); // a chat stored as JSON text (CSV)
    } catch {
      return undefined;
    }
  }
  if (!Array.isArray(list)) return undefined;
  const messages = list.map((message, index) => {
    if (
      !isObject(message) ||
      !["system", "user", "assistant"].includes(message.role as string) ||
      typeof message.content !== "string"
    ) {
      fail(`message ${index + 1} of the chat is not a { role, content } object with text content`);
    }
    return { role: message.role, content: message.content } as ChatMessage;
  });
  // A chat may end with the reference solution as an assistant turn: it is not sent.
  while (messages.length > 0 && messages.at(-1)?.role === "assistant") messages.pop();
  if (!messages.some((message) => message.role === "user")) {
    fail("the chat has no user turn");
  }
  return messages;
}

const LETTERS = "ABCDEFGHIJ";

/**
 * Reads a benchmark file into problems. Records are read in file order; `ids`, `offset` and
 * `limit` then pick which to keep. A malformed line, a missing or empty field, or a duplicate id
 * throws a `ConfigError` naming the file, the line or record, and the field.
 *
 * @example
 * ```ts
 * const { problems, shape } = await loadBenchmark({ path: "math500.jsonl", limit: 100 });
 * // shape "math": `problem`/`answer` columns, graded by gradeAnswer
 * ```
 */
export async function loadBenchmark(source: BenchmarkSource): Promise<LoadedBenchmark> {
  const { path } = source;
  const format = formatOf(path, source.format);
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (error) {
    throw new ConfigError(
      `Cannot read the benchmark file ${path} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}). Fix: check --data`,
      { cause: error },
    );
  }
  const text = format === "parquet" ? "" : bytes.toString("utf8");
  const records =
    format === "jsonl"
      ? readJsonl(path, text)
      : format === "json"
        ? readJson(path, text)
        : format === "csv"
          ? await readCsv(path, text)
          : await readParquet(path, bytes);
  if (records.length === 0) {
    throw new ConfigError(`${path} holds no records. Fix: check --data`);
  }
  const columns = new Set(Object.keys(records[0].value));
  const detected = detectShape(columns);
  const fields = source.fields ?? {};
  const mapped = fields.problem !== undefined || fields.answer !== undefined;
  const defaults = detected ? columnsOf(detected, columns) : undefined;
  const problemField = fields.problem ?? defaults?.problem;
  const answerField = fields.answer ?? defaults?.answer;
  if (problemField === undefined || answerField === undefined) {
    const missing = problemField === undefined ? "--field-problem" : "--field-answer";
    throw new ConfigError(
      `${path}: no known benchmark shape in its columns (${[...columns].map((c) => `\`${c}\``).join(", ")}). Fix: name the columns with ${missing}${problemField === undefined && answerField === undefined ? " and --field-answer" : ""} (and --field-id)`,
    );
  }
  const shape: BenchmarkShape = mapped ? "mapped" : (detected as BenchmarkShape);
  const idField = fields.id ?? defaults?.id ?? firstPresent(columns, ID_COLUMNS);
  const choiceSeed = source.seed ?? 0;

  const problems: BenchmarkProblem[] = [];
  const seen = new Map<string, string>();
  for (const record of records) {
    const row = record.value;
    const fail = (field: string, reason: string): never => {
      throw new ConfigError(`${path} ${record.where}: field \`${field}\` ${reason}`);
    };
    const required = (field: string): unknown => {
      if (!Object.hasOwn(row, field) || row[field] === null || row[field] === undefined) {
        fail(
          field,
          `is missing (the record has ${Object.keys(row)
            .map((c) => `\`${c}\``)
            .join(
              ", ",
            )}). Fix: add it, or name another column with --field-${field === answerField ? "answer" : field === idField ? "id" : "problem"}`,
        );
      }
      return row[field];
    };
    const requiredText = (field: string): string => {
      const text = textOf(required(field));
      if (text === undefined) fail(field, `is not text (got ${typeof row[field]})`);
      if (text === "") fail(field, "is empty");
      return text as string;
    };

    const id = idField === undefined ? String(record.number) : requiredText(idField);
    const previous = seen.get(id);
    if (previous !== undefined) {
      fail(idField ?? "id", `repeats the id \`${id}\` of ${previous}. Fix: make ids unique`);
    }
    seen.set(id, record.where);

    const rawProblem = required(problemField);
    const chat = chatOf(rawProblem, (reason) => fail(problemField, reason));
    let prompt: string | ChatMessage[] = chat ?? requiredText(problemField);
    let groundTruth: string;
    let choices: string[] | undefined;
    if (shape === "gpqa") {
      const correct = requiredText(answerField);
      const wrong = Object.keys(row)
        .filter((column) => /^Incorrect Answer \d+$/.test(column))
        .sort()
        .map(requiredText);
      choices = shuffle([correct, ...wrong], createRandom(hashSeed(choiceSeed, "choices", id)));
      groundTruth = LETTERS[choices.indexOf(correct)];
      prompt = `${prompt as string}\n\n${choices.map((choice, index) => `${LETTERS[index]}) ${choice}`).join("\n")}\n\nAnswer with the letter of the correct option.`;
    } else {
      groundTruth = requiredText(answerField);
      if (shape === "gsm8k") {
        const marker = groundTruth.lastIndexOf("####");
        if (marker >= 0) groundTruth = groundTruth.slice(marker + 4).trim();
        groundTruth = groundTruth.replace(/(\d),(?=\d{3}\b)/g, "$1");
        if (groundTruth === "") fail(answerField, "has nothing after `####`");
      }
    }
    problems.push(gradedProblem(id, prompt, groundTruth, choices));
  }

  let kept = problems;
  if (source.ids !== undefined) {
    const wanted = new Set(source.ids);
    const unknown = [...wanted].filter((id) => !seen.has(id));
    if (unknown.length > 0) {
      throw new ConfigError(
        `${path} has no problem with id ${unknown
          .slice(0, 5)
          .map((id) => `\`${id}\``)
          .join(
            ", ",
          )}${unknown.length > 5 ? ` (and ${unknown.length - 5} more)` : ""}${idField ? ` in column \`${idField}\`` : " (ids are record numbers: the file has no id column)"}. Fix: check --ids`,
      );
    }
    kept = kept.filter((problem) => wanted.has(problem.id));
  }
  const offset = source.offset ?? 0;
  kept = kept.slice(offset, source.limit === undefined ? undefined : offset + source.limit);
  if (kept.length === 0) {
    throw new ConfigError(
      `${basename(path)}: no problems left after --offset ${offset} (the file has ${records.length}). Fix: lower --offset`,
    );
  }
  return { problems: kept, shape, format, records: records.length };
}
