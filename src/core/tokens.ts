/**
 * Token counting for the budget planner: the backend's own counter when it has one, else a
 * stated estimate (`estimateTokens`).
 */

import { estimateTokens } from "../common/estimate-tokens.js";
import type { ChatMessage, ModelBackend } from "../spec/backend.js";

/** Counts tokens of a string or of a message list as the model sees it. */
export type TokenCounter = (input: string | readonly ChatMessage[]) => Promise<number>;

/** The text of a message: its string content, or its text parts joined. */
export function messageText(message: ChatMessage): string {
  if (typeof message.content === "string") return message.content;
  let text = "";
  for (const part of message.content) if (part.type === "text") text += part.text;
  return text;
}

/** The backend's counter, or the estimate when the backend has none. */
export function tokenCounterFor(backend: ModelBackend): {
  count: TokenCounter;
  estimated: boolean;
} {
  if (backend.countTokens) {
    const countTokens = backend.countTokens.bind(backend);
    return { count: (input) => countTokens(input), estimated: false };
  }
  return { count: async (input) => estimateTokens(input), estimated: true };
}
