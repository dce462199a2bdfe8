/**
 * Helpers for rewriting the problem's conversation: a synthesis round replaces the text of the
 * last user turn and keeps everything else (earlier turns, and the turn's images, which a
 * vision-language model needs to judge the references).
 */
import type { ChatMessage, ContentPart } from "../src/spec/backend.js";

/** Index of the last user turn, or -1. */
export function lastUserTurn(conversation: readonly ChatMessage[]): number {
  for (let i = conversation.length - 1; i >= 0; i--) {
    if (conversation[i].role === "user") return i;
  }
  return -1;
}

/** The problem text: the text of the last user turn (its text parts joined). */
export function problemText(conversation: readonly ChatMessage[]): string {
  const turn = conversation[lastUserTurn(conversation)];
  if (!turn) return "";
  if (typeof turn.content === "string") return turn.content;
  return turn.content.flatMap((part) => (part.type === "text" ? [part.text] : [])).join("\n");
}

/**
 * The conversation with the last user turn's text replaced by `text`; its image parts are kept,
 * in front of the new text.
 */
export function replaceProblemText(
  conversation: readonly ChatMessage[],
  text: string,
): ChatMessage[] {
  const at = lastUserTurn(conversation);
  return conversation.map((message, index) => {
    if (index !== at) return message;
    if (typeof message.content === "string") return { role: message.role, content: text };
    const images = message.content.filter((part) => part.type === "image");
    if (images.length === 0) return { role: message.role, content: text };
    const content: ContentPart[] = [...images, { type: "text", text }];
    return { role: message.role, content };
  });
}
