/**
 * Reads a model directory in the onnx-community / Optimum layout and checks that it is complete
 * and consistent before any session is created. Every error names the file and the fix.
 *
 * ```
 * DIR/config.json              sizes: layers, heads, KV heads, head size, vocabulary, window
 * DIR/generation_config.json   end-of-sequence ids and sampling defaults (optional when
 *                              config.json names the end-of-sequence id)
 * DIR/tokenizer.json           the tokenizer (@huggingface/tokenizers)
 * DIR/tokenizer_config.json    special tokens and the chat template (or DIR/chat_template.jinja)
 * DIR/onnx/model.onnx          fp32 variant; DIR/onnx/model_<variant>.onnx for the others,
 *                              each with its external data files (model.onnx_data, …)
 * ```
 */
import { open, readdir, readFile, stat } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import { ConfigError } from "../../common/errors.js";

/** The sizes of a decoder that the runtime needs, from `config.json`. */
export interface DecoderConfig {
  readonly numLayers: number;
  readonly numHeads: number;
  readonly numKeyValueHeads: number;
  readonly headDim: number;
  readonly vocabSize?: number;
  readonly maxPositionEmbeddings?: number;
  /** `model_type`, for messages. */
  readonly modelType?: string;
}

/** Sampling defaults from `generation_config.json`; absent fields mean "no default". */
export interface GenerationDefaults {
  readonly temperature?: number;
  readonly topP?: number;
  readonly topK?: number;
  /** `max_new_tokens`: the model's own output budget per call. */
  readonly maxNewTokens?: number;
}

/** The ONNX file chosen for a variant, with the external data files it references. */
export interface ModelFileChoice {
  /** Variant name: `fp32` for `model.onnx`, `x` for `model_x.onnx`. */
  readonly variant: string;
  /** Absolute path of the `.onnx` file. */
  readonly path: string;
  /** Absolute paths of the external data files the graph references (checked to exist). */
  readonly externalData: readonly string[];
}

/** Everything read from a model directory, ready to build a tokenizer and sessions. */
export interface ModelDirectory {
  /** Absolute path of the directory. */
  readonly dir: string;
  /** Default model name: the directory's base name. */
  readonly name: string;
  readonly config: DecoderConfig;
  /** Token ids that end a completion. */
  readonly eosTokenIds: readonly number[];
  readonly generationDefaults: GenerationDefaults;
  /** Parsed `tokenizer.json`. */
  readonly tokenizerJson: Record<string, unknown>;
  /** Parsed `tokenizer_config.json`. */
  readonly tokenizerConfig: Record<string, unknown>;
  /** The Jinja chat template. */
  readonly chatTemplate: string;
  readonly modelFile: ModelFileChoice;
  /** Every variant found in `onnx/`, by name. */
  readonly variants: ReadonlyMap<string, string>;
}

type JsonObject = Record<string, unknown>;

async function readJson(dir: string, file: string, fix: string): Promise<JsonObject> {
  const path = join(dir, file);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    throw new ConfigError(`The model directory ${dir} has no ${file}: ${fix}`, { cause: error });
  }
  try {
    const value: unknown = JSON.parse(text);
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      throw new Error("expected a JSON object");
    }
    return value as JsonObject;
  } catch (error) {
    throw new ConfigError(`${path} is not a JSON object (${(error as Error).message}): ${fix}`, {
      cause: error,
    });
  }
}

async function readOptionalJson(dir: string, file: string): Promise<JsonObject | undefined> {
  const path = join(dir, file);
  try {
    await stat(path);
  } catch {
    return undefined;
  }
  return readJson(dir, file, "re-export the model or delete the broken file");
}

function positiveInteger(
  source: JsonObject,
  key: string,
  file: string,
  required: boolean,
): number | undefined {
  const value = source[key];
  if (value === undefined || value === null) {
    if (required) {
      throw new ConfigError(
        `${file} has no \`${key}\`: a decoder config needs it (re-export the model with its config.json)`,
      );
    }
    return undefined;
  }
  if (typeof value !== "number" || !Number.isInteger(value) || value <= 0) {
    throw new ConfigError(
      `Expected \`${key}\` in ${file} to be a positive integer, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

/** Reads the decoder sizes of `config.json` (from `text_config` for multimodal configs). */
export function parseDecoderConfig(raw: JsonObject, file = "config.json"): DecoderConfig {
  const text = raw.text_config;
  const source = text !== null && typeof text === "object" ? (text as JsonObject) : raw;
  const numLayers = positiveInteger(source, "num_hidden_layers", file, true)!;
  const numHeads = positiveInteger(source, "num_attention_heads", file, true)!;
  const numKeyValueHeads = positiveInteger(source, "num_key_value_heads", file, false) ?? numHeads;
  const hiddenSize = positiveInteger(source, "hidden_size", file, false);
  const headDim =
    positiveInteger(source, "head_dim", file, false) ??
    (hiddenSize !== undefined ? hiddenSize / numHeads : undefined);
  if (headDim === undefined || !Number.isInteger(headDim)) {
    throw new ConfigError(
      `${file} needs \`head_dim\`, or a \`hidden_size\` divisible by \`num_attention_heads\``,
    );
  }
  if (numHeads % numKeyValueHeads !== 0) {
    throw new ConfigError(
      `${file}: \`num_attention_heads\` (${numHeads}) is not a multiple of \`num_key_value_heads\` (${numKeyValueHeads})`,
    );
  }
  return {
    numLayers,
    numHeads,
    numKeyValueHeads,
    headDim,
    vocabSize: positiveInteger(source, "vocab_size", file, false),
    maxPositionEmbeddings: positiveInteger(source, "max_position_embeddings", file, false),
    modelType: typeof raw.model_type === "string" ? raw.model_type : undefined,
  };
}

function tokenIds(value: unknown): number[] | undefined {
  if (typeof value === "number" && Number.isInteger(value) && value >= 0) return [value];
  if (Array.isArray(value) && value.length > 0) {
    if (value.every((id) => typeof id === "number" && Number.isInteger(id) && id >= 0)) {
      return value as number[];
    }
  }
  return undefined;
}

function tokenContent(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  if (
    value !== null &&
    typeof value === "object" &&
    typeof (value as JsonObject).content === "string"
  ) {
    return (value as JsonObject).content as string;
  }
  return undefined;
}

/** The id of a token string in `tokenizer.json` (added tokens first, then the model vocabulary). */
export function lookupTokenId(tokenizerJson: JsonObject, token: string): number | undefined {
  const added = tokenizerJson.added_tokens;
  if (Array.isArray(added)) {
    for (const entry of added as JsonObject[]) {
      if (entry.content === token && typeof entry.id === "number") return entry.id;
    }
  }
  const model = tokenizerJson.model as JsonObject | undefined;
  const vocab = model?.vocab;
  if (vocab !== null && typeof vocab === "object" && !Array.isArray(vocab)) {
    const id = (vocab as JsonObject)[token];
    if (typeof id === "number") return id;
  }
  if (Array.isArray(vocab)) {
    // Unigram vocabularies are lists of [piece, score].
    const index = (vocab as unknown[][]).findIndex((entry) => entry[0] === token);
    if (index >= 0) return index;
  }
  return undefined;
}

/** The variants in an `onnx/` folder: `model.onnx` is `fp32`, `model_x.onnx` is `x`. */
export function variantsOf(fileNames: readonly string[]): Map<string, string> {
  const variants = new Map<string, string>();
  for (const name of [...fileNames].sort()) {
    if (name === "model.onnx") variants.set("fp32", name);
    const match = /^model_([A-Za-z0-9]+)\.onnx$/.exec(name);
    if (match) variants.set(match[1], name);
  }
  return variants;
}

const LOCATION_KEY = Buffer.from([0x0a, 0x08, ...Buffer.from("location"), 0x12]);
const SCAN_LIMIT = 256 * 1024 * 1024;

/**
 * The external data files an ONNX graph references: the `location` entries of its tensors'
 * `external_data` (protobuf `StringStringEntryProto { key: "location", value }`).
 */
export function externalDataLocations(bytes: Uint8Array): string[] {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const found = new Set<string>();
  let at = buffer.indexOf(LOCATION_KEY);
  while (at >= 0) {
    let cursor = at + LOCATION_KEY.length;
    let length = 0;
    let shift = 0;
    while (cursor < buffer.length && shift < 35) {
      const byte = buffer[cursor++];
      length |= (byte & 0x7f) << shift;
      shift += 7;
      if ((byte & 0x80) === 0) break;
    }
    if (length > 0 && length < 4096 && cursor + length <= buffer.length) {
      found.add(buffer.toString("utf8", cursor, cursor + length));
    }
    at = buffer.indexOf(LOCATION_KEY, cursor);
  }
  return [...found];
}

async function chooseModelFile(
  dir: string,
  requested: string,
): Promise<{ choice: ModelFileChoice; variants: Map<string, string> }> {
  const onnxDir = join(dir, "onnx");
  let names: string[];
  try {
    names = await readdir(onnxDir);
  } catch (error) {
    throw new ConfigError(
      `The model directory ${dir} has no onnx/ folder: export the decoder with Optimum (onnx/model.onnx) or download an onnx-community model`,
      { cause: error },
    );
  }
  const variants = variantsOf(names);
  const listing = [...variants].map(([variant, file]) => `${variant} (onnx/${file})`).join(", ");
  if (variants.size === 0) {
    throw new ConfigError(
      `${onnxDir} has no model.onnx or model_<variant>.onnx: export the decoder with Optimum or download an onnx-community model`,
    );
  }
  let variant = requested;
  if (requested === "auto") {
    if (variants.has("fp32")) variant = "fp32";
    else if (variants.size === 1) variant = [...variants.keys()][0];
    else {
      throw new ConfigError(
        `${onnxDir} holds several variants and no model.onnx: choose one with \`--variant\` among ${listing}`,
      );
    }
  }
  const file = variants.get(variant);
  if (file === undefined) {
    const expected = variant === "fp32" ? "model.onnx" : `model_${variant}.onnx`;
    throw new ConfigError(
      `${onnxDir} has no ${expected} for variant \`${variant}\`; available: ${listing}`,
    );
  }
  const path = join(onnxDir, file);
  if (await isGitLfsPointer(path)) {
    throw new ConfigError(
      `onnx/${file} in ${dir} is a Git LFS pointer, not the model: run \`git lfs pull\` in the model directory`,
    );
  }
  const size = (await stat(path)).size;
  const externalData: string[] = [];
  if (size <= SCAN_LIMIT) {
    for (const location of externalDataLocations(await readFile(path))) {
      const dataPath = resolve(onnxDir, location);
      try {
        await stat(dataPath);
      } catch (error) {
        throw new ConfigError(
          `onnx/${file} stores its weights in ${location}, which is missing from ${onnxDir}: download it next to ${file}`,
          { cause: error },
        );
      }
      externalData.push(dataPath);
    }
  }
  return { choice: { variant, path, externalData }, variants };
}

async function readChatTemplate(dir: string, tokenizerConfig: JsonObject): Promise<string> {
  try {
    return await readFile(join(dir, "chat_template.jinja"), "utf8");
  } catch {
    // Fall through to tokenizer_config.json.
  }
  const template = tokenizerConfig.chat_template;
  if (typeof template === "string") return template;
  if (Array.isArray(template)) {
    const named = template as { name?: unknown; template?: unknown }[];
    const entry = named.find((item) => item.name === "default") ?? named[0];
    if (typeof entry?.template === "string") return entry.template;
  }
  throw new ConfigError(
    `The model directory ${dir} has no chat template: tokenizer_config.json has no \`chat_template\` and there is no chat_template.jinja (use the instruct/chat model's tokenizer files)`,
  );
}

/**
 * Reads and checks a model directory. `variant` picks `onnx/model*.onnx` (see
 * `OnnxBackendOptionsSchema.variant`).
 *
 * @example
 * const model = await loadModelDirectory("models/Qwen3-0.6B-ONNX", "q4f16");
 * model.modelFile.path // ".../onnx/model_q4f16.onnx"
 */
export async function loadModelDirectory(
  dirPath: string,
  variant = "auto",
): Promise<ModelDirectory> {
  const dir = resolve(dirPath);
  try {
    if (!(await stat(dir)).isDirectory()) throw new Error("not a directory");
  } catch (error) {
    throw new ConfigError(
      `Expected \`--model\` to be a model directory in the onnx-community layout, got ${dirPath} (not a directory)`,
      { cause: error },
    );
  }
  const rawConfig = await readJson(
    dir,
    "config.json",
    "copy config.json from the model's repository",
  );
  const config = parseDecoderConfig(rawConfig);
  const tokenizerJson = await readJson(
    dir,
    "tokenizer.json",
    "copy tokenizer.json from the model's repository (a fast tokenizer is needed)",
  );
  const tokenizerConfig = await readJson(
    dir,
    "tokenizer_config.json",
    "copy tokenizer_config.json from the model's repository",
  );
  const generationConfig = await readOptionalJson(dir, "generation_config.json");

  const eosTokenIds =
    tokenIds(generationConfig?.eos_token_id) ??
    tokenIds(rawConfig.eos_token_id) ??
    (() => {
      const eos = tokenContent(tokenizerConfig.eos_token);
      const id = eos === undefined ? undefined : lookupTokenId(tokenizerJson, eos);
      return id === undefined ? undefined : [id];
    })();
  if (eosTokenIds === undefined) {
    throw new ConfigError(
      `The model directory ${dir} names no end-of-sequence token: add generation_config.json with \`eos_token_id\``,
    );
  }
  const vocabulary = config.vocabSize;
  for (const id of eosTokenIds) {
    if (vocabulary !== undefined && id >= vocabulary) {
      throw new ConfigError(
        `generation_config.json names end-of-sequence id ${id}, outside the vocabulary of config.json (${vocabulary} tokens)`,
      );
    }
  }
  const chatTemplate = await readChatTemplate(dir, tokenizerConfig);
  const { choice, variants } = await chooseModelFile(dir, variant);
  const number = (value: unknown) => (typeof value === "number" ? value : undefined);
  const doSample = generationConfig?.do_sample;
  return {
    dir,
    name: basename(dir),
    config,
    eosTokenIds: [...new Set(eosTokenIds)],
    generationDefaults: {
      temperature: doSample === false ? 0 : number(generationConfig?.temperature),
      topP: number(generationConfig?.top_p),
      topK: number(generationConfig?.top_k),
      maxNewTokens: number(generationConfig?.max_new_tokens),
    },
    tokenizerJson,
    tokenizerConfig,
    chatTemplate,
    modelFile: choice,
    variants,
  };
}

/** Reads the first bytes of a file: used to tell an ONNX file from a Git LFS pointer. */
export async function isGitLfsPointer(path: string): Promise<boolean> {
  const handle = await open(path, "r");
  try {
    const { buffer, bytesRead } = await handle.read(Buffer.alloc(64), 0, 64, 0);
    return buffer.toString("utf8", 0, bytesRead).startsWith("version https://git-lfs");
  } finally {
    await handle.close();
  }
}
