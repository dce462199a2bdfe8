/**
 * Options of the ONNX backend: one zod schema, the type is inferred from it. The CLI maps
 * `--model DIR` to `modelDir`, `--device` to `device` and `--context` to `contextWindow`.
 */
import { z } from "zod";
import { ConfigError } from "../../common/errors.js";

/** Threads of the CPU execution provider; absent fields let onnxruntime choose. */
export const ThreadOptionsSchema = z
  .object({
    /** Threads used inside one operator (matrix products); onnxruntime's default is all cores. */
    intraOp: z.number().int().positive().optional(),
    /** Threads used to run independent operators at once. */
    interOp: z.number().int().positive().optional(),
  })
  .strict();

/** The device text: `auto`, `cpu`, `cuda`, `cuda:N`, `cuda:0,1` or `webgpu`. */
export const DeviceSchema = z.string().refine((value) => DEVICE_PATTERN.test(value), {
  message: "Expected `auto`, `cpu`, `cuda`, `cuda:N` (or `cuda:0,1`) or `webgpu`",
});

const DEVICE_PATTERN = /^(auto|cpu|webgpu|cuda(:\d+(,\d+)*)?)$/;

/**
 * Options of {@link onnxBackend}. Parse user input with `OnnxBackendOptionsSchema.parse`; the
 * backend factory does it for you.
 */
export const OnnxBackendOptionsSchema = z
  .object({
    /**
     * A model directory in the onnx-community / Optimum layout: `config.json`,
     * `generation_config.json`, `tokenizer.json`, `tokenizer_config.json` and `onnx/model*.onnx`.
     */
    modelDir: z.string().min(1),
    /**
     * Which `onnx/model*.onnx` to load, by the suffix of its file name: `fp32` is `model.onnx`,
     * any other name `x` is `model_x.onnx` (`fp16`, `q4`, `q4f16`, `int8`, `uint8`,
     * `quantized`, `bnb4`, …). `auto` takes `model.onnx` when present, else the only variant.
     */
    variant: z
      .string()
      .regex(/^[A-Za-z0-9]+$/, "Expected a variant name such as `fp32`, `fp16`, `q4` or `auto`")
      .default("auto"),
    /**
     * Where sessions run. `auto` tries CUDA and falls back to the CPU with one warning; `cuda`
     * fails when the CUDA provider libraries are missing; `cuda:0,1` runs one session per listed
     * GPU; `webgpu` (bundled, needs Vulkan on Linux) keeps the KV cache on the GPU.
     */
    device: DeviceSchema.default("auto"),
    /** CPU threads per session. */
    threads: ThreadOptionsSchema.default({}),
    /** Most rows (samples) decoded together per session; later rows wait for a free slot. */
    maxBatchSize: z.number().int().positive().default(8),
    /**
     * Most bytes of prompt KV cache each session holds for calls whose `n` rows join the batch
     * in several waves (more rows than free slots): the prompt is prefilled once and its cache
     * kept until the call's last row has joined. Past the cap, later rows are prefilled again.
     * Default 256 MiB; `stats()` reports the bytes held (`heldPrefixBytes`).
     */
    prefixCacheBytes: z.number().int().nonnegative().optional(),
    /** Context window in tokens; defaults to `max_position_embeddings` of `config.json`. */
    contextWindow: z.number().int().positive().optional(),
    /**
     * The `enable_thinking` switch of Qwen3-style chat templates; absent leaves the template's
     * default (thinking on for Qwen3).
     */
    enableThinking: z.boolean().optional(),
    /** Model name reported in results; defaults to the directory's base name. */
    name: z.string().min(1).optional(),
  })
  .strict();

/** Options of {@link onnxBackend}, as the user writes them (defaults optional). */
export type OnnxBackendOptions = z.input<typeof OnnxBackendOptionsSchema>;

/** Options of {@link onnxBackend} after parsing, defaults filled in. */
export type ResolvedOnnxBackendOptions = z.output<typeof OnnxBackendOptionsSchema>;

/** One place a session runs. `auto` is CUDA device 0 with a fallback to the CPU. */
export type DeviceTarget =
  | { readonly kind: "cpu" }
  | { readonly kind: "auto" }
  | { readonly kind: "cuda"; readonly deviceId: number }
  | { readonly kind: "webgpu" };

/**
 * Turns a device text into the sessions to create: one per listed CUDA device, one otherwise.
 *
 * @example
 * parseDevice("cuda:0,1") // [{ kind: "cuda", deviceId: 0 }, { kind: "cuda", deviceId: 1 }]
 */
export function parseDevice(device: string): DeviceTarget[] {
  if (!DEVICE_PATTERN.test(device)) {
    throw new ConfigError(
      `Expected \`--device\` to be auto, cpu, cuda, cuda:N (or cuda:0,1) or webgpu, got \`${device}\``,
    );
  }
  if (device === "auto" || device === "cpu" || device === "webgpu") return [{ kind: device }];
  if (device === "cuda") return [{ kind: "cuda", deviceId: 0 }];
  const ids = device.slice("cuda:".length).split(",").map(Number);
  if (new Set(ids).size !== ids.length) {
    throw new ConfigError(`Expected distinct CUDA device ids in \`--device\`, got \`${device}\``);
  }
  return ids.map((deviceId) => ({ kind: "cuda", deviceId }));
}

/** Parses options, turning zod's error into a `ConfigError` that names the key. */
export function parseOnnxBackendOptions(options: OnnxBackendOptions): ResolvedOnnxBackendOptions {
  const parsed = OnnxBackendOptionsSchema.safeParse(options);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const key = issue?.path.join(".") || "options";
    throw new ConfigError(`Invalid ONNX backend option \`${key}\`: ${issue?.message}`, {
      cause: parsed.error,
    });
  }
  return parsed.data;
}
