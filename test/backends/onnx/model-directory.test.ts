/**
 * Loading model directories: the fixture loads; incomplete or inconsistent directories fail
 * with an error naming the file; the tokenizer and chat template give the reference prompt ids.
 */
import assert from "node:assert/strict";
import { cp, mkdtemp, readFile, rm, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { ChatPrompter } from "../../../src/backends/onnx/chat-prompt.js";
import {
  externalDataLocations,
  loadModelDirectory,
  variantsOf,
} from "../../../src/backends/onnx/model-directory.js";
import { onnxBackend } from "../../../src/backends/onnx/onnx-backend.js";
import { ConfigError } from "../../../src/common/errors.js";
import { REFERENCE, TINY_CHAT_DIR } from "./fixture.js";

describe("model directory", () => {
  let scratch: string;
  before(async () => {
    scratch = await mkdtemp(join(tmpdir(), "pacore-onnx-"));
  });
  after(() => rm(scratch, { recursive: true, force: true }));

  /** A copy of the fixture, changed by `change`. */
  async function brokenCopy(name: string, change: (dir: string) => Promise<void>): Promise<string> {
    const dir = join(scratch, name);
    await cp(TINY_CHAT_DIR, dir, { recursive: true });
    await change(dir);
    return dir;
  }

  const rejectsNaming = (promise: Promise<unknown>, pattern: RegExp) =>
    assert.rejects(promise, (error: unknown) => {
      assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${error}`);
      assert.match(error.message, pattern);
      return true;
    });

  test("the fixture loads: sizes, eos ids, variants and external data", async () => {
    const model = await loadModelDirectory(TINY_CHAT_DIR);
    assert.equal(model.config.numLayers, 2);
    assert.equal(model.config.numKeyValueHeads, 2);
    assert.equal(model.config.numHeads, 4);
    assert.deepEqual(model.eosTokenIds, REFERENCE.eosTokenIds);
    assert.deepEqual([...model.variants.keys()].sort(), ["fp16", "fp32"]);
    assert.equal(model.modelFile.variant, "fp32");
    assert.deepEqual(model.modelFile.externalData, []);
    const fp16 = await loadModelDirectory(TINY_CHAT_DIR, "fp16");
    assert.match(fp16.modelFile.path, /model_fp16\.onnx$/);
    assert.equal(fp16.modelFile.externalData.length, 1);
    assert.match(fp16.modelFile.externalData[0], /model_fp16\.onnx_data$/);
  });

  test("variant names come from file names", () => {
    const variants = variantsOf([
      "model.onnx",
      "model_q4f16.onnx",
      "model_fp16.onnx_data",
      "x.onnx",
    ]);
    assert.deepEqual(
      [...variants],
      [
        ["fp32", "model.onnx"],
        ["q4f16", "model_q4f16.onnx"],
      ],
    );
  });

  test("externalDataLocations reads the protobuf location entries", async () => {
    const bytes = await readFile(join(TINY_CHAT_DIR, "onnx", "model_fp16.onnx"));
    assert.deepEqual(externalDataLocations(bytes), ["model_fp16.onnx_data"]);
    assert.deepEqual(
      externalDataLocations(await readFile(join(TINY_CHAT_DIR, "onnx", "model.onnx"))),
      [],
    );
  });

  test("missing files are named", async () => {
    for (const file of ["config.json", "tokenizer.json", "tokenizer_config.json"]) {
      const dir = await brokenCopy(`no-${file}`, (target) => unlink(join(target, file)));
      await rejectsNaming(loadModelDirectory(dir), new RegExp(file.replace(".", "\\.")));
    }
    const noOnnx = await brokenCopy("no-onnx", (target) =>
      rm(join(target, "onnx"), { recursive: true }),
    );
    await rejectsNaming(loadModelDirectory(noOnnx), /no onnx\/ folder/);
    const noData = await brokenCopy("no-data", (target) =>
      unlink(join(target, "onnx", "model_fp16.onnx_data")),
    );
    await rejectsNaming(
      loadModelDirectory(noData, "fp16"),
      /model_fp16\.onnx_data, which is missing/,
    );
    await rejectsNaming(
      loadModelDirectory(TINY_CHAT_DIR, "q4"),
      /no model_q4\.onnx for variant `q4`; available: .*fp16 \(onnx\/model_fp16\.onnx\)/,
    );
    await rejectsNaming(loadModelDirectory(join(scratch, "nowhere")), /not a directory/);
  });

  test("a config without eos ids anywhere, or without a chat template, is refused", async () => {
    const noEos = await brokenCopy("no-eos", async (target) => {
      await unlink(join(target, "generation_config.json"));
      const config = JSON.parse(await readFile(join(target, "config.json"), "utf8"));
      delete config.eos_token_id;
      await writeFile(join(target, "config.json"), JSON.stringify(config));
      const tokenizerConfig = JSON.parse(
        await readFile(join(target, "tokenizer_config.json"), "utf8"),
      );
      delete tokenizerConfig.eos_token;
      await writeFile(join(target, "tokenizer_config.json"), JSON.stringify(tokenizerConfig));
    });
    await rejectsNaming(loadModelDirectory(noEos), /generation_config\.json/);
    const noTemplate = await brokenCopy("no-template", async (target) => {
      const tokenizerConfig = JSON.parse(
        await readFile(join(target, "tokenizer_config.json"), "utf8"),
      );
      delete tokenizerConfig.chat_template;
      await writeFile(join(target, "tokenizer_config.json"), JSON.stringify(tokenizerConfig));
    });
    await rejectsNaming(loadModelDirectory(noTemplate), /chat_template/);
  });

  test("a config.json from another model is caught against the ONNX graph", async () => {
    const wrongLayers = await brokenCopy("wrong-layers", async (target) => {
      const config = JSON.parse(await readFile(join(target, "config.json"), "utf8"));
      config.num_hidden_layers = 3;
      await writeFile(join(target, "config.json"), JSON.stringify(config));
    });
    await rejectsNaming(
      onnxBackend({ modelDir: wrongLayers, device: "cpu" }),
      /2 layers but config\.json says `num_hidden_layers` = 3/,
    );
    const wrongHeads = await brokenCopy("wrong-heads", async (target) => {
      const config = JSON.parse(await readFile(join(target, "config.json"), "utf8"));
      config.num_key_value_heads = 4;
      await writeFile(join(target, "config.json"), JSON.stringify(config));
    });
    await rejectsNaming(
      onnxBackend({ modelDir: wrongHeads, device: "cpu" }),
      /config\.json says 4 KV heads/,
    );
  });
});

describe("tokenizer and chat template", () => {
  test("token ids equal the Python reference BPE", async () => {
    const prompter = new ChatPrompter(await loadModelDirectory(TINY_CHAT_DIR));
    for (const item of REFERENCE.tokenizerCases) {
      assert.deepEqual(prompter.encode(item.text), item.ids, JSON.stringify(item.text));
    }
  });

  test("the chat template renders the reference prompt, enable_thinking included", async () => {
    const directory = await loadModelDirectory(TINY_CHAT_DIR);
    const plain = new ChatPrompter(directory);
    const noThinking = new ChatPrompter(directory, { enableThinking: false });
    for (const item of REFERENCE.cases) {
      const prompter = item.enableThinking === false ? noThinking : plain;
      assert.equal(prompter.render(item.messages), item.promptText, item.name);
      assert.deepEqual(prompter.encodeMessages(item.messages), item.promptIds, item.name);
    }
    assert.match(noThinking.render([{ role: "user", content: "hi" }]), /<think>\n\n<\/think>\n\n$/);
  });

  test("text parts are joined by a newline; image parts are refused", async () => {
    const prompter = new ChatPrompter(await loadModelDirectory(TINY_CHAT_DIR));
    const joined = prompter.render([
      {
        role: "user",
        content: [
          { type: "text", text: "a" },
          { type: "text", text: "b" },
        ],
      },
    ]);
    assert.equal(joined, prompter.render([{ role: "user", content: "a\nb" }]));
    assert.throws(
      () =>
        prompter.render([{ role: "user", content: [{ type: "image", image: "/tmp/cat.png" }] }]),
      /holds an image.*text-only/,
    );
  });
});
