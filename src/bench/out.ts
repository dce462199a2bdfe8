/**
 * The `--out` directory of a benchmark: `config.json` (what ran; another config is refused),
 * `problems.jsonl` (one line per finished problem run, appended as each finishes), `logs/` (one
 * engine run log per problem run, so a run killed mid-way resumes trajectory by trajectory) and
 * `summary.json`. A benchmark killed (even by kill -9) and started again reuses all of it.
 */
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ConfigError } from "../common/errors.js";
import { JsonlAppender, readJsonl } from "../common/jsonl.js";
import { hashSeed } from "../common/random.js";
import { writeAtomically } from "../common/write-atomically.js";
import type { ProblemRun } from "./run.js";

const key = (id: string, repeat: number) => `${id}\u0000${repeat}`;

/** Lists the keys (dotted paths) whose values differ between two JSON values. */
export function differingKeys(recorded: unknown, current: unknown, prefix = ""): string[] {
  const isRecord = (value: unknown): value is Record<string, unknown> =>
    typeof value === "object" && value !== null && !Array.isArray(value);
  if (isRecord(recorded) && isRecord(current)) {
    const keys = new Set([...Object.keys(recorded), ...Object.keys(current)]);
    return [...keys]
      .sort()
      .flatMap((name) =>
        differingKeys(recorded[name], current[name], prefix ? `${prefix}.${name}` : name),
      );
  }
  return JSON.stringify(recorded) === JSON.stringify(current) ? [] : [prefix || "(root)"];
}

/** A benchmark's output directory, opened for a config. */
export class BenchmarkOutput {
  readonly directory: string;
  readonly #problemsPath: string;
  readonly #finished = new Map<string, ProblemRun>();
  #problems: JsonlAppender | undefined;

  private constructor(directory: string) {
    this.directory = directory;
    this.#problemsPath = join(directory, "problems.jsonl");
  }

  /**
   * Opens (or creates) `directory` for `config`. A directory that recorded another config is
   * refused with a `ConfigError` naming the differing keys; one that holds finished problem
   * runs hands them back through `finished`.
   */
  static open(directory: string, config: Readonly<Record<string, unknown>>): BenchmarkOutput {
    const output = new BenchmarkOutput(directory);
    try {
      mkdirSync(join(directory, "logs"), { recursive: true });
    } catch (error) {
      throw new ConfigError(
        `Cannot create the --out directory ${directory} (${(error as NodeJS.ErrnoException).code}). Fix: choose a writable path`,
        { cause: error },
      );
    }
    const configPath = join(directory, "config.json");
    if (existsSync(configPath)) {
      let recorded: unknown;
      try {
        recorded = JSON.parse(readFileSync(configPath, "utf8"));
      } catch (error) {
        throw new ConfigError(
          `${configPath} is not valid JSON. Fix: remove the directory or use another --out`,
          { cause: error },
        );
      }
      const differing = differingKeys(recorded, JSON.parse(JSON.stringify(config)));
      if (differing.length > 0) {
        throw new ConfigError(
          `--out ${directory} holds a benchmark of another config (differing: ${differing.join(", ")}). Fix: rerun with the recorded config (${configPath}) or use another --out directory`,
        );
      }
    } else {
      writeAtomically(configPath, `${JSON.stringify(config, null, 2)}\n`);
    }
    output.#readFinished();
    return output;
  }

  #readFinished(): void {
    // A benchmark killed mid-write leaves at most one cut last line: repaired, not an error.
    const contents = readJsonl(this.#problemsPath, isProblemRun);
    for (const { number, value } of contents.lines) {
      if (value === undefined) {
        throw new ConfigError(
          `${this.#problemsPath} line ${number}: not valid JSON. Fix: remove that line (its problem run is then run again)`,
        );
      }
      if (!isProblemRun(value)) {
        throw new ConfigError(
          `${this.#problemsPath} line ${number}: not a problem run (no id and repeat). Fix: remove that line`,
        );
      }
      this.#finished.set(key(value.id, value.repeat), value); // a later line wins
    }
    contents.repair();
  }

  /** The recorded run of a problem and repeat that finished without error, if any. */
  finished(id: string, repeat: number): ProblemRun | undefined {
    const found = this.#finished.get(key(id, repeat));
    return found && found.error === undefined ? found : undefined;
  }

  /** The engine run log of a problem and repeat: `logs/<id, file-safe>-<hash>.r<repeat>.jsonl`. */
  logPath(id: string, repeat: number): string {
    const safe = id.replace(/[^A-Za-z0-9._-]+/g, "_").slice(0, 80);
    return join(this.directory, "logs", `${safe}-${hashSeed(id).toString(16)}.r${repeat}.jsonl`);
  }

  /** Appends a finished problem run (one line, written through before it counts as done). */
  append(run: ProblemRun): void {
    this.#problems ??= JsonlAppender.open(this.#problemsPath);
    this.#problems.append(run);
  }

  /** Closes `problems.jsonl`. */
  close(): void {
    this.#problems?.close();
    this.#problems = undefined;
  }

  /** Writes `summary.json`. */
  writeSummary(summary: unknown): void {
    writeAtomically(join(this.directory, "summary.json"), `${JSON.stringify(summary, null, 2)}\n`);
  }
}

function isProblemRun(value: unknown): value is ProblemRun {
  const run = value as Partial<ProblemRun> | null | undefined;
  return typeof run?.id === "string" && Number.isInteger(run.repeat);
}
