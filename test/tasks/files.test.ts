import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { parquetWriteBuffer } from "hyparquet-writer";
import { loadBenchmark } from "../../src/tasks/files.js";

// Fixtures are written by the tests into a temporary directory (the Parquet ones with
// hyparquet-writer), so that what each holds is visible here.
const dir = mkdtempSync(join(tmpdir(), "pacore-files-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const jsonl = (rows: readonly object[]) => `${rows.map((row) => JSON.stringify(row)).join("\n")}\n`;

function writeParquet(name: string, columns: Record<string, unknown[]>): string {
  const buffer = parquetWriteBuffer({
    columnData: Object.entries(columns).map(([columnName, data]) => ({
      name: columnName,
      data,
      ...(typeof data[0] === "number" && { type: "INT32" as const }),
    })),
  });
  const path = join(dir, name);
  writeFileSync(path, Buffer.from(buffer));
  return path;
}

describe("loadBenchmark", () => {
  it("reads a 1,000-line JSONL with mapped fields, in file order", async () => {
    const rows = Array.from({ length: 1000 }, (_, i) => ({
      key: `q${i}`,
      text: `What is ${i}+${i}?`,
      gold: 2 * i,
      extra: { nested: i },
    }));
    const path = write("big.jsonl", jsonl(rows));
    const started = performance.now();
    const loaded = await loadBenchmark({
      path,
      fields: { problem: "text", answer: "gold", id: "key" },
    });
    const ms = performance.now() - started;
    assert.equal(loaded.shape, "mapped");
    assert.equal(loaded.records, 1000);
    assert.equal(loaded.problems.length, 1000);
    assert.deepEqual(
      [loaded.problems[0].id, loaded.problems[0].prompt, loaded.problems[0].groundTruth],
      ["q0", "What is 0+0?", "0"],
    );
    assert.equal(loaded.problems[999].id, "q999");
    assert.equal(loaded.problems[999].groundTruth, "1998", "numbers become text");
    assert.equal(
      await loaded.problems[7].grade("<think>7+7</think>The answer is $\\boxed{14}$."),
      true,
    );
    assert.equal(await loaded.problems[7].grade("The answer is 15."), false);
    console.log(`1,000-line JSONL loaded in ${ms.toFixed(0)} ms`);

    const picked = await loadBenchmark({
      path,
      fields: { problem: "text", answer: "gold", id: "key" },
      ids: ["q5", "q3", "q900"],
    });
    assert.deepEqual(
      picked.problems.map((problem) => problem.id),
      ["q3", "q5", "q900"],
      "--ids keeps file order",
    );
    const window = await loadBenchmark({
      path,
      fields: { problem: "text", answer: "gold", id: "key" },
      offset: 10,
      limit: 3,
    });
    assert.deepEqual(
      window.problems.map((problem) => problem.id),
      ["q10", "q11", "q12"],
    );
    await assert.rejects(
      loadBenchmark({
        path,
        fields: { problem: "text", answer: "gold", id: "key" },
        ids: ["q1", "nope"],
      }),
      /has no problem with id `nope` in column `key`/,
    );
  });

  it("reads a Parquet file with mapped fields", async () => {
    const path = writeParquet("mapped.parquet", {
      uid: ["a", "b", "c"],
      statement: ["What is 2*3?", "What is 4-9?", "Compute $\\frac{1}{2}+\\frac{1}{3}$."],
      solution: ["6", "-5", "\\frac{5}{6}"],
    });
    const loaded = await loadBenchmark({
      path,
      fields: { problem: "statement", answer: "solution", id: "uid" },
    });
    assert.equal(loaded.format, "parquet");
    assert.deepEqual(
      loaded.problems.map((problem) => [problem.id, problem.prompt, problem.groundTruth]),
      [
        ["a", "What is 2*3?", "6"],
        ["b", "What is 4-9?", "-5"],
        ["c", "Compute $\\frac{1}{2}+\\frac{1}{3}$.", "\\frac{5}{6}"],
      ],
    );
    assert.equal(await loaded.problems[2].grade("So the sum is \\boxed{5/6}."), true);
  });

  describe("finds the common shapes by their column names", () => {
    it("MATH-500 (problem, answer, unique_id) in JSONL", async () => {
      const path = write(
        "math500.jsonl",
        jsonl([
          {
            problem: "Find $x$ if $2x=6$.",
            solution: "...",
            answer: "3",
            subject: "Algebra",
            level: 1,
            unique_id: "test/algebra/1.json",
          },
          {
            problem: "Simplify $\\sqrt{8}$.",
            solution: "...",
            answer: "2\\sqrt{2}",
            subject: "Algebra",
            level: 2,
            unique_id: "test/algebra/2.json",
          },
        ]),
      );
      const loaded = await loadBenchmark({ path });
      assert.equal(loaded.shape, "math");
      assert.deepEqual(loaded.problems[1].id, "test/algebra/2.json");
      assert.equal(await loaded.problems[1].grade("\\boxed{\\sqrt{8}}"), true);
    });

    it("an AIME export (ID, Problem, Answer, capitalised) in CSV", async () => {
      const path = write(
        "aime.csv",
        'ID,Problem,Solution,Answer\n2024-I-1,"Every morning Aya walks 9 km, then stops at a coffee shop.\nFind the minutes.","long, quoted",204\n2024-I-2,"Real numbers x and y, both > 1.",sol,25\n',
      );
      const loaded = await loadBenchmark({ path });
      assert.equal(loaded.shape, "math");
      assert.deepEqual(
        loaded.problems.map((problem) => [problem.id, problem.groundTruth]),
        [
          ["2024-I-1", "204"],
          ["2024-I-2", "25"],
        ],
      );
      assert.match(
        String(loaded.problems[0].prompt),
        /coffee shop\.\nFind the minutes\./,
        "a newline inside quotes",
      );
    });

    it("MathArena Parquet (problem_idx, problem, answer as LaTeX)", async () => {
      const path = writeParquet("matharena.parquet", {
        problem_idx: [1, 2],
        problem: ["Find the sum of all bases $b>9$ …", "Compute $\\frac{a}{b}$ …"],
        answer: ["70", "\\frac{19}{3}"],
      });
      const loaded = await loadBenchmark({ path });
      assert.equal(loaded.shape, "matharena");
      assert.deepEqual(
        loaded.problems.map((problem) => [problem.id, problem.groundTruth]),
        [
          ["1", "70"],
          ["2", "\\frac{19}{3}"],
        ],
      );
      assert.equal(await loaded.problems[1].grade("The answer is $\\dfrac{19}{3}$."), true);
    });

    it("GSM8K (question, answer with #### before the final value)", async () => {
      const path = write(
        "gsm8k.jsonl",
        jsonl([
          {
            question: "Natalia sold clips to 48 friends …",
            answer: "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n#### 72",
          },
          {
            question: "A shop sells 1,250 pens a day …",
            answer: "In all 1,250*2 = 2,500\n#### 2,500",
          },
        ]),
      );
      const loaded = await loadBenchmark({ path });
      assert.equal(loaded.shape, "gsm8k");
      assert.deepEqual(
        loaded.problems.map((problem) => [problem.id, problem.groundTruth]),
        [
          ["1", "72"],
          ["2", "2500"],
        ],
        "ids are record numbers when the file has no id column",
      );
    });

    it("GPQA-style CSV: options shuffled by the seed, rendered with letters, graded by letter", async () => {
      const header =
        "Record ID,Question,Correct Answer,Incorrect Answer 1,Incorrect Answer 2,Incorrect Answer 3\n";
      const rows = Array.from(
        { length: 12 },
        (_, i) =>
          `rec${i},"Which one, of these, is right (${i})?",right ${i},wrong a${i},wrong b${i},wrong c${i}\n`,
      );
      const path = write("gpqa.csv", header + rows.join(""));
      const first = await loadBenchmark({ path, seed: 7 });
      const again = await loadBenchmark({ path, seed: 7 });
      const other = await loadBenchmark({ path, seed: 8 });
      assert.equal(first.shape, "gpqa");
      assert.deepEqual(
        first.problems.map((problem) => problem.choices),
        again.problems.map((problem) => problem.choices),
        "the same seed shuffles the same way",
      );
      assert.notDeepEqual(
        first.problems.map((problem) => problem.choices),
        other.problems.map((problem) => problem.choices),
        "another seed shuffles another way",
      );
      const letters = new Set(first.problems.map((problem) => problem.groundTruth));
      assert.ok(letters.size >= 3, `the right option lands on several letters: ${[...letters]}`);
      for (const problem of first.problems) {
        const index = "ABCD".indexOf(problem.groundTruth);
        assert.ok(index >= 0);
        assert.match(
          problem.choices?.[index] ?? "",
          /^right /,
          "the letter points at the right option",
        );
        assert.equal(problem.choices?.length, 4);
        const prompt = String(problem.prompt);
        assert.match(
          prompt,
          /^Which one, of these, is right \(\d+\)\?\n\nA\) .+\nB\) .+\nC\) .+\nD\) .+\n\nAnswer with the letter/,
        );
        assert.ok(prompt.includes(`${problem.groundTruth}) ${problem.choices?.[index]}`));
        const wrong = "ABCD"[(index + 1) % 4];
        assert.equal(
          await problem.grade(`<think>…</think>The answer is (${problem.groundTruth}).`),
          true,
        );
        assert.equal(await problem.grade(`The answer is (${wrong}).`), false);
      }
      assert.equal(first.problems[0].id, "rec0");
    });

    it("the PaCoRe release format (conversation, ground_truth) in a JSON array", async () => {
      const path = write(
        "pacore.json",
        JSON.stringify([
          {
            conversation: [
              { role: "system", content: "Reason step by step." },
              { role: "user", content: "What is 6*7?" },
            ],
            responses: ["42", "41"],
            ground_truth: "42",
          },
        ]),
      );
      const loaded = await loadBenchmark({ path });
      assert.equal(loaded.shape, "pacore");
      assert.deepEqual(loaded.problems[0].prompt, [
        { role: "system", content: "Reason step by step." },
        { role: "user", content: "What is 6*7?" },
      ]);
      assert.equal(loaded.problems[0].groundTruth, "42");
    });

    it("a messages chat with an answer; a trailing assistant turn (the solution) is not sent", async () => {
      const path = write(
        "chat.jsonl",
        jsonl([
          {
            id: "c1",
            messages: [
              { role: "user", content: "What is 2^10?" },
              { role: "assistant", content: "1024" },
            ],
            answer: 1024,
          },
        ]),
      );
      const loaded = await loadBenchmark({ path });
      assert.equal(loaded.shape, "chat");
      assert.deepEqual(loaded.problems[0].prompt, [{ role: "user", content: "What is 2^10?" }]);
    });
  });

  describe("bad files are errors that name the file, line and field", () => {
    it("a malformed JSONL line is reported with its 1-based number", async () => {
      const path = write(
        "broken.jsonl",
        `${JSON.stringify({ problem: "a", answer: "1" })}\n\n${JSON.stringify({ problem: "b", answer: "2" })}\n{"problem": "c", "answer": \n`,
      );
      await assert.rejects(loadBenchmark({ path }), (error: Error & { code?: string }) => {
        assert.equal(error.code, "PACORE_ERR_CONFIG");
        assert.ok(error.message.includes(`${path} line 4: not valid JSON`), error.message);
        return true;
      });
    });

    it("a missing field in a JSONL line names the line and the field", async () => {
      const path = write("missing.jsonl", jsonl([{ problem: "a", answer: "1" }, { problem: "b" }]));
      await assert.rejects(
        loadBenchmark({ path }),
        /missing\.jsonl line 2: field `answer` is missing \(the record has `problem`\)\. Fix: .*--field-answer/,
      );
    });

    it("a CSV with an empty answer names the record and its line", async () => {
      const path = write("empty.csv", 'problem,answer\n"What is 1+1?",2\n"What is\n2+2?",\n');
      await assert.rejects(
        loadBenchmark({ path }),
        /empty\.csv record 2 \(line 4\): field `answer` is empty/,
      );
    });

    it("a CSV without the mapped column names the field", async () => {
      const path = write("nocol.csv", "q,a\nWhat is 1+1?,2\n");
      await assert.rejects(
        loadBenchmark({ path, fields: { problem: "q", answer: "gold" } }),
        /nocol\.csv record 1 \(line 2\): field `gold` is missing/,
      );
      await assert.rejects(
        loadBenchmark({ path }),
        /no known benchmark shape in its columns \(`q`, `a`\)\. Fix: name the columns with --field-problem and --field-answer/,
      );
    });

    it("a CSV row with too many cells is refused with its line", async () => {
      const path = write("ragged.csv", "problem,answer\nWhat is 1+1?,2\nWhat is 2+2?,4,extra\n");
      await assert.rejects(loadBenchmark({ path }), /ragged\.csv: .*line 3/);
    });

    it("duplicate ids are refused", async () => {
      const path = write(
        "dup.jsonl",
        jsonl([
          { id: 1, problem: "a", answer: "1" },
          { id: 1, problem: "b", answer: "2" },
        ]),
      );
      await assert.rejects(
        loadBenchmark({ path }),
        /dup\.jsonl line 2: field `id` repeats the id `1` of line 1/,
      );
    });
  });
});
