/**
 * The model's side of text: tokenizer (`@huggingface/tokenizers`) and chat template
 * (`@huggingface/jinja`), as the model was trained to see them.
 */
import { Template } from "@huggingface/jinja";
import { Tokenizer } from "@huggingface/tokenizers";
import { ConfigError } from "../../common/errors.js";
import type { ChatMessage } from "../../spec/backend.js";
import type { ModelDirectory } from "./model-directory.js";

/** Options of {@link ChatPrompter}. */
export interface ChatPrompterOptions {
  /** The `enable_thinking` switch of Qwen3-style templates; absent leaves it undefined. */
  readonly enableThinking?: boolean;
}

function specialToken(config: Record<string, unknown>, key: string): string | undefined {
  const value = config[key];
  if (typeof value === "string") return value;
  if (value !== null && typeof value === "object") {
    const content = (value as Record<string, unknown>).content;
    if (typeof content === "string") return content;
  }
  return undefined;
}

/**
 * The text of one message: plain text, or its text parts joined by a newline (as vLLM does).
 * Image parts are refused: this backend runs text-only decoders.
 */
export function messageText(message: ChatMessage, model: string, index: number): string {
  if (typeof message.content === "string") return message.content;
  const texts: string[] = [];
  for (const part of message.content) {
    if (part.type !== "text") {
      throw new ConfigError(
        `Message ${index} (${message.role}) holds an image, but the ONNX backend runs ${model} as a text-only model: send text parts only, or use a vision model through \`--backend openai\``,
      );
    }
    texts.push(part.text);
  }
  return texts.join("\n");
}

/** Renders chat messages with the model's template and turns text into token ids and back. */
export class ChatPrompter {
  readonly #tokenizer: Tokenizer;
  readonly #template: Template;
  readonly #context: Record<string, unknown>;
  readonly #model: string;

  /** Builds the tokenizer and parses the chat template of a loaded model directory. */
  constructor(directory: ModelDirectory, options: ChatPrompterOptions = {}) {
    this.#model = directory.name;
    try {
      this.#tokenizer = new Tokenizer(directory.tokenizerJson, directory.tokenizerConfig);
    } catch (error) {
      throw new ConfigError(
        `${directory.dir}/tokenizer.json could not be loaded (${(error as Error).message}): use the model's own tokenizer.json`,
        { cause: error },
      );
    }
    try {
      this.#template = new Template(directory.chatTemplate);
    } catch (error) {
      throw new ConfigError(
        `The chat template of ${directory.dir} (tokenizer_config.json or chat_template.jinja) does not parse: ${(error as Error).message}`,
        { cause: error },
      );
    }
    const config = directory.tokenizerConfig;
    this.#context = {
      bos_token: specialToken(config, "bos_token") ?? "",
      eos_token: specialToken(config, "eos_token") ?? "",
      pad_token: specialToken(config, "pad_token") ?? "",
      unk_token: specialToken(config, "unk_token") ?? "",
      ...(options.enableThinking !== undefined && { enable_thinking: options.enableThinking }),
    };
  }

  /** The prompt text of a conversation, generation prompt added (`<|im_start|>assistant\n`). */
  render(messages: readonly ChatMessage[]): string {
    if (messages.length === 0) {
      throw new ConfigError("Expected at least one chat message, got an empty list");
    }
    const plain = messages.map((message, index) => ({
      role: message.role,
      content: messageText(message, this.#model, index),
    }));
    try {
      return this.#template.render({
        ...this.#context,
        messages: plain,
        add_generation_prompt: true,
      });
    } catch (error) {
      throw new ConfigError(
        `The chat template of ${this.#model} failed on these messages: ${(error as Error).message}`,
        { cause: error },
      );
    }
  }

  /**
   * Token ids of text, without adding special tokens (a rendered chat template holds its own).
   */
  encode(text: string): number[] {
    return this.#tokenizer.encode(text, { add_special_tokens: false }).ids;
  }

  /** Token ids of a conversation as the model sees it: template rendered, then encoded. */
  encodeMessages(messages: readonly ChatMessage[]): number[] {
    return this.encode(this.render(messages));
  }

  /**
   * Text of token ids. Special tokens (`<|im_end|>`) are left out; added tokens that are not
   * special (Qwen3's `<think>`, `</think>`) stay.
   */
  decode(ids: readonly number[]): string {
    if (ids.length === 0) return "";
    return this.#tokenizer.decode([...ids], { skip_special_tokens: true });
  }

  /** One more than the largest token id of the tokenizer, added tokens included. */
  tokenIdLimit(): number {
    let largest = -1;
    for (const id of this.#tokenizer.get_vocab(true).values()) largest = Math.max(largest, id);
    return largest + 1;
  }
}
