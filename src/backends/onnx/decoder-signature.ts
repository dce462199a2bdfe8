/**
 * What a decoder graph takes and returns, read from the session's metadata (never assumed):
 * the onnx-community / Optimum names `input_ids, attention_mask, position_ids,
 * past_key_values.{i}.key/value` → `logits, present.{i}.key/value`, the KV cache's element type
 * (fp32 or fp16) and its head sizes, checked against `config.json`.
 */
import type { InferenceSession } from "onnxruntime-node";
import { ConfigError } from "../../common/errors.js";
import type { DecoderConfig } from "./model-directory.js";

/** Element types the runtime handles for the KV cache and the logits. */
export type FloatType = "float32" | "float16";

/** Integer types of `input_ids`, `attention_mask` and `position_ids`. */
export type IndexType = "int64" | "int32";

/** Names of one layer's cache tensors. */
export interface LayerCacheNames {
  readonly pastKey: string;
  readonly pastValue: string;
  readonly presentKey: string;
  readonly presentValue: string;
}

/** The I/O of a decoder session. */
export interface DecoderSignature {
  readonly inputIds: { readonly name: string; readonly type: IndexType };
  readonly attentionMask?: { readonly name: string; readonly type: IndexType };
  readonly positionIds?: { readonly name: string; readonly type: IndexType };
  /**
   * `num_logits_to_keep` (an integer scalar: logits of the last k positions, 0 for all), where
   * the graph takes it; the engine feeds 1, so a prefill computes one row of logits per prompt.
   */
  readonly numLogitsToKeep?: { readonly name: string; readonly type: IndexType };
  /** Optimum's merged decoders take a boolean `use_cache_branch`. */
  readonly useCacheBranch?: string;
  readonly layers: readonly LayerCacheNames[];
  /** Element type of the KV cache, from the metadata of `past_key_values.0.key`. */
  readonly cacheType: FloatType;
  readonly logits: { readonly name: string; readonly type: FloatType };
  readonly numKeyValueHeads: number;
  readonly headDim: number;
  /** Last dimension of `logits` when the graph fixes it. */
  readonly vocabSize?: number;
}

/** The part of an inference session that {@link readDecoderSignature} reads. */
export interface SessionMetadata {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  readonly inputMetadata: readonly InferenceSession.ValueMetadata[];
  readonly outputMetadata: readonly InferenceSession.ValueMetadata[];
}

const PAST = /^past_key_values\.(\d+)\.(key|value)$/;
const PRESENT = /^present\.(\d+)\.(key|value)$/;

function tensorMetadata(
  list: readonly InferenceSession.ValueMetadata[],
  name: string,
  file: string,
): InferenceSession.TensorValueMetadata {
  const entry = list.find((item) => item.name === name);
  if (entry === undefined || !entry.isTensor) {
    throw new ConfigError(`${file}: \`${name}\` is not a tensor in the graph's metadata`);
  }
  return entry;
}

function indexType(meta: InferenceSession.TensorValueMetadata, file: string): IndexType {
  if (meta.type === "int64" || meta.type === "int32") return meta.type;
  throw new ConfigError(
    `${file}: expected \`${meta.name}\` to be int64 or int32, got ${meta.type}`,
  );
}

function floatType(meta: InferenceSession.TensorValueMetadata, file: string): FloatType {
  if (meta.type === "float32" || meta.type === "float16") return meta.type;
  throw new ConfigError(
    `${file}: expected \`${meta.name}\` to be float32 or float16, got ${meta.type} (this backend runs fp32 and fp16 KV caches)`,
  );
}

/**
 * Reads and checks the I/O of a decoder session. `file` names the model file in errors.
 */
export function readDecoderSignature(
  session: SessionMetadata,
  config: DecoderConfig,
  file: string,
): DecoderSignature {
  const inputs = new Set(session.inputNames);
  const outputs = new Set(session.outputNames);
  if (!inputs.has("input_ids")) {
    throw new ConfigError(
      `${file} has no \`input_ids\` input (inputs: ${session.inputNames.join(", ")}): expected a decoder exported in the onnx-community / Optimum layout`,
    );
  }
  if (!outputs.has("logits")) {
    throw new ConfigError(
      `${file} has no \`logits\` output (outputs: ${session.outputNames.join(", ")}): expected a causal LM decoder, not a bare base model`,
    );
  }
  const known = new Set([
    "input_ids",
    "attention_mask",
    "position_ids",
    "num_logits_to_keep",
    "use_cache_branch",
  ]);
  const unknown = session.inputNames.filter((name) => !known.has(name) && !PAST.test(name));
  if (unknown.length > 0) {
    throw new ConfigError(
      `${file} takes inputs this backend does not feed: ${unknown.join(", ")} (supported: input_ids, attention_mask, position_ids, past_key_values.N.key/value, num_logits_to_keep, use_cache_branch)`,
    );
  }
  const layerCount = session.inputNames.filter((name) => PAST.test(name)).length / 2;
  if (layerCount === 0) {
    throw new ConfigError(
      `${file} has no past_key_values inputs: export the decoder with its KV cache (Optimum task \`text-generation-with-past\`)`,
    );
  }
  if (layerCount !== config.numLayers) {
    throw new ConfigError(
      `${file} has a KV cache for ${layerCount} layers but config.json says \`num_hidden_layers\` = ${config.numLayers}: the config and the ONNX file come from different models`,
    );
  }
  const layers: LayerCacheNames[] = [];
  for (let i = 0; i < layerCount; i++) {
    const names = {
      pastKey: `past_key_values.${i}.key`,
      pastValue: `past_key_values.${i}.value`,
      presentKey: `present.${i}.key`,
      presentValue: `present.${i}.value`,
    };
    for (const name of [names.pastKey, names.pastValue]) {
      if (!inputs.has(name)) throw new ConfigError(`${file} has no \`${name}\` input`);
    }
    for (const name of [names.presentKey, names.presentValue]) {
      if (!outputs.has(name)) throw new ConfigError(`${file} has no \`${name}\` output`);
    }
    layers.push(names);
  }
  if (
    session.outputNames.some(
      (name) => PRESENT.test(name) && Number(PRESENT.exec(name)?.[1]) >= layerCount,
    )
  ) {
    throw new ConfigError(`${file} has more present outputs than past inputs`);
  }
  const pastMeta = tensorMetadata(session.inputMetadata, layers[0].pastKey, file);
  const cacheType = floatType(pastMeta, file);
  for (const layer of layers) {
    for (const name of [layer.pastKey, layer.pastValue]) {
      const meta = tensorMetadata(session.inputMetadata, name, file);
      if (floatType(meta, file) !== cacheType) {
        throw new ConfigError(
          `${file}: \`${name}\` is ${meta.type} but \`${layers[0].pastKey}\` is ${cacheType}`,
        );
      }
    }
    for (const name of [layer.presentKey, layer.presentValue]) {
      const meta = tensorMetadata(session.outputMetadata, name, file);
      if (floatType(meta, file) !== cacheType) {
        throw new ConfigError(
          `${file}: \`${name}\` is ${meta.type} but the past inputs are ${cacheType}`,
        );
      }
    }
  }
  const shape = pastMeta.shape;
  const heads = typeof shape[1] === "number" ? shape[1] : config.numKeyValueHeads;
  const headDim = typeof shape[3] === "number" ? shape[3] : config.headDim;
  if (heads !== config.numKeyValueHeads || headDim !== config.headDim) {
    throw new ConfigError(
      `${file} has KV heads of shape [${heads} × ${headDim}] but config.json says ${config.numKeyValueHeads} KV heads of ${config.headDim}: the config and the ONNX file come from different models`,
    );
  }
  const logitsMeta = tensorMetadata(session.outputMetadata, "logits", file);
  const vocabDim = logitsMeta.shape[2];
  const vocabSize = typeof vocabDim === "number" ? vocabDim : undefined;
  if (vocabSize !== undefined && config.vocabSize !== undefined && vocabSize !== config.vocabSize) {
    throw new ConfigError(
      `${file} returns logits over ${vocabSize} tokens but config.json says \`vocab_size\` = ${config.vocabSize}`,
    );
  }
  const optional = (name: string) =>
    inputs.has(name)
      ? { name, type: indexType(tensorMetadata(session.inputMetadata, name, file), file) }
      : undefined;
  return {
    inputIds: optional("input_ids")!,
    attentionMask: optional("attention_mask"),
    positionIds: optional("position_ids"),
    numLogitsToKeep: optional("num_logits_to_keep"),
    useCacheBranch: inputs.has("use_cache_branch") ? "use_cache_branch" : undefined,
    layers,
    cacheType,
    logits: { name: "logits", type: floatType(logitsMeta, file) },
    numKeyValueHeads: heads,
    headDim,
    vocabSize,
  };
}
