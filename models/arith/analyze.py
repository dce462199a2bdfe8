#!/usr/bin/python3
"""Diagnostics behind models/arith/README.md ("What was tried, and what it showed").

    /usr/bin/python3 models/arith/analyze.py voting                  # seconds
    /usr/bin/python3 models/arith/analyze.py synthesis [--checkpoint stage12.pt]   # ~1 min
    /usr/bin/python3 models/arith/analyze.py heldout [--checkpoint stage12.pt]     # ~5 min

Defaults are the committed model's: the stage-12 checkpoint, the column answers that stages 4–12
trained on, the default level. `--checkpoint stageN.pt` takes another stage of train.py.
`voting` reads run/own-answers-column.json (16 sampled answers of the column solver per stage-4
training problem; `--answers own-answers-worked.json`: stage 2w's, from the worked solver)
and prints, per level: the mean single-sample accuracy, the plurality of 16, plurality taken
step by step (each gold step's left-hand side looked up among the answers' steps, the most
frequent result taken; a step no answer wrote counts as right, and in the strict count as
wrong, which makes it an aggregator one could run: follow the chosen results, and at each step
take the most frequent result among the answers that wrote that step), the plurality of the
self-consistent answers only (`arith.consistent_chain`: each step's left-hand side is what the
problem and the answer's own earlier results make it; all answers if none is), whether some answer is right,
and the share of wrong answers whose first wrong step has the right operands but a wrong result.

`synthesis` samples, at temperature 1, one synthesis answer over 16 and over 1 of those stored
answers for the first 60 problems of the first level stored (problems the synthesis stage trained on), against
the accuracy of their first stored answer.

`heldout` has the model answer 100 held-out problems (`--count`, `--difficulty`) 16 times at temperature 1, then
synthesize once over all 16 messages (one synthesis round, as in `[16]`) at temperature 1 and
greedily; it prints the mean single-sample accuracy, the plurality of the 16, the synthesis, and
how often the synthesis leaves a right plurality or mends a wrong one; for a solver that checks
its own answer (stages 11–12), how often it wrote the check and the check's digit was right; for
the `Check` lines of a checking synthesizer (stage 2c), how many it wrote, how often the step line
after a check has the right result for its left-hand side, and how often a step copied without a
check does; for a synthesizer that works the last digit (stages 8–10), how often that digit is
right and its answer the check's pick (~3 min).
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import arith  # noqa: E402
from train import RUN, residue_pick  # noqa: E402


def plurality(values: list):
    counts = collections.Counter(v for v in values if v is not None)
    return counts.most_common(1)[0][0] if counts else None


def step_pluralities(expression: str, texts: list[str]) -> list[tuple[str | None, str]]:
    """Per gold step: the most frequent result among the answers whose `<think>` wrote that
    step's left-hand side (None if none did), and the gold result."""
    results = collections.defaultdict(list)
    for text in texts:
        for line in arith.think_steps(text):
            left, _, value = line.rpartition("=")
            results[left].append(value)
    steps, _ = arith.steps_of(expression)
    return [(plurality(results[left]), value) for left, _, value in (s.rpartition("=") for s in steps)]


def strict_stepwise(expression: str, texts: list[str]) -> bool:
    """Whether the strict step-wise plurality of these answers is right (every gold step's)."""
    return all(chosen == value for chosen, value in step_pluralities(expression, texts))


def voting(records) -> None:
    by_level = collections.defaultdict(collections.Counter)
    for r in records:
        level, gold = r["difficulty"], r["answer"]
        steps, _ = arith.steps_of(r["expression"])
        answers = [arith.extract(t) for t in r["samples"]]
        pluralities = step_pluralities(r["expression"], r["samples"])
        consistent = [a for a, t in zip(answers, r["samples"]) if arith.consistent_chain(r["expression"], arith.think_steps(t))]
        c = by_level[level]
        c["problems"] += 1
        c["single"] += sum(a == gold for a in answers) / len(answers)
        c["plurality"] += plurality(answers) == gold
        c["consistent"] += len(consistent) / len(answers)
        c["consistentPlurality"] += plurality(consistent or answers) == gold
        c["stepwise"] += all(chosen in (None, value) for chosen, value in pluralities)
        c["stepwiseStrict"] += all(chosen == value for chosen, value in pluralities)
        c["someRight"] += gold in answers
        for text, answer in zip(r["samples"], answers):
            if answer == gold:
                continue
            lines = arith.think_steps(text)
            for i, step in enumerate(steps):
                line = lines[i] if i < len(lines) else ""
                if line != step:
                    c["wrong"] += 1
                    c["wrongResult"] += line.rpartition("=")[0] == step.rpartition("=")[0]
                    break
    for level, c in sorted(by_level.items()):
        n = c["problems"]
        print(
            f"level {level}: {n} problems; single {c['single'] / n:.3f}, plurality of 16 {c['plurality'] / n:.3f}, "
            f"step by step {c['stepwise'] / n:.3f} (strict {c['stepwiseStrict'] / n:.3f}), "
            f"plurality of the {c['consistent'] / n:.0%} self-consistent answers {c['consistentPlurality'] / n:.3f}, "
            f"some answer right {c['someRight'] / n:.3f}; "
            f"first wrong step has a wrong result in {c['wrongResult'] / max(1, c['wrong']):.2f} of wrong answers"
        )


def synthesis(records, checkpoint: str) -> None:
    from eval import Runner, load, max_new_for, messages_of, order_messages

    model, bpe = load(checkpoint)
    problems = [r for r in records if r["difficulty"] == records[0]["difficulty"]][:60]
    runner = Runner(model, bpe, 5, max_new_for(checkpoint))
    rng = random.Random(3)
    first = sum(arith.extract(r["samples"][0]) == r["answer"] for r in problems) / len(problems)
    for k in (16, 1):
        users = [arith.default_template(r["prompt"], order_messages(messages_of(r["samples"][:k]), rng)) for r in problems]
        out = runner.generate(users)
        accuracy = sum(arith.extract(text) == r["answer"] for (text, _), r in zip(out, problems)) / len(problems)
        print(f"{checkpoint}: synthesis over {k} of its own answers {accuracy:.3f}; their first answer {first:.3f} ({len(problems)} training problems)")


def check_stats(texts: list[str]) -> str:
    """Checks written, and the share of right step results after a check and without one."""
    counts = collections.Counter()
    for text in texts:
        start, end = text.find("<think>"), text.find("</think>")
        lines = text[start + 7 : end].strip().split("\n") if start >= 0 and end >= 0 else []
        after_check = False
        for line in lines:
            if line.startswith("Check "):
                counts["checks"] += 1
                after_check = True
                continue
            left, _, value = line.rpartition("=")
            if arith.STEP_RE.match(left) and arith.NUMBER_RE.fullmatch(value):
                kind = "checked" if after_check else "copied"
                counts[kind] += 1
                counts[kind + "Right"] += str(arith.apply(*arith.parse_step(left))) == value
            after_check = False
    share = lambda k: f"{counts[k + 'Right'] / counts[k]:.3f}" if counts[k] else "-"  # noqa: E731
    return (
        f"{counts['checks'] / len(texts):.2f} checks per synthesis; step right after a check {share('checked')} "
        f"({counts['checked']}), without one {share('copied')} ({counts['copied']})"
    )


def residue_stats(texts: list[str], truth: list, references: list[list]) -> str:
    """For the syntheses of stages 8–10: how often the last-digit check (`arith.residue_lines`) ends with the
    right digit, and how often the answer is the one its own check picks (`train.residue_pick`)."""
    right = follows = written = 0
    for text, (gold, _, _), answers in zip(texts, truth, references):
        lines = arith.think_steps(text)
        digit = lines[-1].rpartition("=")[2] if lines else ""
        if not digit.isdigit():
            continue
        written += 1
        right += int(digit) == int(gold) % 10
        follows += arith.extract(text) == residue_pick(answers, int(digit))
    n = len(texts)
    return f"check written in {written / n:.3f}, its digit right in {right / n:.3f}; answer is its check's pick in {follows / n:.3f}"


def self_check_stats(texts: list[str], gold: str, expression: str) -> collections.Counter:
    """For a stage-11 solver's answers to one problem: how many gave an answer, how many of those
    are right, and how often its check ended with the problem's true last digit."""
    counts = collections.Counter(answers=len(texts))
    digit = arith.residue_lines(expression)[-1].rpartition("=")[2]
    for text in texts:
        a = arith.extract(text)
        counts["answered"] += a is not None
        counts["right"] += a == gold
        verdict = text[: text.rfind("</think>")].strip().rpartition("\n")[2].split(" ")
        if len(verdict) == 4:
            counts["checked"] += 1
            counts["checkRight"] += verdict[2] == digit
    return counts


def heldout(checkpoint: str, count: int, level: int) -> None:
    from eval import Runner, load, max_new_for, messages_of, order_messages

    problems = arith.generate(1, count, "heldout", level)
    model, bpe = load(checkpoint)
    runner = Runner(model, bpe, 11, max_new_for(checkpoint))
    answers = runner.generate([p["prompt"] for p in problems for _ in range(16)])
    rng = random.Random(3)
    users, truth, references = [], [], []
    stepwise = 0
    checks = collections.Counter()
    for i, p in enumerate(problems):
        texts = [text for text, _ in answers[i * 16 : (i + 1) * 16]]
        checks += self_check_stats(texts, p["answer"], p["expression"])
        picks = [arith.extract(t) for t in texts]
        references.append(picks)
        truth.append((p["answer"], plurality(picks), sum(a == p["answer"] for a in picks) / 16))
        stepwise += strict_stepwise(p["expression"], texts)
        users.append(arith.default_template(p["prompt"], order_messages(messages_of(texts), rng)))
    n = len(problems)
    if checks["checked"]:
        print(
            f"own check written in {checks['checked'] / checks['answers']:.3f} of answers, its digit right in "
            f"{checks['checkRight'] / checks['checked']:.3f}; answered {checks['answered'] / checks['answers']:.3f}, "
            f"right when answered {checks['right'] / max(1, checks['answered']):.3f}"
        )
    single = sum(s for _, _, s in truth) / n
    right = sum(gold == top for gold, top, _ in truth)
    checked = sum(residue_pick(refs, int(gold)) == gold for refs, (gold, _, _) in zip(references, truth))
    print(
        f"{checkpoint}: {n} held-out level-{level} problems; single {single:.3f}, plurality of 16 {right / n:.3f}, "
        f"strict step-wise plurality {stepwise / n:.3f}, plurality of those ending in the right digit {checked / n:.3f}"
    )
    for temperature in (1.0, 0.0):
        texts = [text for text, _ in runner.generate(users, temperature)]
        chosen = [arith.extract(text) for text in texts]
        accuracy = sum(c == gold for c, (gold, _, _) in zip(chosen, truth)) / n
        left = sum(c != gold for c, (gold, top, _) in zip(chosen, truth) if top == gold)
        mended = sum(c == gold for c, (gold, top, _) in zip(chosen, truth) if top != gold)
        print(
            f"  {checkpoint} synthesis over 16 at temperature {temperature:g}: {accuracy:.3f}; leaves a right plurality "
            f"in {left} of {right}, mends a wrong one in {mended} of {n - right}"
        )
        print(f"    {check_stats(texts)}")
        print(f"    {residue_stats(texts, truth, references)}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["voting", "synthesis", "heldout"])
    parser.add_argument("--checkpoint", default="stage12.pt", help="in models/arith/run/ (default stage12.pt, the committed model)")
    parser.add_argument("--answers", default="own-answers-column.json", help="stored own answers (own-answers-worked.json: stage 1b's)")
    parser.add_argument("--count", type=int, default=100, help="heldout: problems")
    parser.add_argument("--difficulty", type=int, default=arith.DEFAULT_DIFFICULTY, help="heldout: level")
    args = parser.parse_args()
    if args.what == "heldout":
        heldout(args.checkpoint, args.count, args.difficulty)
        return
    records = json.loads((RUN / args.answers).read_text())
    voting(records) if args.what == "voting" else synthesis(records, args.checkpoint)


if __name__ == "__main__":
    main()
