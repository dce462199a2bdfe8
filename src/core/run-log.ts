/**
 * The run log: every finished trajectory is appended to a JSONL file, written through to the
 * file before the next round uses it, so a run that dies (even by kill -9) keeps its finished
 * work. A run started again with the same log takes those trajectories and generates only the
 * rest. The first line records the run's config; a log of another config is refused, never mixed
 * in.
 */
import { closeSync, existsSync, openSync, readFileSync, truncateSync, writeSync } from "node:fs";
import { RunLogError } from "../common/errors.js";
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
  #fd: number | undefined;

  private constructor(path: string, fd: number, finished: Iterable<Trajectory>) {
    this.path = path;
    this.#fd = fd;
    for (const trajectory of finished) {
      this.#finished.set(key(trajectory.round, trajectory.index), trajectory);
    }
  }

  /**
   * Opens (or creates) the log at `path` for a run with this identity. Throws a `RunLogError`
   * when the file holds another run.
   */
  static open(path: string, identity: RunIdentity): RunLog {
    const finished: Trajectory[] = [];
    let fresh = true;
    if (existsSync(path)) {
      const text = readFileSync(path, "utf8");
      const lines = text.split("\n");
      // A run killed mid-write leaves at most one partial last line: drop it, also from the file,
      // so that the next line appended starts on a line of its own.
      if (!text.endsWith("\n")) {
        const partial = lines.pop() ?? "";
        truncateSync(path, Buffer.byteLength(text) - Buffer.byteLength(partial));
      }
      const parsed = lines
        .filter((line) => line.trim() !== "")
        .map((line, number) => {
          try {
            return JSON.parse(line) as HeaderLine | TrajectoryLine;
          } catch (error) {
            throw new RunLogError(
              `Run log ${path} has a corrupt line ${number + 1}; move the file away to start afresh`,
              { cause: error },
            );
          }
        });
      if (parsed.length > 0) {
        fresh = false;
        const header = parsed[0];
        if (header.type !== "pacore-run" || header.version !== 1) {
          throw new RunLogError(
            `${path} is not a pacore run log; pass another --log path (an existing file is never overwritten)`,
          );
        }
        const changed = differences(header.identity, identity);
        if (changed.length > 0) {
          throw new RunLogError(
            `Run log ${path} was written by another run (it differs in ${changed.join(", ")}); use another --log path, or run with the same config to resume`,
          );
        }
        for (const line of parsed.slice(1)) {
          if (line.type === "trajectory") finished.push(line.trajectory);
        }
      }
    }
    const fd = openSync(path, "a");
    const log = new RunLog(path, fd, finished);
    if (fresh) log.#write({ type: "pacore-run", version: 1, identity });
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
    this.#write({ type: "trajectory", trajectory });
  }

  close(): void {
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
  }

  #write(line: HeaderLine | TrajectoryLine): void {
    if (this.#fd === undefined) throw new RunLogError(`Run log ${this.path} is closed`);
    // One write call per line: the kernel has it once writeSync returns, so kill -9 keeps it.
    writeSync(this.#fd, `${JSON.stringify(line)}\n`);
  }
}
