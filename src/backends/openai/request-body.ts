/**
 * Turns a {@link GenerateRequest} into an OpenAI chat-completion request body.
 */
import { readFile } from "node:fs/promises";
import { extname } from "node:path";
import { fileURLToPath } from "node:url";
import { ConfigError } from "../../common/errors.js";
import type { ChatMessage, ContentPart, GenerateRequest } from "../../spec/backend.js";

/** A chat message as the OpenAI API takes it. */
export interface WireMessage {
  readonly role: string;
  readonly content:
    | string
    | readonly (
        | { readonly type: "text"; readonly text: string }
        | { readonly type: "image_url"; readonly image_url: { readonly url: string } }
      )[];
}

/** Media types of image files by extension, for data URLs. */
const IMAGE_MEDIA_TYPES: Readonly<Record<string, string>> = {
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".gif": "image/gif",
  ".webp": "image/webp",
  ".bmp": "image/bmp",
  ".tif": "image/tiff",
  ".tiff": "image/tiff",
};

/**
 * The URL an image part is sent as: `http(s)://` and `data:` URLs pass through; a local path (or
 * `file://` URL) is read and sent as a base64 data URL, its media type taken from `mediaType` or
 * else the file extension.
 */
export async function imageUrlOf(image: string, mediaType?: string): Promise<string> {
  if (/^(https?:|data:)/i.test(image)) return image;
  const path = image.startsWith("file://") ? fileURLToPath(image) : image;
  const type = mediaType ?? IMAGE_MEDIA_TYPES[extname(path).toLowerCase()];
  if (type === undefined) {
    throw new ConfigError(
      `Expected an image file ending in ${Object.keys(IMAGE_MEDIA_TYPES).join(", ")}, got \`${path}\` (rename it or give the part a mediaType)`,
    );
  }
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (error) {
    throw new ConfigError(`Cannot read the image file \`${path}\`: ${(error as Error).message}`, {
      cause: error,
    });
  }
  return `data:${type};base64,${bytes.toString("base64")}`;
}

async function wirePart(part: ContentPart) {
  if (part.type === "text") return { type: "text" as const, text: part.text };
  return {
    type: "image_url" as const,
    image_url: { url: await imageUrlOf(part.image, part.mediaType) },
  };
}

/** Maps chat messages to the wire form; text is passed verbatim. */
export async function wireMessages(messages: readonly ChatMessage[]): Promise<WireMessage[]> {
  if (messages.every((message) => typeof message.content === "string")) {
    return messages.map((message) => ({ role: message.role, content: message.content as string }));
  }
  return Promise.all(
    messages.map(async (message) => ({
      role: message.role,
      content:
        typeof message.content === "string"
          ? message.content
          : await Promise.all(message.content.map(wirePart)),
    })),
  );
}

/** What every body of one backend shares. */
export interface BodySettings {
  readonly model: string;
  readonly stream: boolean;
  readonly logprobs: boolean;
  readonly returnTokenIds: boolean;
  readonly extraBody: Readonly<Record<string, unknown>>;
}

/**
 * Builds the body of one chat-completion request asking for `n` samples with `seed`.
 * `extraBody` comes first, so that the request's own sampling settings win over it, while
 * parameters the request leaves unset (such as `top_k` or `min_p`) can come from it.
 */
export function chatCompletionBody(
  settings: BodySettings,
  messages: readonly WireMessage[],
  request: GenerateRequest,
  n: number,
  seed: number | undefined,
): Record<string, unknown> {
  const { sampling } = request;
  const body: Record<string, unknown> = { ...settings.extraBody };
  body.model = settings.model;
  body.messages = messages;
  if (n > 1) body.n = n;
  else delete body.n;
  if (sampling.temperature !== undefined) body.temperature = sampling.temperature;
  if (sampling.topP !== undefined) body.top_p = sampling.topP;
  if (sampling.topK !== undefined && sampling.topK > 0) body.top_k = sampling.topK;
  if (sampling.maxTokens !== undefined) body.max_tokens = sampling.maxTokens;
  if (sampling.stop !== undefined && sampling.stop.length > 0) body.stop = sampling.stop;
  if (seed !== undefined) body.seed = seed;
  if (request.logprobs || settings.logprobs) body.logprobs = true;
  if (settings.returnTokenIds) body.return_token_ids = true;
  if (settings.stream) {
    body.stream = true;
    body.stream_options = { include_usage: true };
  } else {
    delete body.stream;
    delete body.stream_options;
  }
  return body;
}
