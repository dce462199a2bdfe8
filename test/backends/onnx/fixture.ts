/**
 * The committed tiny-chat fixture (made by models/fixtures/make_fixtures.py) and its torch
 * reference, shared by the ONNX backend's tests.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { ChatMessage } from "../../../src/spec/backend.js";

/** The fixture model directory. */
export const TINY_CHAT_DIR = fileURLToPath(
  new URL("../../fixtures/onnx/tiny-chat/", import.meta.url),
);

/** One reference case: a prompt and the greedy ids torch computed by full recomputation. */
export interface ReferenceCase {
  readonly name: string;
  readonly messages: ChatMessage[];
  /** `null` when the template's `enable_thinking` was left undefined. */
  readonly enableThinking: boolean | null;
  readonly promptText: string;
  readonly promptIds: number[];
  readonly greedyIds: number[];
  readonly greedyLogprobs: number[];
  readonly minMargin: number;
  readonly finishReason: "stop" | "length";
  /** True when the case is checked against the fp16-KV variant too. */
  readonly fp16KvSafe: boolean;
}

/** `reference.json` of the fixture. */
export interface Reference {
  readonly maxNewTokens: number;
  readonly eosTokenIds: number[];
  readonly thinkEndId: number;
  readonly cases: ReferenceCase[];
  readonly tokenizerCases: { readonly text: string; readonly ids: number[] }[];
}

/** The parsed reference file. */
export const REFERENCE: Reference = JSON.parse(
  readFileSync(new URL("reference.json", `file://${TINY_CHAT_DIR}`), "utf8"),
);

/** Cases rendered with the template's default (`enable_thinking` undefined). */
export const DEFAULT_CASES = REFERENCE.cases.filter((item) => item.enableThinking === null);

/** Cases rendered with `enable_thinking: false`. */
export const NO_THINKING_CASES = REFERENCE.cases.filter((item) => item.enableThinking === false);
