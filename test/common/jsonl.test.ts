import assert from "node:assert/strict";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { JsonlAppender, readJsonl } from "../../src/common/jsonl.js";

const isObject = (value: unknown) => typeof value === "object" && value !== null;

async function file(content: string): Promise<string> {
  const path = join(await mkdtemp(join(tmpdir(), "pacore-jsonl-")), "f.jsonl");
  await writeFile(path, content);
  return path;
}

describe("readJsonl and JsonlAppender", () => {
  it("a cut last line is left out, and repair() cuts it from the file", async () => {
    const path = await file('{"a":1}\n\n{"b":2}\n{"c":');
    const contents = readJsonl(path, isObject);
    assert.deepEqual(contents.lines, [
      { number: 1, value: { a: 1 } },
      { number: 3, value: { b: 2 } },
    ]);
    assert.equal(contents.cut, '{"c":');
    assert.equal(
      await readFile(path, "utf8"),
      '{"a":1}\n\n{"b":2}\n{"c":',
      "reading writes nothing",
    );
    contents.repair();
    assert.equal(await readFile(path, "utf8"), '{"a":1}\n\n{"b":2}\n');
  });

  it("a whole last line without its newline is kept, and repair() adds the newline", async () => {
    const path = await file('{"a":1}\n{"b":2}');
    const contents = readJsonl(path, isObject);
    assert.deepEqual(
      contents.lines.map((line) => line.value),
      [{ a: 1 }, { b: 2 }],
    );
    contents.repair();
    const appender = JsonlAppender.open(path);
    appender.append({ c: 3 });
    appender.close();
    assert.equal(await readFile(path, "utf8"), '{"a":1}\n{"b":2}\n{"c":3}\n');
  });

  it("a line in the middle that is not JSON is reported, not dropped", async () => {
    const path = await file('{"a":1}\nnot json\n{"b":2}\n');
    const { lines } = readJsonl(path, isObject);
    assert.deepEqual(lines[1], { number: 2, value: undefined });
  });

  it("a missing file has no lines; the appender creates it and its folder", async () => {
    const path = join(await mkdtemp(join(tmpdir(), "pacore-jsonl-")), "a", "b", "f.jsonl");
    assert.deepEqual(readJsonl(path, isObject).lines, []);
    const appender = JsonlAppender.open(path);
    appender.append([1, 2]);
    appender.close();
    assert.throws(() => appender.append(3), /closed/);
    assert.equal(await readFile(path, "utf8"), "[1,2]\n");
  });
});
