/**
 * The run log: every finished trajectory is appended to a JSONL file, written through to the
 * file before the next round uses it, so a run that dies (even by kill -9) keeps its finished
 * work. A run started again with the same log takes those trajectories and generates only the
 * rest. The first line records the run's config; a log of another config is refused, never mixed
 * in.
 */
import { statSync } from "node:fs";
import { join } from "node:path";
import { RunLogError } from "../common/errors.js";
import { JsonlAppender, type JsonlContents, readJsonl } from "../common/jsonl.js";
import type { Trajectory } from "../spec/run.js";

/** What makes two runs the same run: a log is only reused when all of it matches. */
export interface RunIdentity {
  readonly strategy: string;
  readonly plan: readonly number[];
  readonly seed: number;
  readonly provider: string;
  readonly model: string;
  /** Hash of the problem conversation. */
  readonly problem: number;
  /** Hash of the strategy's synthesis prompt on a probe (catches a changed template). */
  readonly template: number;
  readonly sampling: Readonly<Record<string, unknown>>;
}

interface HeaderLine {
  readonly type: "pacore-run";
  readonly version: 1;
  readonly identity: RunIdentity;
}

interface TrajectoryLine {
  readonly type: "trajectory";
  readonly trajectory: Trajectory;
}

const key = (round: number, index: number) => `${round}:${index}`;

function isHeader(value: unknown): value is HeaderLine {
  const line = value as Partial<HeaderLine> | null | undefined;
  return (
    typeof line === "object" &&
    line !== null &&
    line.type === "pacore-run" &&
    line.version === 1 &&
    typeof line.identity === "object" &&
    line.identity !== null
  );
}

function isTrajectoryLine(value: unknown): value is TrajectoryLine {
  const line = value as Partial<TrajectoryLine> | null | undefined;
  return (
    typeof line === "object" &&
    line !== null &&
    line.type === "trajectory" &&
    typeof line.trajectory === "object" &&
    line.trajectory !== null
  );
}

/** A file-system failure as a `RunLogError` that names the path and the fix. */
function asLogError(path: string, error: unknown): RunLogError {
  if (error instanceof RunLogError) return error;
  const code = (error as { code?: unknown }).code;
  const reason =
    code === "EACCES" || code === "EPERM"
      ? "is not writable here (permission denied)"
      : code === "ENOTDIR"
        ? "lies under a path that is a file, not a folder"
        : code === "EISDIR"
          ? "is a folder"
          : `cannot be used (${(error as Error).message})`;
  return new RunLogError(`Run log ${path} ${reason}; pass another --log path`, { cause: error });
}

function differences(a: RunIdentity, b: RunIdentity): string[] {
  return (Object.keys(a) as (keyof RunIdentity)[]).filter(
    (name) => JSON.stringify(a[name]) !== JSON.stringify(b[name]),
  );
}

/**
 * An open run log. Use `RunLog.open(path, identity)`; pass it to `run` as `log`.
 */
export class RunLog {
  readonly path: string;
  readonly #finished = new Map<string, Trajectory>();
  readonly #file: JsonlAppender;

  private constructor(path: string, file: JsonlAppender, finished: Iterable<Trajectory>) {
    this.path = path;
    this.#file = file;
    for (const trajectory of finished) {
      this.#finished.set(key(trajectory.round, trajectory.index), trajectory);
    }
  }

  /**
   * Opens (or creates) the log at `path` for a run with this identity, creating its folder.
   * Throws a `RunLogError` when the path cannot hold a log or the file holds anything but a log
   * of this run; a file that is not a run log is never written to.
   */
  static open(path: string, identity: RunIdentity): RunLog {
    let contents: JsonlContents;
    try {
      if (statSync(path, { throwIfNoEntry: false })?.isDirectory()) {
        throw new RunLogError(
          `Run log ${path} is a folder; pass a file path such as ${join(path, "run.jsonl")}`,
        );
      }
      contents = readJsonl(path, (value) => isHeader(value) || isTrajectoryLine(value));
    } catch (error) {
      throw asLogError(path, error);
    }
    // Every check comes before the first write: a file that is not a run log stays as it was.
    const [header, ...rest] = contents.lines;
    const finished: Trajectory[] = [];
    // Text with no whole line is a file of someone else's too (a log starts with a whole header).
    if (header === undefined && contents.cut.trim() !== "") {
      throw new RunLogError(
        `${path} is not a pacore run log (it holds no pacore-run header); pass another --log path: an existing file is never overwritten`,
      );
    }
    if (header !== undefined) {
      if (header.number !== 1 || !isHeader(header.value)) {
        throw new RunLogError(
          `${path} is not a pacore run log (its first line is not a pacore-run header); pass another --log path: an existing file is never overwritten`,
        );
      }
      const changed = differences(header.value.identity, identity);
      if (changed.length > 0) {
        throw new RunLogError(
          `Run log ${path} was written by another run (it differs in ${changed.join(", ")}); use another --log path, or run with the same config to resume`,
        );
      }
      for (const line of rest) {
        if (!isTrajectoryLine(line.value)) {
          throw new RunLogError(
            `Run log ${path} has a corrupt line ${line.number}; move the file away to start afresh`,
          );
        }
        finished.push(line.value.trajectory);
      }
    }
    let file: JsonlAppender;
    try {
      contents.repair();
      file = JsonlAppender.open(path);
    } catch (error) {
      throw asLogError(path, error);
    }
    const log = new RunLog(path, file, finished);
    if (header === undefined) file.append({ type: "pacore-run", version: 1, identity });
    return log;
  }

  /** Trajectories the log holds, taken instead of generated. */
  get size(): number {
    return this.#finished.size;
  }

  /** The finished trajectory at (round, index), if the log has it. */
  finished(round: number, index: number): Trajectory | undefined {
    return this.#finished.get(key(round, index));
  }

  /** Appends a finished trajectory; the write reaches the file before this returns. */
  append(trajectory: Trajectory): void {
    this.#finished.set(key(trajectory.round, trajectory.index), trajectory);
    this.#file.append({ type: "trajectory", trajectory } satisfies TrajectoryLine);
  }

  close(): void {
    this.#file.close();
  }
}
