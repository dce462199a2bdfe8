/**
 * Perception rewards: IoU for boxes and a smooth distance-decay reward for points, in the
 * coordinate conventions VLMs emit: absolute pixels, 0–1 (normalized) and 0–1000 (Qwen-VL
 * style). Everything is converted to 0–1 of the image before it is compared.
 */
import { z } from "zod";
import { ConfigError } from "../../common/errors.js";
import { splitReasoning } from "../../common/think.js";
import { formatZodError } from "../../common/validate.js";
import type { Reward, RewardInput, RewardResult } from "./types.js";

/**
 * `pixels`: absolute pixels of the image; `unit`: 0–1; `thousand`: 0–1000; `auto`: `unit`
 * when every number is at most 1, else `thousand` when every number is at most 1000 and the
 * image is given and some number lies beyond it, else `pixels`.
 */
export const CoordinateConventionSchema = z.enum(["auto", "pixels", "unit", "thousand"]);
export type CoordinateConvention = z.infer<typeof CoordinateConventionSchema>;

const TargetSchema = z.object({
  box: z.array(z.number()).length(4).optional(),
  point: z.array(z.number()).length(2).optional(),
  /** Image width and height in pixels: needed for `pixels`. */
  image: z.array(z.number().positive()).length(2).optional(),
  convention: CoordinateConventionSchema.optional(),
});
type Target = z.infer<typeof TargetSchema>;

function readTarget(input: RewardInput, kind: "box" | "point"): Target {
  const text = input.groundTruth?.trim() ?? "";
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(
      `The ${kind} reward needs a JSON ground truth such as {"${kind}": [${kind === "box" ? "x1, y1, x2, y2" : "x, y"}], "image": [width, height], "convention": "pixels"}, got \`${text}\``,
      { cause: error },
    );
  }
  const parsed = TargetSchema.safeParse(Array.isArray(raw) ? { [kind]: raw } : raw);
  if (!parsed.success) {
    throw new ConfigError(formatZodError(parsed.error, `${kind} target field`));
  }
  if (parsed.data[kind] === undefined) {
    throw new ConfigError(`The ${kind} reward's ground truth has no \`${kind}\``);
  }
  return parsed.data;
}

/** Converts coordinates (x, y alternating) to 0–1 of the image. */
export function toUnit(
  values: readonly number[],
  convention: CoordinateConvention,
  image?: readonly number[],
): number[] {
  let resolved = convention;
  if (resolved === "auto") {
    const max = Math.max(...values.map(Math.abs));
    if (max <= 1) resolved = "unit";
    else if (max <= 1000 && image !== undefined && values.some((v, i) => v > image[i % 2])) {
      resolved = "thousand";
    } else resolved = "pixels";
  }
  switch (resolved) {
    case "unit":
      return [...values];
    case "thousand":
      return values.map((v) => v / 1000);
    default: {
      if (image === undefined) {
        throw new ConfigError(
          'Pixel coordinates need the image size: give "image": [width, height] in the ground truth or metadata',
        );
      }
      return values.map((v, i) => v / image[i % 2]);
    }
  }
}

/** The last `n` numbers of the response's conclusion in one bracketed group, or null. */
function lastNumbers(response: string, n: number): number[] | null {
  const body = splitReasoning(response).content;
  const groups = [...body.matchAll(/[[(<]([^[\]()<>]*)[\])>]/g)];
  for (let i = groups.length - 1; i >= 0; i--) {
    const numbers = groups[i][1].match(/-?\d+(?:\.\d+)?/g);
    if (numbers?.length === n) return numbers.map(Number);
  }
  const all = body.match(/-?\d+(?:\.\d+)?/g);
  return all && all.length >= n ? all.slice(-n).map(Number) : null;
}

/** Intersection over union of two boxes `[x1, y1, x2, y2]` (corners in any order). */
export function boxIoU(a: readonly number[], b: readonly number[]): number {
  const [ax1, ax2] = [Math.min(a[0], a[2]), Math.max(a[0], a[2])];
  const [ay1, ay2] = [Math.min(a[1], a[3]), Math.max(a[1], a[3])];
  const [bx1, bx2] = [Math.min(b[0], b[2]), Math.max(b[0], b[2])];
  const [by1, by2] = [Math.min(b[1], b[3]), Math.max(b[1], b[3])];
  const width = Math.max(0, Math.min(ax2, bx2) - Math.max(ax1, bx1));
  const height = Math.max(0, Math.min(ay2, by2) - Math.max(ay1, by1));
  const intersection = width * height;
  const union = (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - intersection;
  return union > 0 ? intersection / union : 0;
}

/** Options of the perception rewards. */
export interface PerceptionOptions {
  /** Convention of the model's coordinates (default `auto`). */
  readonly convention?: CoordinateConvention;
}

function imageOf(target: Target, input: RewardInput): number[] | undefined {
  const fromMetadata = input.metadata?.image;
  return (
    target.image ??
    (Array.isArray(fromMetadata) && fromMetadata.length === 2
      ? fromMetadata.map(Number)
      : undefined)
  );
}

/**
 * IoU of the response's last box against the ground truth's (`{"box": [...], "image": [w, h],
 * "convention": "pixels"}`, or a bare `[x1, y1, x2, y2]` in 0–1).
 */
export function boxIoUReward(options: PerceptionOptions = {}): Reward {
  return async (input) => {
    const target = readTarget(input, "box");
    const image = imageOf(target, input);
    const truth = toUnit(target.box!, target.convention ?? "auto", image);
    const predicted = lastNumbers(input.response, 4);
    if (predicted === null)
      return { score: 0, parts: { iou: 0 }, reason: "no box in the response" };
    const iou = boxIoU(toUnit(predicted, options.convention ?? "auto", image), truth);
    return { score: iou, parts: { iou } };
  };
}

/** Options of `pointReward`. */
export interface PointRewardOptions extends PerceptionOptions {
  /**
   * Distance, as a fraction of the image diagonal, at which the reward has fallen to e^-1/2 ≈
   * 0.61 (a Gaussian decay, default 0.05).
   */
  readonly scale?: number;
}

/**
 * Distance-decay shaping for points: exp(−d² / 2σ²) with d the distance in units of the image
 * diagonal, so 1 at the target, smooth, and near 0 far from it (σ = `scale`).
 */
export function pointReward(options: PointRewardOptions = {}): Reward {
  const scale = options.scale ?? 0.05;
  if (!(scale > 0)) throw new ConfigError(`Expected \`scale\` above 0, got \`${scale}\``);
  return async (input): Promise<RewardResult> => {
    const target = readTarget(input, "point");
    const image = imageOf(target, input);
    const truth = toUnit(target.point!, target.convention ?? "auto", image);
    const predicted = lastNumbers(input.response, 2);
    if (predicted === null) {
      return { score: 0, parts: { point: 0 }, reason: "no point in the response" };
    }
    const point = toUnit(predicted, options.convention ?? "auto", image);
    // In 0–1 units both axes span 1; with the aspect ratio, the diagonal is √2 when square.
    const [w, h] = image ?? [1, 1];
    const diagonal = Math.hypot(w, h);
    const dx = ((point[0] - truth[0]) * w) / diagonal;
    const dy = ((point[1] - truth[1]) * h) / diagonal;
    const distance = Math.hypot(dx, dy);
    const score = Math.exp(-(distance * distance) / (2 * scale * scale));
    return { score, parts: { point: score, distance } };
  };
}
