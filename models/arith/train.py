#!/usr/bin/python3
"""Trains pacore-tiny, the embedded reasoning model, and exports it to models/pacore-tiny/.

This is the recipe that produced the committed model: the stages below, in this order, from
SEED. Run it with Debian's python (torch 1.13 + OpenBLAS, onnx), not a pyenv python, in the
background:

    apt-get install -y python3-torch python3-onnx libopenblas0-pthread
    mkdir -p models/arith/run
    nohup /usr/bin/python3 models/arith/train.py > models/arith/run/train.log 2>&1 &

About 6 h 5 min on 2 shared CPU cores (`trainingWallSeconds` in models/pacore-tiny/config.json).
Checkpoints, the learned merges and the model's own sampled answers go to `--run-dir`
(models/arith/run/, ignored by git). A rerun resumes: finished stages are skipped, an unfinished
one restarts from its last checkpoint (every 50 steps; a batch is a function of the step, so a
resumed run sees the same data). `--until STAGE` stops after that stage (no export);
`--export-only` rewrites models/pacore-tiny/ from the stage-12 checkpoint; `--smoke` is a
minutes-long dry run of every stage into models/arith/run-smoke/.

Stages (models/arith/README.md, "Training", says more, and "What was tried" why):
 1. Solver: training-split `arith` problems of all levels, the steps inside `<think>…</think>`
    and a short conclusion, `The answer is N.` (`arith.solution`).
 1b. Worked solver: fresh problems, the conclusion restating the steps (`arith.worked_solution`).
 sampling: 16 worked answers of its own at temperature 1 for 3,500 other training problems.
 2w. Synthesizer: pacore's `default` synthesis prompt over 1–16 of those compacted answers, the
    gold worked solution as target; plain problems mixed in.
 2c. Checked synthesis (README item 9; as a synthesizer it lost, but stage 3 starts from it):
    the target copies the steps its references agree on and recomputes the disputed ones
    (`arith.checked_solution`), on fresh sets and on sets of simulated references.
 3. Column solver, in three parts (STAGE3_PARTS): every step worked digit by digit before it is
    written whole (`arith.column_solution`), then the short conclusion.
 sampling4: 16 column answers of its own at temperature 1 for 400 training problems of levels 5–6.
 4. Vote synthesis over 1–16 of those answers, the correct answer as target (`arith.vote_solution`).
 8–10. (README item 13, not shipped by itself; stage 11 starts from it.) Synthesis that works the
    problem's last digit (`arith.residue_lines`) and picks among the answers that end in it
    (`arith.residue_solution`); from stage 9 on, each reference marked against that check
    (`arith.listed_solution`); stage 10 continues stage 9 on fresh draws.
 11–12. (README item 14; stage 12 is the committed model.) The solver checks its own answer's
    last digit and gives no answer where the check fails (`arith.self_checked_solution`); the
    synthesizer votes over the answers given (`arith.vote_solution`) and solves the problem
    itself where none is. Stage 12 continues stage 11 on fresh draws.
 export: onnx-community layout in models/pacore-tiny/.

Stages 5–7 and the flags that exported other stages (`--columns`, `--worked`, `--checked`,
`--rewrite`, `--free-order`, `--stepwise`, `--residue`, `--listed`, `--listed-more`,
`--self-check`) were experiments that did not ship; their code is in git history (commit 6d51feb)
and their numbers in models/arith/README.md.
"""

from __future__ import annotations

import argparse
import json
import math
import random as pyrandom
import shutil
import sys
import time
from pathlib import Path

import torch
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import arith  # noqa: E402
import tiny  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
RUN = ROOT / "models" / "arith" / "run"  # --run-dir
OUT = ROOT / "models" / "pacore-tiny"  # --out
SEED = 20260601

VOCAB_SIZE = 384  # 256 bytes + merges + 5 special tokens
MODEL = dict(hidden=192, intermediate=512, layers=4, heads=6, kv_heads=2, max_positions=1024)
CHECKPOINT_EVERY = 50
BATCH_TOKENS = 6000  # stages 2w–12: each batch fills this many tokens from one length bucket

# Stage 1: plain problems, all levels.
LEVEL_WEIGHTS = {1: 0.05, 2: 0.1, 3: 0.15, 4: 0.25, 5: 0.25, 6: 0.2}
STAGE1_POOL = 120_000
STAGE1_STEPS = 1200
STAGE1_BATCH = 64  # stage 1b too
STAGE1_LR = 2e-3

# Stage 1b: the solver continues on worked conclusions (`arith.worked_solution`).
STAGE1B_LEVELS = {1: 0.05, 2: 0.25, 3: 0.3, 4: 0.25, 5: 0.1, 6: 0.05}
STAGE1B_POOL = 60_000
STAGE1B_STEPS = 400
STAGE1B_LR = 1e-3

# Sampling and stage 2w: synthesis over worked messages, natural (unfiltered) reference sets and
# sets whose plurality is wrong, gold targets.
STAGE2W_PROBLEMS = {2: 2500, 3: 1000}
SAMPLES_PER_PROBLEM = 16
MAX_NEW_WORKED = 200  # sampling's budget for a worked answer; greedy-reference.json's too
STAGE2W_SETS = 2
STAGE2W_HARD_SETS = 1
STAGE2W_STEPS = 1000
STAGE2W_LR = 6e-4
STAGE2W_PLAIN = {1: 0.1, 2: 0.4, 3: 0.5, 4: 0.4, 5: 0.1}  # plain problems per synthesis set (2c too)
# Stage 2c: synthesis that checks what the references dispute (`arith.checked_solution`), from
# stage 2w's weights, on fresh sets drawn from the same own answers, plus one set per fresh
# training problem with simulated references (`simulated_messages`), so that no synthesis problem
# repeats and reading the references is the only way to the target.
STAGE2C_STEPS = 1200
STAGE2C_LR = 6e-4
STAGE2C_SIMULATED = {2: 9000, 3: 6000}

# Stage 3: the column solver (`arith.column_solution`), from stage 2c's weights, in three parts:
# (name, first form of the column lines, level shares, pool seed offset, steps, peak lr, batch
# seed offset). Each part draws a pool of STAGE3_POOL fresh training problems.
STAGE3_POOL = 60_000
STAGE3_LEVELS = {1: 0.05, 2: 0.2, 3: 0.25, 4: 0.25, 5: 0.15, 6: 0.1}
STAGE3_PARTS = [
    ("stage3a", True, STAGE3_LEVELS, 800, 600, 1e-3, 10),
    ("stage3b", False, STAGE3_LEVELS, 800, 500, 1e-3, 10),
    ("stage3c", False, {2: 0.1, 3: 0.2, 4: 0.3, 5: 0.25, 6: 0.15}, 850, 600, 6e-4, 11),
]
# Sampling4 and stage 4: vote synthesis (`arith.vote_solution`) over sets of the column solver's
# own answers. Column solutions of levels 1–6 take at most ~420 tokens (level 4 ~300, level 5 ~360).
STAGE4_PROBLEMS = {5: 250, 6: 150}
MAX_NEW_COLUMNS = 448
STAGE4_SETS = 4
STAGE4_STEPS = 400
STAGE4_LR = 5e-4
STAGE4_PLAIN = {3: 0.1, 4: 0.2, 5: 0.3, 6: 0.2}  # plain problems per synthesis set

# Simulated references (stages 8–12): per step of the column solver's answers at levels 5–6 (the
# first wrong line of an answer, measured on stage 4's), a left-hand side not the problem's (a
# misread operand or result) 5.6%, a wrong result 4.5%.
MISREAD_RATE, SLIP_RATE = 0.056, 0.045

# Stage 8: from stage 4's weights, the synthesizer first works the problem's last digit
# (`arith.residue_lines`) and then names the most frequent reference answer that ends in it
# (`arith.residue_solution`): models/arith/README.md, item 13. References: stage 4's stored own
# answers, STAGE8_SETS sets per problem, plus one set for each of STAGE8_SIMULATED fresh problems
# whose wrong answers come from simulated column answers (`simulated_answer_set`).
STAGE8_SETS = 4
STAGE8_SIMULATED = {3: 800, 4: 1500, 5: 3000, 6: 2200}
STAGE8_PLAIN = {3: 0.1, 4: 0.2, 5: 0.3, 6: 0.2}
STAGE8_STEPS = 600
STAGE8_LR = 5e-4
# Stage 9: from stage 8's weights, the same kind of sets (drawn afresh), the target now copying
# every reference and marking its answer against the check before the pick
# (`arith.listed_solution`): stage 8's synthesizer computed the check but did not pick by it.
STAGE9_STEPS = 700
STAGE9_LR = 5e-4
# Stage 10: stage 9 continued on fresh draws at a lower peak rate.
STAGE10_STEPS = 500
STAGE10_LR = 3e-4
# Stage 11: from stage 10's weights, the solver checks its own answer's last digit and gives no
# answer where the check fails (`arith.self_checked_solution`), and the synthesizer votes over the
# answers that are left: models/arith/README.md, item 14. Solver examples: gold solutions of fresh
# problems; stage 4's stored answers and simulated slipped solutions (`slipped_solution`)
# continued by the check (their steps are not trained on). Synthesis sets: stage 4's stored
# answers and simulated answer sets as a stage-11 solver would report them, its check wrong
# STAGE11_CHECK_ERROR of the time.
STAGE11_GOLD = {3: 400, 4: 900, 5: 1500, 6: 1200}
STAGE11_OWN_PER_PROBLEM = 8
STAGE11_SLIPPED = {3: 300, 4: 700, 5: 1200, 6: 800}
STAGE11_SETS = 4
STAGE11_SIMULATED = {4: 500, 5: 1200, 6: 800}
STAGE11_CHECK_ERROR = 0.1
STAGE11_STEPS = 700
STAGE11_LR = 5e-4
# Stage 12 (the committed model): stage 11 continued on fresh draws at a lower peak rate; stage
# 11's own check ended with the right digit in only 0.61 of its held-out answers.
STAGE12_STEPS = 500
STAGE12_LR = 3e-4

# generation_config.json `max_new_tokens`, the output budget pacore uses when a run sets none:
# self-checked column solutions take up to ~470 tokens at level 5, ~540 at level 6; pacore also
# keeps it under half the 1,024-token window.
MAX_NEW_TOKENS = 512

# What `--until` accepts, in the order the run passes them.
STAGES = ["stage1", "stage1b", "sampling", "stage2w", "stage2c", "stage3", "sampling4", "stage4", "stage8", "stage9", "stage10", "stage11", "stage12"]


def smoke() -> None:
    """`--smoke`: every stage with a few examples and 10 steps, to try the pipeline in minutes."""
    global STAGE1_POOL, STAGE1_STEPS, STAGE1B_POOL, STAGE1B_STEPS, STAGE2W_PROBLEMS, STAGE2W_STEPS
    global STAGE2C_STEPS, STAGE2C_SIMULATED, MAX_NEW_WORKED, STAGE3_POOL, STAGE3_PARTS, STAGE4_PROBLEMS
    global STAGE4_STEPS, MAX_NEW_COLUMNS, STAGE8_SIMULATED, STAGE8_STEPS, STAGE9_STEPS, STAGE10_STEPS
    global STAGE11_GOLD, STAGE11_SLIPPED, STAGE11_SIMULATED, STAGE11_STEPS, STAGE12_STEPS
    STAGE1_POOL, STAGE1_STEPS = 2000, 10
    STAGE1B_POOL, STAGE1B_STEPS = 2000, 10
    STAGE2W_PROBLEMS, STAGE2W_STEPS, STAGE2C_STEPS = {2: 10, 3: 10}, 10, 10
    STAGE2C_SIMULATED = {2: 20, 3: 20}
    MAX_NEW_WORKED = 60
    STAGE3_POOL = 2000
    STAGE3_PARTS = [(name, check, levels, seed, 10, lr, batch) for name, check, levels, seed, _, lr, batch in STAGE3_PARTS]
    STAGE4_PROBLEMS, STAGE4_STEPS, MAX_NEW_COLUMNS = {4: 10, 5: 10}, 10, 60
    STAGE8_SIMULATED, STAGE8_STEPS, STAGE9_STEPS, STAGE10_STEPS = {5: 20}, 10, 10, 10
    STAGE11_GOLD, STAGE11_SLIPPED, STAGE11_SIMULATED, STAGE11_STEPS, STAGE12_STEPS = {5: 20}, {5: 20}, {5: 20}, 10, 10


def log(*args):
    print(time.strftime("%H:%M:%S"), *args, flush=True)


# Wall seconds per stage (and per stage's data), kept in RUN/wall.json across resumed runs; the
# export writes them to config.json (`trainingWallSeconds`).
WALL: dict = {}


def timed(name: str, fn):
    t = time.time()
    result = fn()
    WALL[name] = round(WALL.get(name, 0) + time.time() - t)
    (RUN / "wall.json").write_text(json.dumps(WALL))
    return result


# ----------------------------------------------------------------------------- tokenizer


def tokenizer_synthesis_text(expression: str) -> str:
    """A synthesis answer in the format of the first synthesizer (it named the answer it checked,
    then recomputed). Only the tokenizer's corpus uses it now: it is kept so that the merges, and
    with them stage 1, reproduce exactly."""
    steps, value = arith.steps_of(expression)
    return f"<think>\nCheck {value}:\n" + "\n".join(steps) + "\n</think>\n" + arith.conclusion(value)


def build_tokenizer() -> tiny.Bpe:
    path = RUN / "merges.json"
    if path.exists():
        return tiny.Bpe([tuple(m) for m in json.loads(path.read_text())])
    texts = []
    rng = pyrandom.Random(SEED)
    for level in arith.LEVELS:
        for p in arith.generate(SEED + 7 + level, 200, "train", level):
            texts.append(tiny.chat_prompt(p["prompt"]) + arith.solution(p["expression"]) + "<|im_end|>\n")
            messages = [arith.conclusion(rng.randint(-999, 9999)) for _ in range(rng.randint(1, 16))]
            texts.append(
                tiny.chat_prompt(arith.default_template(p["prompt"], ["\n" + m for m in messages]))
                + tokenizer_synthesis_text(p["expression"])
            )
    merges = tiny.train_bpe(texts, VOCAB_SIZE - 256 - len(tiny.SPECIAL_TOKENS))
    path.write_text(json.dumps(merges))
    return tiny.Bpe(merges)


# ----------------------------------------------------------------------------- training


def encode_example(bpe: tiny.Bpe, prompt_text: str, completion: str) -> tuple[list[int], int]:
    """Token ids of prompt + completion + `<|im_end|>`, and where the completion starts."""
    prompt = bpe.encode(tiny.chat_prompt(prompt_text))
    completion_ids = bpe.encode(completion) + [bpe.special["<|im_end|>"]]
    return prompt + completion_ids, len(prompt)


def batch_tensors(examples: list[tuple[list[int], int]]):
    width = max(len(ids) for ids, _ in examples)
    ids = torch.zeros(len(examples), width, dtype=torch.long)
    labels = torch.full((len(examples), width), -100, dtype=torch.long)
    for r, (seq, start) in enumerate(examples):
        ids[r, : len(seq)] = torch.tensor(seq)
        labels[r, start - 1 : len(seq) - 1] = torch.tensor(seq[start:])
    return ids, labels


def lr_at(step: int, steps: int, peak: float, warmup: int = 50) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return 0.05 * peak + 0.95 * peak * 0.5 * (1 + math.cos(math.pi * progress))


def train_loop(name: str, model, pool, steps: int, batch: int, peak_lr: float, seed: int, token_budget: int = 0):
    """AdamW over batches drawn from `pool` by a generator seeded with (seed, step); resumes from
    RUN/{name}.pt. Returns the trained model."""
    ckpt = RUN / f"{name}.pt"
    optimizer = torch.optim.AdamW(model.parameters(), lr=peak_lr, betas=(0.9, 0.98), weight_decay=0.01)
    step = 0
    if ckpt.exists():
        state = torch.load(ckpt)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        step = state["step"]
        log(f"{name}: resumed at step {step}")
    model.train()
    started = time.time()
    running = None
    buckets = None
    if token_budget:
        # Length buckets, so that a batch of long synthesis inputs is not padded with short rows
        # and short rows are not padded to the longest: each step draws one bucket (by its share
        # of all tokens) and fills `token_budget` tokens from it.
        ordered = sorted(pool, key=lambda e: len(e[0]))
        size = max(1, len(ordered) // 12)
        buckets = [ordered[i : i + size] for i in range(0, len(ordered), size)]
        weights = [sum(len(e[0]) for e in b) for b in buckets]
    while step < steps:
        rng = pyrandom.Random(f"{seed}-{step}")
        if buckets is None:
            examples = [pool[rng.randrange(len(pool))] for _ in range(batch)]
        else:
            bucket = rng.choices(buckets, weights=weights)[0]
            rows = max(1, token_budget // max(len(e[0]) for e in bucket))
            examples = [bucket[rng.randrange(len(bucket))] for _ in range(rows)]
        ids, labels = batch_tensors(examples)
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, steps, peak_lr)
        logits = model.train_logits(ids)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        step += 1
        running = loss.item() if running is None else 0.95 * running + 0.05 * loss.item()
        if step % 25 == 0 or step == steps:
            log(f"{name} step {step}/{steps} loss {running:.4f} lr {lr_at(step - 1, steps, peak_lr):.2e} {time.time() - started:.0f}s")
        if step % CHECKPOINT_EVERY == 0 or step == steps:
            tmp = ckpt.with_suffix(".tmp")
            torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step}, tmp)
            tmp.replace(ckpt)
    model.eval()
    return model


def finished(name: str, steps: int, model) -> bool:
    """Loads RUN/{name}.pt into `model` if that stage ran all its steps."""
    path = RUN / f"{name}.pt"
    if not path.exists():
        return False
    state = torch.load(path)
    if state["step"] < steps:
        return False
    model.load_state_dict(state["model"])
    model.eval()
    return True


def train_problems(counts: dict, seed_offset: int) -> list:
    """`count` training problems per level, level by level, drawn with seed SEED + offset + level."""
    return [p for level, count in counts.items() for p in arith.generate(SEED + seed_offset + level, count, "train", level)]


def shares_of(total: int, shares: dict) -> dict:
    """Problems per level: `total` split by the levels' shares (rounded down)."""
    return {level: int(total * share) for level, share in shares.items()}


# ----------------------------------------------------------------------------- references: the model's own answers, simulated ones


def own_answers(model, bpe: tiny.Bpe, name: str, problems: list, seed: int, max_new: int):
    """SAMPLES_PER_PROBLEM answers of the model at temperature 1 per problem, cached in
    RUN/own-answers-{name}.json after every chunk of problems; an interrupted sampling resumes at
    the next chunk. Each chunk draws from its own generator, seeded by `seed` and its position,
    so a resumed sampling writes what an uninterrupted one would."""
    path = RUN / f"own-answers-{name}.json"
    records = json.loads(path.read_text()) if path.exists() else []
    if len(records) >= len(problems):
        return records
    eos = {bpe.special["<|im_end|>"], bpe.special["<|endoftext|>"]}
    chunk = 50
    correct = sum(arith.extract(t) == r["answer"] for r in records for t in r["samples"])
    for start in range(len(records), len(problems), chunk):
        part = problems[start : start + chunk]
        generator = torch.Generator().manual_seed(seed + start)
        prompts = [bpe.encode(tiny.chat_prompt(p["prompt"])) for p in part for _ in range(SAMPLES_PER_PROBLEM)]
        outputs = tiny.sample(model, prompts, eos, max_new, 1.0, generator)
        for j, p in enumerate(part):
            texts = [bpe.decode(o) for o in outputs[j * SAMPLES_PER_PROBLEM : (j + 1) * SAMPLES_PER_PROBLEM]]
            records.append({**p, "samples": texts})
            correct += sum(arith.extract(t) == p["answer"] for t in texts)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(records))
        tmp.replace(path)
        log(f"own {name} answers: {len(records)}/{len(problems)} problems, accuracy so far {correct / (len(records) * SAMPLES_PER_PROBLEM):.3f}")
    return records


def reference_count(rng: pyrandom.Random) -> int:
    """1–16 references, 4 (the final round) and 16 (the first synthesis round) most often."""
    return rng.choice([1, 2, 3, 4, 4, 4, 4, 6, 8, 12, 16, 16, 16, 16, rng.randint(2, 16)])


def tally_lines(answers: list) -> list[tuple[str, int]]:
    """Distinct answers with their counts, most frequent first (ties: first appearance)."""
    counts: dict = {}
    for a in answers:
        if a is not None:
            counts[a] = counts.get(a, 0) + 1
    return sorted(counts.items(), key=lambda kv: -kv[1])  # stable: ties keep first appearance


# Step error rates of the stage-1b solver by the operation on magnitudes and the longer operand's
# digits (measured on its sampled answers: `a+b` 2 digits 0.16, `a-b` 2 digits 0.45, ...).
ERROR_RATES = {"+": {1: 0.02, 2: 0.14, 3: 0.33}, "-": {1: 0.06, 2: 0.45, 3: 0.7}, "*": {1: 0.005, 2: 0.07, 3: 0.6}}


def slip(value: int, rng: pyrandom.Random) -> int:
    """A wrong result like the solver's: mostly the tens digit off by one, then ±100, a units
    slip, a tens digit off by more, rarely the sign."""
    kind = rng.random()
    sign = rng.choice([-1, 1])
    if kind < 0.5:
        delta = 10
    elif kind < 0.6:
        delta = 100
    elif kind < 0.8:
        delta = rng.randint(1, 9)
    elif kind < 0.97:
        delta = 10 * rng.randint(2, 9)
    else:
        return -value if value else 10
    return value + sign * delta


def simulated_messages(expression: str, k: int, rng: pyrandom.Random) -> list[str]:
    """k worked messages for `expression` with the solver's kinds of slips. Slips repeat across
    references the way the solver's do: each step (left-hand side) gets its own error rate (the
    measured rate scaled by 0.2, 0.7 or 2) and a favourite wrong result that most of its slips
    take. A slip carries into the later steps, as in a real answer."""
    tree = arith.parse(expression)
    habits: dict[str, tuple[float, int]] = {}

    def alter(left: str, a: int, op: str, b: int, value: int) -> int:
        if left not in habits:
            _, kind, _, _ = arith.magnitude_form(a, op, b)
            digits = len(str(abs(a) if op == "*" else max(abs(a), abs(b))))
            rate = min(0.9, ERROR_RATES[kind].get(digits, 0.8) * rng.choice([0.2, 0.7, 2.0]))
            habits[left] = (rate, slip(value, rng))
        rate, favourite = habits[left]
        if rng.random() < rate:
            return favourite if rng.random() < 0.6 else slip(value, rng)
        return value

    messages = []
    for _ in range(k):
        lines: list[str] = []
        value = arith.evaluate(tree, lines, alter)
        messages.append("\n" + arith.worked_conclusion(lines, value))
    return messages


def misread(value: int, rng: pyrandom.Random) -> int:
    """A number copied wrong: one digit replaced, dropped or doubled; the sign kept."""
    digits = list(str(abs(value)))
    i = rng.randrange(len(digits))
    kind = rng.random()
    if kind < 0.6 or len(digits) == 1:
        digits[i] = rng.choice([d for d in "0123456789" if d != digits[i]])
    elif kind < 0.8:
        del digits[i]
    else:
        digits.insert(i, digits[i])
    result = int("".join(digits) or "0")
    return -result if value < 0 else result


def simulated_chain_messages(expression: str, k: int, rng: pyrandom.Random, misread_rate: float) -> list[str]:
    """k worked messages for `expression` with the column solver's two kinds of first slips,
    each a habit of the step as the solver's are: a step's operand copied wrong (its left-hand
    side is then not the problem's) and a wrong result. Each step (left-hand side, operand) gets
    its own rate (the measured one scaled by 0.2, 0.7 or 2) and a favourite wrong value that
    half its slips take. A slip carries into the later steps. One operand per step (drawn at
    random) may be misread, at `misread_rate`."""
    tree = arith.parse(expression)
    habits: dict = {}

    def habit(key, value: int, base: float, wrong) -> int:
        if key not in habits:
            habits[key] = (base * rng.choice([0.2, 0.7, 2.0]), wrong(value, rng))
        rate, favourite = habits[key]
        if rng.random() >= rate:
            return value
        return favourite if rng.random() < 0.5 else wrong(value, rng)

    def walk(node, lines: list[str]) -> int:
        if node[0] == "num":
            return node[1]
        if node[0] == "group":
            return walk(node[1], lines)
        a, b, op = walk(node[2], lines), walk(node[3], lines), node[1]
        true_left = arith.step_left(a, op, b)
        if rng.random() < 0.5:
            a = habit((true_left, "a"), a, misread_rate, misread)
        else:
            b = habit((true_left, "b"), b, misread_rate, misread)
        left = arith.step_left(a, op, b)
        value = habit(left, arith.apply(a, op, b), SLIP_RATE, slip)
        lines.append(f"{left}={value}")
        return value

    messages = []
    for _ in range(k):
        lines: list[str] = []
        value = walk(tree, lines)
        messages.append("\n" + arith.worked_conclusion(lines, value))
    return messages


def simulated_answer_set(p, k: int, rng: pyrandom.Random) -> list[str]:
    """k answer-only messages for problem `p` shaped like the column solver's at levels 5–6,
    where wrong answers repeat within a problem (which `simulated_chain_messages` alone does not
    reproduce: 16 of its answers have the right plurality 99% of the time). Wrong values come
    from simulated column answers with slips and misread operands at twice the measured rates;
    1–4 of them become the problem's habits, and each reference is the right answer with a
    probability drawn from 0.1–0.8, else one of the habits (weighted at random)."""
    wrong = []
    for m in simulated_chain_messages(p["expression"], 24, rng, 2 * MISREAD_RATE):
        a = arith.extract(m)
        if a != p["answer"] and a not in wrong:
            wrong.append(a)
    if not wrong:
        return ["\n" + arith.conclusion(p["answer"])] * k
    habits = rng.sample(wrong, min(len(wrong), rng.randint(1, 4)))
    weights = [rng.random() for _ in habits]
    right = rng.uniform(0.1, 0.8)
    answers = [p["answer"] if rng.random() < right else rng.choices(habits, weights)[0] for _ in range(k)]
    return ["\n" + arith.conclusion(a) for a in answers]


def residue_pick(answers: list, value: int):
    """What a stage-8 synthesizer should name: the most frequent answer whose last digit is
    `value`'s (ties: first appearance), else the most frequent answer."""
    passing = [a for a in answers if a is not None and int(a) % 10 == value % 10]
    tally = tally_lines(passing) or tally_lines(answers)
    return tally[0][0] if tally else None


def own_sets(records, per_problem: int, rng: pyrandom.Random, add) -> None:
    """`add(problem, messages)` for `per_problem` sets of 1–16 of each record's own compacted
    answers."""
    for r in records:
        messages = [m for m in (arith.compact(t) for t in r["samples"]) if m.strip()]
        for _ in range(per_problem):
            add(r, rng.sample(messages, min(reference_count(rng), len(messages))))


def simulated_sets(counts: dict, seed: int, rng: pyrandom.Random, add, keep=None) -> None:
    """`add(problem, messages)` for one set of simulated answers (`simulated_answer_set`) per fresh
    training problem, `counts[level]` of each level drawn with seed `seed + level`; `keep`, if
    given, may leave a set out."""
    for level, count in counts.items():
        for p in arith.generate(seed + level, count, "train", level):
            messages = simulated_answer_set(p, reference_count(rng), rng)
            if keep is None or keep(p, messages):
                add(p, messages)


def encode_continued(bpe: tiny.Bpe, prompt_text: str, prefix: str, continuation: str):
    """An example whose assistant turn starts with `prefix` (not trained on: a slip in it is not
    something to learn) and goes on with `continuation`; None where the two do not tokenize
    apart the way the whole text does."""
    ids, _ = encode_example(bpe, prompt_text, prefix + continuation)
    head = bpe.encode(tiny.chat_prompt(prompt_text)) + bpe.encode(prefix)
    return (ids, len(head)) if ids[: len(head)] == head else None


def slipped_solution(expression: str, rng: pyrandom.Random) -> tuple[str, int]:
    """A column solution's `<think>` lines with one slip the column solver makes, carried into the
    later steps: at one step drawn at random, an operand misread (the columns then work the wrong
    operand) or the result written wrong from right columns. Returns the lines and the result of
    the last step."""
    steps, _ = arith.steps_of(expression)
    at, misread_it = rng.randrange(len(steps)), rng.random() < 0.5
    lines: list[str] = []

    def walk(node) -> int:
        if node[0] == "num":
            return node[1]
        if node[0] == "group":
            return walk(node[1])
        a, b, op = walk(node[2]), walk(node[3]), node[1]
        here = len(lines) // 2 == at
        if here and misread_it:
            if rng.random() < 0.5:
                a = misread(a, rng)
            else:
                b = misread(b, rng)
        left = arith.step_left(a, op, b)
        value = arith.apply(a, op, b)
        written = slip(value, rng) if here and not misread_it else value
        lines.extend([arith.column_line(left), f"{left}={written}"])
        return written

    value = walk(arith.parse(expression))
    return "<think>\n" + "\n".join(lines) + "\n", value


def reported(message: str, true_residue: int, rng: pyrandom.Random) -> str:
    """The message a stage-11 solver would have written for an answer-only `message`: the same
    where its check passes, ABSTAIN where it fails. Its check digit is wrong (another digit) with
    probability STAGE11_CHECK_ERROR."""
    a = arith.extract(message)
    if a is None:
        return message
    digit = true_residue
    if rng.random() < STAGE11_CHECK_ERROR:
        digit = rng.choice([d for d in range(10) if d != true_residue])
    return message if int(a) % 10 == digit else "\n" + arith.ABSTAIN


# ----------------------------------------------------------------------------- the stages, in order


def stage1_pool(bpe: tiny.Bpe):
    levels = list(LEVEL_WEIGHTS)
    pool = []
    for level in levels:
        count = int(STAGE1_POOL * LEVEL_WEIGHTS[level])
        for p in arith.generate(SEED + level, count, "train", level):
            pool.append(encode_example(bpe, p["prompt"], arith.solution(p["expression"])))
    return pool


def stage1(model, bpe: tiny.Bpe) -> None:
    """Solver: plain problems of all levels (`arith.solution`), 1,200 steps of 64."""
    if finished("stage1", STAGE1_STEPS, model):
        return
    pool = timed("stage1_data", lambda: stage1_pool(bpe))
    log(f"stage 1 pool {len(pool)} examples")
    timed("stage1", lambda: train_loop("stage1", model, pool, STAGE1_STEPS, STAGE1_BATCH, STAGE1_LR, SEED))


def stage1b_pool(bpe: tiny.Bpe):
    problems = train_problems(shares_of(STAGE1B_POOL, STAGE1B_LEVELS), 300)
    return [encode_example(bpe, p["prompt"], arith.worked_solution(p["expression"])) for p in problems]


def stage1b(model, bpe: tiny.Bpe) -> None:
    """Worked solver: fresh problems, worked conclusions (`arith.worked_solution`), 400 steps of 64."""
    if finished("stage1b", STAGE1B_STEPS, model):
        return
    pool = timed("stage1b_data", lambda: stage1b_pool(bpe))
    log(f"stage 1b pool {len(pool)} examples")
    timed("stage1b", lambda: train_loop("stage1b", model, pool, STAGE1B_STEPS, STAGE1_BATCH, STAGE1B_LR, SEED + 6))


def sampling(model, bpe: tiny.Bpe) -> list:
    """Stage 2w's references: 16 worked answers of stage 1b for STAGE2W_PROBLEMS
    (run/own-answers-worked.json)."""
    return timed("sampling", lambda: own_answers(model, bpe, "worked", train_problems(STAGE2W_PROBLEMS, 400), SEED + 4, MAX_NEW_WORKED))


def stage2w_pool(bpe: tiny.Bpe, records, checked: bool = False):
    """Reference sets of 1–16 of the model's own worked messages, each with the gold worked
    solution as target. Per problem, STAGE2W_SETS sets drawn from the natural distribution (the
    synthesizer must learn to follow a right majority) and STAGE2W_HARD_SETS drawn so that the
    plurality answer is wrong while some reference is right (PaCoRe's filter: the sets where
    synthesis can beat voting), where such a set can be drawn. Plain problems are mixed in so
    that the model keeps solving (STAGE2W_PLAIN plain rows per set).

    `checked` (stage 2c): the target copies the steps the references agree on and recomputes the
    others column by column (`arith.checked_solution`); the sets and plain problems are drawn
    afresh, and STAGE2C_SIMULATED fresh problems add one set each of simulated references."""
    rng = pyrandom.Random(SEED + (9 if checked else 5))
    synthesis = []
    target = "gold steps, disputed ones checked column by column" if checked else "gold worked solution"
    stats = {"problems": len(records), "sets": 0, "hardSets": 0, "pluralityRight": 0, "anyRight": 0, "target": target}

    def add(r, subset, answers):
        tally = tally_lines(answers)
        if checked:
            completion, checks = arith.checked_solution(r["expression"], subset)
        else:
            completion, checks = arith.worked_solution(r["expression"]), 0
        example = encode_example(bpe, arith.default_template(r["prompt"], subset), completion)
        if len(example[0]) > MODEL["max_positions"]:
            stats["tooLong"] = stats.get("tooLong", 0) + 1
            return
        if checked:
            stats["checks"] = stats.get("checks", 0) + checks
        stats["sets"] += 1
        stats["pluralityRight"] += bool(tally) and tally[0][0] == r["answer"]
        stats["anyRight"] += r["answer"] in answers
        synthesis.append(example)

    for r in records:
        messages = [m for m in (arith.compact(t) for t in r["samples"]) if m.strip()]
        if not messages:
            continue
        answers_of = [arith.extract(m) for m in messages]
        for _ in range(STAGE2W_SETS):
            k = min(reference_count(rng), len(messages))
            chosen = rng.sample(range(len(messages)), k)
            add(r, [messages[i] for i in chosen], [answers_of[i] for i in chosen])
        if r["answer"] not in answers_of or answers_of.count(r["answer"]) == len(answers_of):
            continue
        for _ in range(STAGE2W_HARD_SETS):
            for _attempt in range(20):
                k = min(max(2, reference_count(rng)), len(messages))
                chosen = rng.sample(range(len(messages)), k)
                answers = [answers_of[i] for i in chosen]
                tally = tally_lines(answers)
                if r["answer"] in answers and tally[0][0] != r["answer"]:
                    stats["hardSets"] += 1
                    add(r, [messages[i] for i in chosen], answers)
                    break
    if checked:
        own = stats["sets"]
        for level, count in STAGE2C_SIMULATED.items():
            for p in arith.generate(SEED + 700 + level, count, "train", level):
                subset = simulated_messages(p["expression"], reference_count(rng), rng)
                add(p, subset, [arith.extract(m) for m in subset])
        stats["simulatedSets"] = stats["sets"] - own
    log("stage 2c data:" if checked else "stage 2w data:", json.dumps(stats), "longest", max(len(s) for s, _ in synthesis))
    plain = []
    for level, share in STAGE2W_PLAIN.items():
        for p in arith.generate(SEED + (600 if checked else 500) + level, int(len(synthesis) * share) + 1, "train", level):
            plain.append(encode_example(bpe, p["prompt"], arith.worked_solution(p["expression"])))
    return synthesis + plain, stats


def stage2w(model, bpe: tiny.Bpe, worked: list) -> None:
    """Synthesizer over worked messages, gold worked solutions as target, 1,000 steps."""
    if finished("stage2w", STAGE2W_STEPS, model):
        return
    pool, _ = stage2w_pool(bpe, worked)
    log(f"stage 2w pool {len(pool)} examples")
    timed("stage2w", lambda: train_loop("stage2w", model, pool, STAGE2W_STEPS, 0, STAGE2W_LR, SEED + 7, BATCH_TOKENS))


def stage2c(model, bpe: tiny.Bpe, worked: list) -> None:
    """Checked synthesis (`arith.checked_solution`) from stage 2w's weights, 1,200 steps."""
    if finished("stage2c", STAGE2C_STEPS, model):
        return
    pool, _ = stage2w_pool(bpe, worked, checked=True)
    log(f"stage 2c pool {len(pool)} examples")
    timed("stage2c", lambda: train_loop("stage2c", model, pool, STAGE2C_STEPS, 0, STAGE2C_LR, SEED + 8, BATCH_TOKENS))


def stage3_pool(bpe: tiny.Bpe, check_lines: bool, levels: dict, seed_offset: int):
    problems = train_problems(shares_of(STAGE3_POOL, levels), seed_offset)
    return [encode_example(bpe, p["prompt"], arith.column_solution(p["expression"], check_lines)) for p in problems]


def stage3(model, bpe: tiny.Bpe) -> None:
    """Column solver (`arith.column_solution`) from stage 2c's weights, in the three parts of
    STAGE3_PARTS (600, 500 and 600 steps), each on its own pool of fresh problems."""
    for name, check_lines, levels, seed_offset, steps, lr, batch_seed in STAGE3_PARTS:
        if finished(name, steps, model):
            continue
        pool = timed(f"{name}_data", lambda: stage3_pool(bpe, check_lines, levels, seed_offset))
        log(f"{name} pool {len(pool)} examples")
        timed(name, lambda: train_loop(name, model, pool, steps, 0, lr, SEED + batch_seed, BATCH_TOKENS))


def sampling4(model, bpe: tiny.Bpe) -> list:
    """The references of stages 4 and 8–12: 16 column answers of stage 3 for STAGE4_PROBLEMS
    (run/own-answers-column.json)."""
    return timed("sampling4", lambda: own_answers(model, bpe, "column", train_problems(STAGE4_PROBLEMS, 1400), SEED + 14, MAX_NEW_COLUMNS))


def stage4_pool(bpe: tiny.Bpe, records):
    """STAGE4_SETS sets of 1–16 of the model's own compacted answers per problem, drawn from the
    natural distribution, each with the correct answer as target (`arith.vote_solution`). A set
    with no right reference is left out: nothing in it leads to the target, and training on it
    would teach the model to name numbers no reference gave. The paper's filter (sets whose
    majority is wrong) is not applied: with nothing to check inside `<think>`, such a set teaches
    a synthesizer only to trust the majority less (models/arith/README.md, item 10). Plain
    problems (column solutions) are mixed in so that the model keeps solving."""
    rng = pyrandom.Random(SEED + 15)
    synthesis = []
    stats = {"problems": len(records), "sets": 0, "pluralityRight": 0, "noRightReference": 0, "target": "the correct answer, nothing inside <think>"}
    for r in records:
        messages = [m for m in (arith.compact(t) for t in r["samples"]) if m.strip()]
        answers_of = [arith.extract(m) for m in messages]
        for _ in range(STAGE4_SETS):
            k = min(reference_count(rng), len(messages))
            chosen = rng.sample(range(len(messages)), k)
            answers = [answers_of[i] for i in chosen]
            if r["answer"] not in answers:
                stats["noRightReference"] += 1
                continue
            stats["sets"] += 1
            stats["pluralityRight"] += tally_lines(answers)[0][0] == r["answer"]
            synthesis.append(encode_example(bpe, arith.default_template(r["prompt"], [messages[i] for i in chosen]), arith.vote_solution(r["answer"])))
    log("stage 4 data:", json.dumps(stats))
    # At least 20 sets' worth of plain problems: a smoke run's untrained solver has no right
    # answer, hence no set (the real run has 1,019, so its pool is unchanged).
    plain = [
        encode_example(bpe, p["prompt"], arith.column_solution(p["expression"]))
        for p in train_problems(shares_of(max(len(synthesis), 20), STAGE4_PLAIN), 1500)
    ]
    return synthesis + plain, stats


def stage4(model, bpe: tiny.Bpe, columns: list) -> None:
    """Vote synthesis over the column answers (`arith.vote_solution`), 400 steps."""
    if finished("stage4", STAGE4_STEPS, model):
        return
    pool, _ = stage4_pool(bpe, columns)
    log(f"stage 4 pool {len(pool)} examples")
    timed("stage4", lambda: train_loop("stage4", model, pool, STAGE4_STEPS, 0, STAGE4_LR, SEED + 16, BATCH_TOKENS))


def stage8_pool(bpe: tiny.Bpe, records, stage: int = 8):
    """Stage 8's synthesis sets (own and simulated answers; target: the residue check, then the
    correct answer) and plain column solutions. A set is kept only where the check leads to the
    correct answer (`residue_pick`): a set where a wrong answer ending in the right digit is more
    frequent has nothing that leads to the target. Of the simulated sets whose plurality is
    right, half are left out, so that most need the check. Stages 9 and 10 draw other sets and
    problems, with `arith.listed_solution` as target."""
    listed = stage > 8
    draw = stage - 8  # seeds apart per stage
    rng = pyrandom.Random(SEED + 24 + 2 * draw)
    synthesis = []
    target = "the residue check, each reference's answer marked, then the correct answer" if listed else "the residue check, then the correct answer"
    stats = {"problems": len(records), "sets": 0, "simulatedSets": 0, "checkMisleads": 0, "pluralityRight": 0, "target": target}

    def add(p, messages) -> None:
        answers = [arith.extract(m) for m in messages]
        if residue_pick(answers, int(p["answer"])) != p["answer"]:
            stats["checkMisleads"] += 1
            return
        stats["sets"] += 1
        stats["pluralityRight"] += tally_lines(answers)[0][0] == p["answer"]
        if listed:
            completion = arith.listed_solution(p["expression"], messages, p["answer"])
        else:
            completion = arith.residue_solution(p["expression"], p["answer"])
        synthesis.append(encode_example(bpe, arith.default_template(p["prompt"], messages), completion))

    own_sets(records, STAGE8_SETS, rng, add)
    own = stats["sets"]

    def mostly_plurality_wrong(p, messages) -> bool:
        # Half the simulated sets whose plurality is right are left out.
        return tally_lines([arith.extract(m) for m in messages])[0][0] != p["answer"] or rng.random() < 0.5

    simulated_sets(STAGE8_SIMULATED, SEED + 2400 + 200 * draw, rng, add, mostly_plurality_wrong)
    stats["simulatedSets"] = stats["sets"] - own
    log(f"stage {stage} data:", json.dumps(stats))
    problems = train_problems(shares_of(len(synthesis), STAGE8_PLAIN), 2500 + 200 * draw)
    plain = [encode_example(bpe, p["prompt"], arith.column_solution(p["expression"])) for p in problems]
    return synthesis + plain, stats


def stage8(model, bpe: tiny.Bpe, columns: list) -> None:
    """Synthesis that works the problem's last digit, then names an answer that ends in it
    (`arith.residue_solution`), from stage 4's weights, 600 steps."""
    if finished("stage8", STAGE8_STEPS, model):
        return
    pool, _ = timed("stage8_data", lambda: stage8_pool(bpe, columns, 8))
    log(f"stage 8 pool {len(pool)} examples")
    timed("stage8", lambda: train_loop("stage8", model, pool, STAGE8_STEPS, 0, STAGE8_LR, SEED + 25, BATCH_TOKENS))


def stage9(model, bpe: tiny.Bpe, columns: list) -> None:
    """The check written against every reference (`arith.listed_solution`), from stage 8's
    weights, 700 steps."""
    if finished("stage9", STAGE9_STEPS, model):
        return
    pool, _ = timed("stage9_data", lambda: stage8_pool(bpe, columns, 9))
    log(f"stage 9 pool {len(pool)} examples")
    timed("stage9", lambda: train_loop("stage9", model, pool, STAGE9_STEPS, 0, STAGE9_LR, SEED + 27, BATCH_TOKENS))


def stage10(model, bpe: tiny.Bpe, columns: list) -> None:
    """Stage 9 continued on fresh draws, 500 steps at peak lr 3e-4."""
    if finished("stage10", STAGE10_STEPS, model):
        return
    pool, _ = timed("stage10_data", lambda: stage8_pool(bpe, columns, 10))
    log(f"stage 10 pool {len(pool)} examples")
    timed("stage10", lambda: train_loop("stage10", model, pool, STAGE10_STEPS, 0, STAGE10_LR, SEED + 29, BATCH_TOKENS))


def stage11_pool(bpe: tiny.Bpe, records, stage: int = 11):
    """Stage 11's examples (models/arith/README.md, item 14): the solver's own check after gold,
    own and slipped steps, and vote sets over answers reported as a stage-11 solver would. A set
    whose passing answers' plurality is wrong is left out (nothing in it leads to the target); a
    set where every answer failed its check has the self-checked solution as target."""
    draw = stage - 11  # stage 12 draws other problems and sets
    rng = pyrandom.Random(SEED + 30 + 2 * draw)
    stats = {"gold": 0, "own": 0, "ownFailing": 0, "slipped": 0, "slippedFailing": 0, "sets": 0, "setsAllAbstain": 0, "setsPassingWrong": 0, "simulatedSets": 0}
    pool = []
    for p in train_problems(STAGE11_GOLD, 3000 + 300 * draw):
        pool.append(encode_example(bpe, p["prompt"], arith.self_checked_solution(p["expression"])))
        stats["gold"] += 1

    def add_continued(p, prefix: str, answer, kind: str) -> None:
        tail = arith.check_tail(p["expression"], answer)
        example = encode_continued(bpe, p["prompt"], prefix, tail)
        if example is not None:
            pool.append(example)
            stats[kind] += 1
            stats[kind + "Failing"] += arith.ABSTAIN in tail

    for r in records:
        for t in rng.sample(r["samples"], min(STAGE11_OWN_PER_PROBLEM, len(r["samples"]))):
            steps = arith.think_steps(t)
            end = t.rfind("</think>")
            answer = steps[-1].rpartition("=")[2] if steps else ""
            if not arith.NUMBER_RE.fullmatch(answer) or end < 0 or not t[:end].endswith(steps[-1] + "\n"):
                continue
            add_continued(r, t[:end], answer, "own")
    for level, count in STAGE11_SLIPPED.items():
        for p in arith.generate(SEED + 3100 + 300 * draw + level, count, "train", level):
            prefix, value = slipped_solution(p["expression"], rng)
            add_continued(p, prefix, value, "slipped")

    def add_set(p, messages) -> None:
        messages = [reported(m, int(p["answer"]) % 10, rng) for m in messages]
        answers = [a for a in (arith.extract(m) for m in messages) if a is not None]
        if not answers:
            stats["setsAllAbstain"] += 1
            target = arith.self_checked_solution(p["expression"])
        elif tally_lines(answers)[0][0] == p["answer"]:
            target = arith.vote_solution(p["answer"])
        else:
            stats["setsPassingWrong"] += 1
            return
        stats["sets"] += 1
        pool.append(encode_example(bpe, arith.default_template(p["prompt"], messages), target))

    own_sets(records, STAGE11_SETS, rng, add_set)
    own = stats["sets"]
    simulated_sets(STAGE11_SIMULATED, SEED + 3200 + 300 * draw, rng, add_set)
    stats["simulatedSets"] = stats["sets"] - own
    log(f"stage {stage} data:", json.dumps(stats))
    return pool, stats


def stage11(model, bpe: tiny.Bpe, columns: list) -> None:
    """The solver checks its own answer (`arith.self_checked_solution`) and the synthesizer votes
    over the answers given, from stage 10's weights, 700 steps."""
    if finished("stage11", STAGE11_STEPS, model):
        return
    pool, _ = timed("stage11_data", lambda: stage11_pool(bpe, columns, 11))
    log(f"stage 11 pool {len(pool)} examples")
    timed("stage11", lambda: train_loop("stage11", model, pool, STAGE11_STEPS, 0, STAGE11_LR, SEED + 31, BATCH_TOKENS))


def stage12(model, bpe: tiny.Bpe, columns: list) -> dict:
    """Stage 11 continued on fresh draws, 500 steps at peak lr 3e-4: the committed model. Its pool
    is built even where the stage is finished: its statistics go into config.json."""
    pool, stats = timed("stage12_data", lambda: stage11_pool(bpe, columns, 12))
    log(f"stage 12 pool {len(pool)} examples")
    timed("stage12", lambda: train_loop("stage12", model, pool, STAGE12_STEPS, 0, STAGE12_LR, SEED + 33, BATCH_TOKENS))
    return stats


# ----------------------------------------------------------------------------- export


@torch.no_grad()
def greedy_reference(model, bpe: tiny.Bpe) -> dict:
    """Greedy ids of a few held-out problems by full recomputation (no KV cache), kept only where
    every step wins by a clear logit margin and the answer ends within MAX_NEW_WORKED tokens (the
    test's budget), so that the ONNX backend must reproduce them."""
    eos = {bpe.special["<|im_end|>"], bpe.special["<|endoftext|>"]}
    cases = []
    for p in arith.generate(1, 12, "heldout", 2):
        prompt = bpe.encode(tiny.chat_prompt(p["prompt"]))
        ids, margins = [], []
        for _ in range(MAX_NEW_WORKED):
            logits = model.train_logits(torch.tensor([prompt + ids]))[0, -1]
            top = torch.topk(logits, 2)
            margins.append(float(top.values[0] - top.values[1]))
            ids.append(int(top.indices[0]))
            if ids[-1] in eos:
                break
        if ids[-1] in eos and min(margins) >= 0.05 and len(cases) < 4:
            cases.append({"prompt": p["prompt"], "greedyIds": ids, "minMargin": round(min(margins), 3), "text": bpe.decode(ids)})
    return {"description": "Greedy ids by torch full recomputation; see models/arith/train.py", "cases": cases}


def export(model, bpe: tiny.Bpe, stats: dict):
    """Writes OUT: config.json (with `stats`, the last stage's data statistics, and the wall
    times), generation_config.json, the tokenizer, synthesis-example.json, greedy-reference.json
    and onnx/model.onnx."""
    if OUT.exists():
        shutil.rmtree(OUT)
    (OUT / "onnx").mkdir(parents=True)
    c = model.c
    eos_id = bpe.special["<|im_end|>"]
    eos_ids = [eos_id, bpe.special["<|endoftext|>"]]
    config = {
        **tiny.llama_config(c, eos_id, bpe.special["<|endoftext|>"]),
        "pacore": {
            "description": "pacore-tiny: the embedded reasoning model of the arith task, trained by models/arith/train.py",
            "parameters": tiny.parameter_count(model),
            "seed": SEED,
            "stage2Data": stats,
            # What the model concludes where its own check fails (stages 11–12); the tests check
            # that answer extraction finds no answer in it.
            "declinedConclusion": arith.ABSTAIN,
            # The stages that led to this export; not the export itself (timed as it runs).
            "trainingWallSeconds": {k: v for k, v in WALL.items() if k != "export"},
        },
    }
    generation_config = {"eos_token_id": eos_ids, "pad_token_id": eos_ids[1], "do_sample": True, "temperature": 1.0, "top_p": 1.0, "max_new_tokens": MAX_NEW_TOKENS}
    tokenizer_json = bpe.tokenizer_json()
    tokenizer_config = tiny.tokenizer_config(tokenizer_json, c.max_positions)

    def write(name, data):
        tiny.write_json(OUT / name, data)

    write("config.json", config)
    write("generation_config.json", generation_config)
    write("tokenizer.json", tokenizer_json)
    write("tokenizer_config.json", tokenizer_config)
    problem = arith.generate(1, 1, "heldout", 4)[0]
    messages = ["\n" + arith.conclusion(problem["answer"]), "\n" + arith.conclusion(int(problem["answer"]) + 10), "\nIt is 5."]
    rendered = arith.default_template(problem["prompt"], messages)
    write(
        "synthesis-example.json",
        {
            "problem": problem["prompt"],
            "messages": messages,
            "rendered": rendered,
            "renderedIds": bpe.encode(tiny.chat_prompt(rendered)),
            "tokenizerCases": [
                {"text": t, "ids": bpe.encode(t)}
                for t in [tiny.chat_prompt(problem["prompt"]), arith.solution(problem["expression"]), "Hello, world! 12 + -3"]
            ],
        },
    )
    write("greedy-reference.json", greedy_reference(model, bpe))
    tiny.export_onnx(model, str(OUT / "onnx" / "model.onnx"))
    for path in sorted(OUT.rglob("*")):
        if path.is_file():
            log(f"{path}  {path.stat().st_size / 1024:.1f} KiB")


# ----------------------------------------------------------------------------- main


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Trains pacore-tiny through the stages that produced models/pacore-tiny and exports it (module docstring: the stages).",
    )
    parser.add_argument("--run-dir", type=Path, help="checkpoints, merges, sampled answers and wall.json (default models/arith/run; with --smoke models/arith/run-smoke)")
    parser.add_argument("--out", type=Path, help="where the export goes (default models/pacore-tiny; with --smoke RUN_DIR/pacore-tiny)")
    parser.add_argument("--until", choices=STAGES, metavar="STAGE", help="stop after this stage (train or resume up to it), without export: " + ", ".join(STAGES))
    parser.add_argument("--export-only", action="store_true", help="rewrite --out from RUN_DIR/stage12.pt; --out must hold a config.json, whose training-data statistics are kept")
    parser.add_argument("--smoke", action="store_true", help="a minutes-long dry run of every stage (tiny pools, 10 steps each)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2, as the committed model was trained)")
    return parser.parse_args(argv)


def main(argv=None) -> None:
    global RUN, OUT, WALL
    args = parse_args(argv)
    if args.smoke:
        smoke()
    RUN = args.run_dir or ROOT / "models" / "arith" / ("run-smoke" if args.smoke else "run")
    OUT = args.out or (RUN / "pacore-tiny" if args.smoke else ROOT / "models" / "pacore-tiny")
    torch.set_num_threads(args.threads)
    RUN.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(SEED)  # the model's initialization; everything else has its own generator
    wall_path = RUN / "wall.json"
    WALL = json.loads(wall_path.read_text()) if wall_path.exists() else {}

    if args.export_only:
        bpe = build_tokenizer()
        model = tiny.TinyDecoder(tiny.Config(len(bpe), **MODEL))
        model.load_state_dict(torch.load(RUN / "stage12.pt")["model"])
        model.eval()
        stats = json.loads((OUT / "config.json").read_text())["pacore"]["stage2Data"]
        export(model, bpe, stats)
        return

    bpe = build_tokenizer()
    log(f"vocabulary {len(bpe)} tokens")
    model = tiny.TinyDecoder(tiny.Config(len(bpe), **MODEL))
    log(f"parameters {tiny.parameter_count(model)}")

    def stage(name: str, fn, *fn_args):
        """Runs stage `name`; ends the run after it where `--until` names it."""
        result = fn(*fn_args)
        if name == args.until:
            log(f"stopped after {name} (--until): no export")
            raise SystemExit(0)
        return result

    # Each stage starts from the weights the one before left in `model`, with a fresh optimizer;
    # a finished stage only loads its own checkpoint's weights.
    stage("stage1", stage1, model, bpe)
    stage("stage1b", stage1b, model, bpe)
    worked = stage("sampling", sampling, model, bpe)
    stage("stage2w", stage2w, model, bpe, worked)
    stage("stage2c", stage2c, model, bpe, worked)
    stage("stage3", stage3, model, bpe)
    columns = stage("sampling4", sampling4, model, bpe)
    stage("stage4", stage4, model, bpe, columns)
    stage("stage8", stage8, model, bpe, columns)
    stage("stage9", stage9, model, bpe, columns)
    stage("stage10", stage10, model, bpe, columns)
    stage("stage11", stage11, model, bpe, columns)
    stats = stage("stage12", stage12, model, bpe, columns)
    timed("export", lambda: export(model, bpe, stats))
    log("wall seconds:", json.dumps(WALL))


if __name__ == "__main__":
    main()
