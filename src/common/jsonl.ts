/**
 * Append-only JSONL files that survive kill -9: the run log, the completion cache, a bench's
 * problem runs and RL episodes all keep their work this way. Each line is one write call (the
 * kernel has it once the call returns), and the reader repairs what a killed writer leaves
 * behind: at most one cut last line.
 */
import {
  appendFileSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  truncateSync,
  writeSync,
} from "node:fs";
import { dirname } from "node:path";

/** One non-blank line of a JSONL file. */
export interface JsonlLine {
  /** 1-based line number in the file. */
  readonly number: number;
  /** The parsed value; `undefined` when the line is not JSON. */
  readonly value: unknown;
}

export interface JsonlContents {
  /** The non-blank lines, a cut last line left out. */
  readonly lines: readonly JsonlLine[];
  /** The cut last line's text; "" when the file ends with a whole line. */
  readonly cut: string;
  /**
   * Makes the file end where its last whole line does: cuts a cut last line off, or adds the
   * newline a whole one lacks, so that the next line appended starts on a line of its own. Call
   * it only once the lines have been checked: a file that is not yours must stay as it was.
   */
  repair(): void;
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * Reads a JSONL file (none: no lines). A last line without its newline is kept when `isWhole`
 * says it is a whole line of this file; otherwise it is the end of a write that was killed.
 */
export function readJsonl(path: string, isWhole: (value: unknown) => boolean): JsonlContents {
  const text = existsSync(path) ? readFileSync(path, "utf8") : "";
  const texts = text.split("\n");
  let cut = texts.pop() ?? "";
  if (cut !== "" && isWhole(parse(cut))) {
    texts.push(cut);
    cut = "";
  }
  const lines: JsonlLine[] = [];
  texts.forEach((line, index) => {
    if (line.trim() !== "") lines.push({ number: index + 1, value: parse(line) });
  });
  return {
    lines,
    cut,
    repair() {
      if (cut !== "") truncateSync(path, Buffer.byteLength(text) - Buffer.byteLength(cut));
      else if (text !== "" && !text.endsWith("\n")) appendFileSync(path, "\n");
    },
  };
}

/** Appends JSON values to a file, one line and one write call each. */
export class JsonlAppender {
  readonly path: string;
  #fd: number | undefined;

  private constructor(path: string, fd: number) {
    this.path = path;
    this.#fd = fd;
  }

  /** Opens `path` for appending, creating its folder; file-system errors are thrown as they come. */
  static open(path: string): JsonlAppender {
    mkdirSync(dirname(path), { recursive: true });
    return new JsonlAppender(path, openSync(path, "a"));
  }

  /** Appends one line; once this returns the line survives a kill -9 of the process. */
  append(value: unknown): void {
    if (this.#fd === undefined) throw new Error(`${this.path} is closed`);
    writeSync(this.#fd, `${JSON.stringify(value)}\n`);
  }

  close(): void {
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
  }
}
