/**
 * Trainer formats of synthesis training data. One record per (problem, message set); each file
 * is a view of the same records:
 * - `pacore-train.jsonl`: the PaCoRe release format, `{ conversation, responses, ground_truth }`
 *   (the problem's conversation, the messages of the set, the answer);
 * - `pacore-train.verl.parquet`: verl's RL dataset (`data_source`, `prompt` as chat messages,
 *   `ability`, `reward_model { style, ground_truth }`, `extra_info`), as its
 *   `examples/data_preprocess` scripts write it;
 * - `pacore-train.openrlhf.jsonl`: OpenRLHF prompt data, `input` (chat messages, for
 *   `--apply_chat_template`) and `label` (`--label_key`, sent to the remote reward as `labels`);
 * - `pacore-train.trl.jsonl`: TRL `prompt` (conversational) plus `ground_truth`, `ability` and
 *   `data_source`, the columns GRPOTrainer passes to reward functions as keyword arguments.
 * The trainer formats hold the synthesis prompt already rendered (template `paper` by default),
 * so a trainer needs nothing of pacore to read them.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ChatMessage } from "../spec/backend.js";

/** One training example: a problem and one set of messages it is synthesised from. */
export interface SynthesisRecord {
  readonly problemId: string;
  /** The problem's conversation, as the model is asked it in round 1. */
  readonly conversation: readonly ChatMessage[];
  /** The messages of the set, in the order the synthesis prompt shows them. */
  readonly responses: readonly string[];
  readonly groundTruth: string;
  /** `math` or `code` (verl's `ability`). */
  readonly ability: string;
  /** Where the problem came from (verl `data_source`, OpenRLHF `datasource`). */
  readonly dataSource: string;
  /** The synthesis prompt: the conversation with the last user turn replaced. */
  readonly synthesisPrompt: readonly ChatMessage[];
  /** Index of this set among the problem's sets. */
  readonly setIndex: number;
  /** Mean accuracy of all the problem's sampled messages, and of this set's. */
  readonly messageAccuracy: number;
  readonly setAccuracy: number;
  /** Accuracy of sampled synthesis on this set, when the second filter ran. */
  readonly synthesisAccuracy?: number;
}

/** File names inside the output folder. */
export const FORMAT_FILES = {
  pacore: "pacore-train.jsonl",
  verl: "pacore-train.verl.parquet",
  openrlhf: "pacore-train.openrlhf.jsonl",
  trl: "pacore-train.trl.jsonl",
} as const;

/** Chat messages as plain `{ role, content: string }` (image parts dropped; text parts joined). */
export function plainMessages(
  messages: readonly ChatMessage[],
): { role: string; content: string }[] {
  return messages.map((message) => ({
    role: message.role,
    content:
      typeof message.content === "string"
        ? message.content
        : message.content.flatMap((part) => (part.type === "text" ? [part.text] : [])).join("\n"),
  }));
}

/** The PaCoRe release-format line of a record. */
export function pacoreLine(record: SynthesisRecord) {
  return {
    conversation: record.conversation,
    responses: record.responses,
    ground_truth: record.groundTruth,
  };
}

/** verl's `extra_info` of a record. */
function extraInfo(record: SynthesisRecord, index: number) {
  return {
    split: "train",
    index,
    problem_id: record.problemId,
    set_index: record.setIndex,
    references: record.responses.length,
    message_accuracy: record.messageAccuracy,
    set_accuracy: record.setAccuracy,
    synthesis_accuracy: record.synthesisAccuracy ?? -1,
  };
}

/** The verl row of a record. */
export function verlRow(record: SynthesisRecord, index: number) {
  return {
    data_source: record.dataSource,
    prompt: plainMessages(record.synthesisPrompt),
    ability: record.ability,
    reward_model: { style: "rule", ground_truth: record.groundTruth },
    extra_info: extraInfo(record, index),
  };
}

/** The OpenRLHF line of a record. */
export function openrlhfLine(record: SynthesisRecord) {
  return {
    input: plainMessages(record.synthesisPrompt),
    label: record.groundTruth,
    datasource: record.dataSource,
  };
}

/** The TRL line of a record. */
export function trlLine(record: SynthesisRecord) {
  return {
    prompt: plainMessages(record.synthesisPrompt),
    ground_truth: record.groundTruth,
    ability: record.ability,
    data_source: record.dataSource,
  };
}

const utf8 = { type: "BYTE_ARRAY", converted_type: "UTF8", repetition_type: "REQUIRED" } as const;

/** verl's Parquet schema: nested `prompt` list of structs, `reward_model` and `extra_info` structs. */
const VERL_SCHEMA = [
  { name: "root", num_children: 5 },
  { name: "data_source", ...utf8 },
  { name: "prompt", repetition_type: "REQUIRED", converted_type: "LIST", num_children: 1 },
  { name: "list", repetition_type: "REPEATED", num_children: 1 },
  { name: "element", repetition_type: "REQUIRED", num_children: 2 },
  { name: "role", ...utf8 },
  { name: "content", ...utf8 },
  { name: "ability", ...utf8 },
  { name: "reward_model", repetition_type: "REQUIRED", num_children: 2 },
  { name: "style", ...utf8 },
  { name: "ground_truth", ...utf8 },
  { name: "extra_info", repetition_type: "REQUIRED", num_children: 8 },
  { name: "split", ...utf8 },
  { name: "index", type: "INT64", repetition_type: "REQUIRED" },
  { name: "problem_id", ...utf8 },
  { name: "set_index", type: "INT64", repetition_type: "REQUIRED" },
  { name: "references", type: "INT64", repetition_type: "REQUIRED" },
  { name: "message_accuracy", type: "DOUBLE", repetition_type: "REQUIRED" },
  { name: "set_accuracy", type: "DOUBLE", repetition_type: "REQUIRED" },
  { name: "synthesis_accuracy", type: "DOUBLE", repetition_type: "REQUIRED" },
];

/** verl's Parquet file as bytes (hyparquet-writer, loaded on first use). */
export async function verlParquet(records: readonly SynthesisRecord[]): Promise<ArrayBuffer> {
  const { parquetWriteBuffer } = await import("hyparquet-writer");
  const rows = records.map((record, index) => {
    const row = verlRow(record, index);
    const info = row.extra_info;
    return {
      ...row,
      extra_info: {
        ...info,
        index: BigInt(info.index),
        set_index: BigInt(info.set_index),
        references: BigInt(info.references),
      },
    };
  });
  const names = ["data_source", "prompt", "ability", "reward_model", "extra_info"] as const;
  return parquetWriteBuffer({
    columnData: names.map((name) => ({ name, data: rows.map((row) => row[name]) })),
    // biome-ignore lint/suspicious/noExplicitAny: hyparquet's SchemaElement is a wide union.
    schema: VERL_SCHEMA as any,
  });
}

const jsonl = (lines: readonly unknown[]) =>
  lines.map((line) => `${JSON.stringify(line)}\n`).join("");

/** Writes every format into `dir`; resolves with the paths written. */
export async function writeTrainingFormats(
  dir: string,
  records: readonly SynthesisRecord[],
): Promise<Record<keyof typeof FORMAT_FILES, string>> {
  mkdirSync(dir, { recursive: true });
  const paths = {
    pacore: join(dir, FORMAT_FILES.pacore),
    verl: join(dir, FORMAT_FILES.verl),
    openrlhf: join(dir, FORMAT_FILES.openrlhf),
    trl: join(dir, FORMAT_FILES.trl),
  };
  writeFileSync(paths.pacore, jsonl(records.map(pacoreLine)));
  writeFileSync(paths.openrlhf, jsonl(records.map(openrlhfLine)));
  writeFileSync(paths.trl, jsonl(records.map(trlLine)));
  writeFileSync(paths.verl, new Uint8Array(await verlParquet(records)));
  return paths;
}
