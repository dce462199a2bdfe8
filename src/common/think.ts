/**
 * Splitting a reasoning model's raw output into reasoning and content, shared by the backends
 * that receive `<think>…</think>` inline (function, ONNX, OpenAI-compatible servers that do not
 * separate reasoning themselves).
 */

const OPEN = "<think>";
const CLOSE = "</think>";

/** A raw output split at its reasoning. */
export interface ReasoningSplit {
  /**
   * The text inside the thinking block: after the first `<think>` (or from the start when the
   * chat template already opened it) up to the last `</think>`, verbatim. Absent when the text
   * has no `</think>`.
   */
  readonly reasoning?: string;
  /** Everything after the last `</think>`, verbatim (never trimmed); the whole text without one. */
  readonly content: string;
}

/**
 * Splits raw model output at the last `</think>`. Without a `</think>` (no reasoning, or a
 * trajectory cut off while thinking) the whole text is content, as PaCoRe's compaction expects.
 *
 * @example
 * splitReasoning("<think>2+2=4</think>\n\nThe answer is 4.")
 * // { reasoning: "2+2=4", content: "\n\nThe answer is 4." }
 * splitReasoning("Qwen opened the block in the prompt</think>4") // { reasoning: "Qwen…prompt", content: "4" }
 */
export function splitReasoning(text: string): ReasoningSplit {
  const close = text.lastIndexOf(CLOSE);
  if (close < 0) return { content: text };
  const open = text.indexOf(OPEN);
  const start = open >= 0 && open < close ? open + OPEN.length : 0;
  return { reasoning: text.slice(start, close), content: text.slice(close + CLOSE.length) };
}
