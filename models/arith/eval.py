#!/usr/bin/python3
"""Measures pacore-tiny on held-out `arith` problems, in torch, with the PaCoRe algorithm.

    /usr/bin/python3 models/arith/eval.py                      # stage 12, 300 problems, seed 1 (~30 min)
    /usr/bin/python3 models/arith/eval.py --levels 3,4,5,6     # single accuracy per level

All sampling at temperature 1, top-p 1. Per problem it draws 32 first-round answers and reports:
 - single: the mean accuracy of those 32 answers (the expected single-sample accuracy), and the
   accuracy of the first;
 - PaCoRe [16,4]: answers 1–16 compacted (the text after the last `</think>`), length-sorted then
   shuffled, put in the `default` synthesis template; 4 synthesis samples; their messages in the
   final synthesis prompt; its answer;
 - self-consistency: majority vote over the first k answers, for every k, and at the k whose
   generated tokens match PaCoRe [16,4]'s (all tokens of all 21 generations);
 - [4] (answers 1–4 → final synthesis) against [1,1,1,1] (answer 1 → synthesis of 1 message,
   three times → final synthesis), 5 generations each; and [16].
Writes the numbers to models/arith/run/eval-L{level}-{checkpoint}.json (and prints them).
`--checkpoint stageN.pt` measures another stage of train.py (default: stage 12, the committed model).
"""

from __future__ import annotations

import argparse
import json
import os
import random as pyrandom
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import arith  # noqa: E402
import tiny  # noqa: E402
from train import MAX_NEW_COLUMNS, MAX_NEW_TOKENS, MAX_NEW_WORKED, MODEL, RUN  # noqa: E402

MAX_NEW_CHECKED = 288  # a level-2 synthesis of stage 2c that checks every step takes up to ~270 tokens


def max_new_for(checkpoint: str) -> int:
    """Output budget: a checking synthesizer (stage 2c) and a column solver (stages 3–4) write
    longer answers than the worked solver (stages 1b–2w); stages 8–10 keep stage 4's column
    solver, stages 11–12 (the committed model) add their own check to it (generation_config.json's
    `max_new_tokens`)."""
    name = Path(checkpoint).name
    if name.startswith(("stage11", "stage12")):
        return MAX_NEW_TOKENS
    if name.startswith(("stage3", "stage4", "stage8", "stage9", "stage10")):
        return MAX_NEW_COLUMNS
    return MAX_NEW_CHECKED if name.startswith("stage2c") else MAX_NEW_WORKED


def log(*args):
    print(time.strftime("%H:%M:%S"), *args, flush=True)


def load(checkpoint: str):
    bpe = tiny.Bpe([tuple(m) for m in json.loads((RUN / "merges.json").read_text())])
    model = tiny.TinyDecoder(tiny.Config(len(bpe), **MODEL))
    model.load_state_dict(torch.load(RUN / checkpoint)["model"])
    model.eval()
    return model, bpe


def majority(answers: list) -> str | None:
    counts: dict = {}
    for a in answers:
        if a is not None:
            counts[a] = counts.get(a, 0) + 1
    if not counts:
        return None
    best = max(counts.values())
    return next(a for a in answers if a is not None and counts[a] == best)


def order_messages(messages: list[str], rng: pyrandom.Random) -> list[str]:
    """Sorted by length (then text), then shuffled: pacore's order against position bias."""
    ordered = sorted(messages, key=lambda m: (len(m), m))
    rng.shuffle(ordered)
    return ordered


class Runner:
    def __init__(self, model, bpe, seed: int, max_new: int = MAX_NEW_WORKED):
        self.model = model
        self.max_new = max_new
        self.bpe = bpe
        self.eos = {bpe.special["<|im_end|>"], bpe.special["<|endoftext|>"]}
        self.generator = torch.Generator().manual_seed(seed)

    def generate(self, users: list[str], temperature: float = 1.0) -> list[tuple[str, int]]:
        """(text, completion tokens) of one sample per user turn (temperature 0: greedy)."""
        prompts = [self.bpe.encode(tiny.chat_prompt(u)) for u in users]
        outputs = tiny.sample(self.model, prompts, self.eos, self.max_new, temperature, self.generator)
        return [(self.bpe.decode(o), len(o)) for o in outputs]


def messages_of(texts: list[str]) -> list[str]:
    return [m for m in (arith.compact(t) for t in texts) if m.strip()]


def synthesis_round(runner: Runner, problems, message_sets, count: int, rng):
    """`count` synthesis samples per problem over its message set; returns texts and tokens."""
    users = []
    for p, messages in zip(problems, message_sets):
        for _ in range(count):
            users.append(arith.default_template(p["prompt"], order_messages(messages, rng)))
    out = runner.generate(users)
    return [out[i * count : (i + 1) * count] for i in range(len(problems))]


def evaluate(model, bpe, level: int, count: int, seed: int, samples: int = 24, max_new: int = MAX_NEW_WORKED) -> dict:
    problems = arith.generate(seed, count, "heldout", level)
    runner = Runner(model, bpe, 1000 + seed, max_new)
    rng = pyrandom.Random(seed)
    t0 = time.time()
    first = runner.generate([p["prompt"] for p in problems for _ in range(samples)])
    round1 = [first[i * samples : (i + 1) * samples] for i in range(len(problems))]
    log(f"round 1 done in {time.time() - t0:.0f}s")
    correct = lambda text, p: arith.extract(text) == p["answer"]  # noqa: E731
    n = len(problems)
    single_mean = sum(correct(t, p) for p, r in zip(problems, round1) for t, _ in r) / (n * samples)
    single_first = sum(correct(r[0][0], p) for p, r in zip(problems, round1)) / n
    tokens_per_sample = sum(k for r in round1 for _, k in r) / (n * samples)

    sc = {}
    sc_tokens = {}
    for k in range(1, samples + 1):
        sc[k] = sum(majority([arith.extract(t) for t, _ in r[:k]]) == p["answer"] for p, r in zip(problems, round1)) / n
        sc_tokens[k] = sum(tok for r in round1 for _, tok in r[:k]) / n

    # PaCoRe [16, 4]
    synth = synthesis_round(runner, problems, [messages_of([t for t, _ in r[:16]]) for r in round1], 4, rng)
    final = synthesis_round(runner, problems, [messages_of([t for t, _ in s]) for s in synth], 1, rng)
    pacore_acc = sum(correct(f[0][0], p) for p, f in zip(problems, final)) / n
    synth_acc = sum(correct(t, p) for p, s in zip(problems, synth) for t, _ in s) / (4 * n)
    pacore_tokens = (
        sum(tok for r in round1 for _, tok in r[:16]) + sum(tok for s in synth for _, tok in s) + sum(f[0][1] for f in final)
    ) / n
    log(f"[16,4] done in {time.time() - t0:.0f}s")
    k_equal = next((k for k in range(1, samples + 1) if sc_tokens[k] >= pacore_tokens), samples)

    # [16] and [4]: one final synthesis over the first 16 / 4 answers.
    final16 = synthesis_round(runner, problems, [messages_of([t for t, _ in r[:16]]) for r in round1], 1, rng)
    final4 = synthesis_round(runner, problems, [messages_of([t for t, _ in r[:4]]) for r in round1], 1, rng)
    acc16 = sum(correct(f[0][0], p) for p, f in zip(problems, final16)) / n
    acc4 = sum(correct(f[0][0], p) for p, f in zip(problems, final4)) / n
    tokens4 = (sum(tok for r in round1 for _, tok in r[:4]) + sum(f[0][1] for f in final4)) / n

    # [1,1,1,1]: answer 1, then four synthesis rounds of one trajectory over the last message.
    current = [[r[0]] for r in round1]
    tokens_seq = sum(r[0][1] for r in round1)
    for _ in range(4):
        current = synthesis_round(runner, problems, [messages_of([t for t, _ in c]) for c in current], 1, rng)
        tokens_seq += sum(c[0][1] for c in current)
    acc_seq = sum(correct(c[0][0], p) for p, c in zip(problems, current)) / n
    log(f"all done in {time.time() - t0:.0f}s")

    result = {
        "level": level,
        "problems": n,
        "seed": seed,
        "split": "heldout",
        "temperature": 1.0,
        "single": {"meanOfSamples": round(single_mean, 4), "firstSample": round(single_first, 4), "tokens": round(tokens_per_sample, 1)},
        "pacore_16_4": {"accuracy": round(pacore_acc, 4), "synthesisRoundAccuracy": round(synth_acc, 4), "tokens": round(pacore_tokens, 1)},
        "selfConsistencyEqualTokens": {"k": k_equal, "accuracy": round(sc[k_equal], 4), "tokens": round(sc_tokens[k_equal], 1)},
        "selfConsistency": {str(k): round(v, 4) for k, v in sc.items()},
        "pacore_16": {"accuracy": round(acc16, 4)},
        "parallel_4": {"accuracy": round(acc4, 4), "tokens": round(tokens4, 1)},
        "sequential_1_1_1_1": {"accuracy": round(acc_seq, 4), "tokens": round(tokens_seq / n, 1)},
        "example": {"problem": problems[0]["prompt"], "answer": problems[0]["answer"], "sample": round1[0][0][0], "synthesis": synth[0][0][0], "final": final[0][0][0]},
    }
    return result


def single_by_level(model, bpe, levels: list[int], count: int, seed: int, samples: int, max_new: int = MAX_NEW_WORKED) -> dict:
    runner = Runner(model, bpe, 2000 + seed, max_new)
    out = {}
    for level in levels:
        problems = arith.generate(seed, count, "heldout", level)
        texts = runner.generate([p["prompt"] for p in problems for _ in range(samples)])
        acc = sum(arith.extract(t) == problems[i // samples]["answer"] for i, (t, _) in enumerate(texts)) / len(texts)
        out[level] = round(acc, 4)
        log(f"level {level}: single accuracy {acc:.3f} over {len(texts)} samples")
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--checkpoint", default="stage12.pt", help="in models/arith/run/ (default stage12.pt, the committed model)")
    parser.add_argument("--difficulty", type=int, default=arith.DEFAULT_DIFFICULTY)
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--levels", default=None, help="only single accuracy at these levels (comma list)")
    parser.add_argument("--samples", type=int, default=32)
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("PACORE_TINY_THREADS", "2")))
    torch.manual_seed(args.seed)
    model, bpe = load(args.checkpoint)
    if args.levels:
        levels = [int(x) for x in args.levels.split(",")]
        print(json.dumps(single_by_level(model, bpe, levels, args.count, args.seed, args.samples, max_new_for(args.checkpoint))))
        return
    result = evaluate(model, bpe, args.difficulty, args.count, args.seed, args.samples, max_new_for(args.checkpoint))
    result["checkpoint"] = args.checkpoint
    path = RUN / f"eval-L{args.difficulty}-{Path(args.checkpoint).stem}.json"
    path.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
