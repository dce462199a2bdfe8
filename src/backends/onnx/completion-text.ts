/**
 * The text of one generated row as tokens arrive: incremental detokenization (text is released
 * only once its UTF-8 bytes are complete), stop strings, and streaming that holds back any tail
 * that could still turn out to be the start of a stop string.
 */

/** Turns token ids into text (special tokens left out). */
export type Detokenize = (ids: readonly number[]) => string;

/** Text of a row, grown one token at a time. */
export class CompletionText {
  readonly #decode: Detokenize;
  readonly #stop: readonly string[];
  readonly #holdBack: number;
  readonly #incremental: boolean;
  readonly #tokens: number[] = [];
  #prefixOffset = 0;
  #readOffset = 0;
  #text = "";
  #emitted = 0;
  #stopAt: number | undefined;

  /**
   * `stop` lists the strings that end the row; empty strings are ignored. With `stream` false
   * and no stop string nothing reads the text before the end, so tokens are not decoded one by
   * one (two tokenizer calls per row and step spared): {@link finalText} decodes them in one go.
   */
  constructor(decode: Detokenize, stop: readonly string[] = [], stream = true) {
    this.#decode = decode;
    this.#stop = stop.filter((item) => item.length > 0);
    this.#incremental = stream || this.#stop.length > 0;
    this.#holdBack = this.#stop.reduce((most, item) => Math.max(most, item.length - 1), 0);
  }

  /** The text so far (cut before the stop string once one appeared). */
  get text(): string {
    return this.#text;
  }

  /** True once a stop string appeared in the text. */
  get stopped(): boolean {
    return this.#stopAt !== undefined;
  }

  /** Adds one generated token; returns true when a stop string now appears in the text. */
  push(tokenId: number): boolean {
    if (this.stopped) return true;
    if (!this.#incremental) return false;
    this.#tokens.push(tokenId);
    const prefix = this.#decode(this.#tokens.slice(this.#prefixOffset, this.#readOffset));
    const full = this.#decode(this.#tokens.slice(this.#prefixOffset));
    if (full.length <= prefix.length || full.endsWith("\uFFFD")) return false;
    const before = this.#text.length;
    this.#text += full.slice(prefix.length);
    this.#prefixOffset = this.#readOffset;
    this.#readOffset = this.#tokens.length;
    if (this.#stop.length === 0) return false;
    const from = Math.max(0, before - this.#holdBack);
    let first: number | undefined;
    for (const item of this.#stop) {
      const at = this.#text.indexOf(item, from);
      if (at >= 0 && (first === undefined || at < first)) first = at;
    }
    if (first === undefined) return false;
    this.#stopAt = first;
    this.#text = this.#text.slice(0, first);
    return true;
  }

  /**
   * Text not streamed yet that can no longer become part of a stop string (all of it once the
   * row is `done`).
   */
  takeDelta(done: boolean): string {
    const end = done || this.stopped ? this.#text.length : this.#text.length - this.#holdBack;
    if (end <= this.#emitted) return "";
    const delta = this.#text.slice(this.#emitted, end);
    this.#emitted = end;
    return delta;
  }

  /**
   * The final text: the ids decoded in one go (so it is exactly what the tokenizer gives for
   * them), cut at the earliest stop string when one ended the row.
   */
  finalText(ids: readonly number[]): string {
    const text = this.#decode(ids);
    if (!this.stopped) return text;
    let first = text.length;
    for (const item of this.#stop) {
      const at = text.indexOf(item);
      if (at >= 0 && at < first) first = at;
    }
    return text.slice(0, first);
  }
}
