#!/usr/bin/python3
"""Trains pacore-tiny, the embedded reasoning model, and exports it to models/pacore-tiny/.

Run with Debian's python (torch 1.13 + OpenBLAS, onnx), not a pyenv python, in the background:

    apt-get install -y python3-torch python3-onnx libopenblas0-pthread
    mkdir -p models/arith/run
    nohup /usr/bin/python3 models/arith/train.py > models/arith/run/train.log 2>&1 &

Wall time on 2 shared CPU cores: about 65 minutes in all (stage 1 39, sampling of own answers 9,
stage 2 14, export seconds; measured for the committed model, see config.json).
Everything follows from SEED. Each stage checkpoints to models/arith/run/ (ignored by git) and a rerun resumes where the last one stopped: finished
stages are skipped, an unfinished one restarts from its last checkpoint (the batches are a
function of the step, so a resumed run sees the same data).

Stages:
 1. Solver: the model learns to solve training-split `arith` problems (all difficulty levels)
    with its reasoning inside `<think>…</think>` and a short conclusion, `The answer is N.`.
 2. Synthesizer: it samples 16 answers of its own at temperature 1 for other training problems,
    keeps problems where some but few answers are right (and a share of the others), and learns
    to answer pacore's `default` synthesis prompt built from 1–16 of those compacted answers
    with the correct solution: a `<think>` that names the answer it checks and recomputes it,
    then the conclusion. Plain problems are mixed in so that it keeps solving.
 3. Export: onnx-community layout in models/pacore-tiny/.
"""

from __future__ import annotations

import json
import math
import os
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
RUN = Path(os.environ.get("PACORE_TINY_RUN", ROOT / "models" / "arith" / "run"))
OUT = ROOT / "models" / "pacore-tiny"
SEED = 20260601
SMOKE = os.environ.get("PACORE_TINY_SMOKE") == "1"  # a minutes-long dry run of every stage

VOCAB_SIZE = 384  # 256 bytes + merges + 5 special tokens
MODEL = dict(hidden=192, intermediate=512, layers=4, heads=6, kv_heads=2, max_positions=1024)

# Stage 1: plain problems, all levels.
LEVEL_WEIGHTS = {1: 0.05, 2: 0.1, 3: 0.15, 4: 0.25, 5: 0.25, 6: 0.2}
STAGE1_POOL = 120_000
STAGE1_STEPS = 1200
STAGE1_BATCH = 64
STAGE1_LR = 2e-3

# Stage 2: synthesis on the model's own answers.
STAGE2_PROBLEMS = {2: 500, 3: 600, 4: 400}
SAMPLES_PER_PROBLEM = 16
SETS_PER_PROBLEM = 5
KEEP_EASY = float(os.environ.get("PACORE_TINY_KEEP_EASY", "0.35"))  # share kept of problems whose own answers are right half the time or more
STAGE2_STEPS = int(os.environ.get("PACORE_TINY_STAGE2_STEPS", "600"))
PLAIN_LEVELS = {1: 0.1, 2: 0.2, 3: 0.4, 4: 0.4, 5: 0.2}  # plain problems per synthesis example
STAGE2_TOKENS = 5000  # tokens (padding included) per batch
STAGE2_LR = 1e-3
MAX_NEW = 160

if SMOKE:
    STAGE1_POOL, STAGE1_STEPS, STAGE1_BATCH = 2000, 20, 16
    STAGE2_PROBLEMS = {4: 20, 5: 20}
    STAGE2_STEPS, STAGE2_TOKENS = 10, 1000
    MAX_NEW = 40

CHECKPOINT_EVERY = 50

# Stage 2, v2 (`--stage2-v2`): tally synthesis target on the natural distribution of own answers.
# Starts from stage1.pt, writes RUN/stage2v2.pt and exports to models/pacore-tiny-v2/.
TALLY_LINES = 4
V2_SETS_PER_PROBLEM = int(os.environ.get("PACORE_TINY_V2_SETS", "8"))
V2_STEPS = int(os.environ.get("PACORE_TINY_V2_STEPS", "600"))
V2_LR = float(os.environ.get("PACORE_TINY_V2_LR", "1e-3"))
V2_PLAIN_SCALE = float(os.environ.get("PACORE_TINY_V2_PLAIN", "1"))  # multiplies V2_PLAIN_LEVELS
V2_NAME = os.environ.get("PACORE_TINY_V2_NAME", "stage2v2")  # checkpoint RUN/{V2_NAME}.pt
V2_PLAIN_LEVELS = {1: 0.05, 2: 0.15, 3: 0.2, 4: 0.2}  # plain problems per synthesis example
V2_OUT = ROOT / "models" / "pacore-tiny-v2"


def log(*args):
    print(time.strftime("%H:%M:%S"), *args, flush=True)


def reference_count(rng: pyrandom.Random) -> int:
    """How many messages a synthesis input holds: 1, 4 and 16 (the eval's shapes) most often."""
    return rng.choice([1, 1, 2, 4, 4, 4, 8, 16, 16, 16, 16, rng.randint(2, 16)])


def tally_lines(answers: list) -> list[tuple[str, int]]:
    """Distinct answers with their counts, most frequent first (ties: first appearance)."""
    counts: dict = {}
    for a in answers:
        if a is not None:
            counts[a] = counts.get(a, 0) + 1
    return sorted(counts.items(), key=lambda kv: -kv[1])  # stable: ties keep first appearance


def tally_target(answers: list) -> str:
    """v2 synthesis target: `<think>` holds a tally of the references' answers (at most
    TALLY_LINES lines, `397 x5`), then the conclusion names the tally's first (plurality) answer.
    The target answer is the plurality, not the gold answer: the synthesizer is sampled at
    temperature 1, so a target that is a deterministic function of the tally gives argmax voting,
    whereas gold targets would teach probability matching over the tally (measured on
    own-answers.json: adding one own recomputation as a tie-breaker gains ~0.01, not its tokens)."""
    lines = tally_lines(answers)
    if not lines:
        return None
    body = "".join(f"{a} x{c}\n" for a, c in lines[:TALLY_LINES])
    return "<think>\n" + body + "</think>\n" + arith.conclusion(lines[0][0])


def synthesis_target(expression: str) -> str:
    steps, value = arith.steps_of(expression)
    return f"<think>\nCheck {value}:\n" + "\n".join(steps) + "\n</think>\n" + arith.conclusion(value)


# ----------------------------------------------------------------------------- tokenizer


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
                + synthesis_target(p["expression"])
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


def stage1_pool(bpe: tiny.Bpe):
    levels = list(LEVEL_WEIGHTS)
    pool = []
    for level in levels:
        count = int(STAGE1_POOL * LEVEL_WEIGHTS[level])
        for p in arith.generate(SEED + level, count, "train", level):
            pool.append(encode_example(bpe, p["prompt"], arith.solution(p["expression"])))
    return pool


# ----------------------------------------------------------------------------- stage 2 data


def own_answers(model, bpe: tiny.Bpe):
    """Samples SAMPLES_PER_PROBLEM answers at temperature 1 for the stage-2 problems (cached)."""
    path = RUN / "own-answers.json"
    if path.exists():
        return json.loads(path.read_text())
    problems = []
    for level, count in STAGE2_PROBLEMS.items():
        problems += arith.generate(SEED + 100 + level, count, "train", level)
    eos = {bpe.special["<|im_end|>"], bpe.special["<|endoftext|>"]}
    generator = torch.Generator().manual_seed(SEED + 1)
    records = []
    chunk = 100
    for start in range(0, len(problems), chunk):
        part = problems[start : start + chunk]
        prompts = [bpe.encode(tiny.chat_prompt(p["prompt"])) for p in part for _ in range(SAMPLES_PER_PROBLEM)]
        outputs = tiny.sample(model, prompts, eos, MAX_NEW, 1.0, generator)
        for j, p in enumerate(part):
            texts = [bpe.decode(o) for o in outputs[j * SAMPLES_PER_PROBLEM : (j + 1) * SAMPLES_PER_PROBLEM]]
            records.append({**p, "samples": texts})
        correct = sum(arith.extract(t) == r["answer"] for r in records for t in r["samples"])
        log(f"own answers: {len(records)}/{len(problems)} problems, accuracy so far {correct / (len(records) * SAMPLES_PER_PROBLEM):.3f}")
    path.write_text(json.dumps(records))
    return records


def stage2_pool(bpe: tiny.Bpe, records):
    rng = pyrandom.Random(SEED + 2)
    synthesis = []
    stats = {"problems": len(records), "kept": 0, "all_wrong_dropped": 0, "majority_wrong_sets": 0, "sets": 0}
    for r in records:
        messages = [arith.compact(t) for t in r["samples"]]
        messages = [m for m in messages if m.strip()]
        correct = [arith.extract(m) == r["answer"] for m in messages]
        accuracy = sum(correct) / max(1, len(messages))
        if accuracy == 0:
            stats["all_wrong_dropped"] += 1
            continue
        if accuracy >= 0.5 and rng.random() >= KEEP_EASY:
            continue
        stats["kept"] += 1
        for _ in range(SETS_PER_PROBLEM):
            k = min(reference_count(rng), len(messages))
            chosen = rng.sample(range(len(messages)), k)
            subset = [messages[i] for i in chosen]
            votes = {}
            for m in subset:
                a = arith.extract(m)
                votes[a] = votes.get(a, 0) + 1
            top = max(votes.items(), key=lambda kv: kv[1])[0]
            stats["majority_wrong_sets"] += top != r["answer"]
            stats["sets"] += 1
            prompt = arith.default_template(r["prompt"], subset)
            synthesis.append(encode_example(bpe, prompt, synthesis_target(r["expression"])))
    log("stage 2 data:", json.dumps(stats), "longest", max(len(s) for s, _ in synthesis))
    plain = []
    for level, share in PLAIN_LEVELS.items():
        for p in arith.generate(SEED + 200 + level, int(len(synthesis) * share) + 1, "train", level):
            plain.append(encode_example(bpe, p["prompt"], arith.solution(p["expression"])))
    return synthesis + plain, stats


def v2_reference_count(rng: pyrandom.Random) -> int:
    """1–16 references, 4 (the final round) and 16 (the first synthesis round) most often."""
    return rng.choice([1, 2, 3, 4, 4, 4, 4, 6, 8, 12, 16, 16, 16, 16, rng.randint(2, 16)])


def stage2_v2_pool(bpe: tiny.Bpe, records):
    """Natural-distribution reference sets (no filter) with the tally target, plus plain problems."""
    rng = pyrandom.Random(SEED + 12)
    synthesis = []
    stats = {"problems": len(records), "sets": 0, "plurality_right": 0, "target": "tally"}
    for r in records:
        messages = [m for m in (arith.compact(t) for t in r["samples"]) if m.strip()]
        if not messages:
            continue
        for _ in range(V2_SETS_PER_PROBLEM):
            k = min(v2_reference_count(rng), len(messages))
            subset = [messages[i] for i in rng.sample(range(len(messages)), k)]
            target = tally_target([arith.extract(m) for m in subset])
            if target is None:
                continue
            stats["sets"] += 1
            stats["plurality_right"] += arith.extract(target) == r["answer"]
            synthesis.append(encode_example(bpe, arith.default_template(r["prompt"], subset), target))
    log("stage 2 v2 data:", json.dumps(stats), "longest", max(len(s) for s, _ in synthesis))
    plain = []
    for level, share in V2_PLAIN_LEVELS.items():
        for p in arith.generate(SEED + 200 + level, int(len(synthesis) * share * V2_PLAIN_SCALE) + 1, "train", level):
            plain.append(encode_example(bpe, p["prompt"], arith.solution(p["expression"])))
    return synthesis + plain, stats


def main_v2():
    """`train.py --stage2-v2 [--export-v2]`: retrains only the synthesis stage from stage1.pt."""
    global OUT
    torch.set_num_threads(int(os.environ.get("PACORE_TINY_THREADS", "2")))
    torch.manual_seed(SEED)
    wall_path = RUN / "wall-v2.json"
    wall = json.loads(wall_path.read_text()) if wall_path.exists() else {}
    bpe = build_tokenizer()
    model = tiny.TinyDecoder(tiny.Config(len(bpe), **MODEL))
    records = json.loads((RUN / "own-answers.json").read_text())
    t = time.time()
    pool, stats = stage2_v2_pool(bpe, records)
    wall["stage2v2_data"] = round(time.time() - t)
    log(f"stage 2 v2 pool {len(pool)} examples")
    if "--export-v2" in sys.argv:
        model.load_state_dict(torch.load(RUN / f"{V2_NAME}.pt")["model"])
        model.eval()
        OUT = V2_OUT
        stats["steps"] = V2_STEPS
        export(model, bpe, stats, wall)
        config = json.loads((OUT / "config.json").read_text())
        config["pacore"]["description"] = (
            "pacore-tiny-v2: stage 1 of pacore-tiny (stage1.pt) with only the synthesis stage retrained "
            "by models/arith/train.py --stage2-v2: targets are a tally of the references' answers "
            "(most frequent first, `397 x5`) inside <think>, then the plurality answer; reference sets "
            "of 1-16 drawn unfiltered from the solver's own sampled answers; plain problems mixed in"
        )
        config["pacore"]["stage2Training"] = {"steps": V2_STEPS, "tokensPerBatch": STAGE2_TOKENS, "peakLr": V2_LR, "seed": SEED + 13}
        (OUT / "config.json").write_text(json.dumps(config, indent=1, ensure_ascii=False) + "\n")
        return
    model.load_state_dict(torch.load(RUN / "stage1.pt")["model"])
    t = time.time()
    train_loop(V2_NAME, model, pool, V2_STEPS, 0, V2_LR, SEED + 13, STAGE2_TOKENS)
    wall["stage2v2"] = wall.get("stage2v2", 0) + round(time.time() - t)
    wall_path.write_text(json.dumps(wall))
    log("wall seconds:", json.dumps(wall))


# ----------------------------------------------------------------------------- export


@torch.no_grad()
def greedy_reference(model, bpe: tiny.Bpe) -> dict:
    """Greedy ids of a few held-out problems by full recomputation (no KV cache), kept only where
    every step wins by a clear logit margin, so that the ONNX backend must reproduce them."""
    eos = {bpe.special["<|im_end|>"], bpe.special["<|endoftext|>"]}
    cases = []
    for p in arith.generate(1, 12, "heldout", 2):
        prompt = bpe.encode(tiny.chat_prompt(p["prompt"]))
        ids, margins = [], []
        for _ in range(MAX_NEW):
            logits = model.train_logits(torch.tensor([prompt + ids]))[0, -1]
            top = torch.topk(logits, 2)
            margins.append(float(top.values[0] - top.values[1]))
            ids.append(int(top.indices[0]))
            if ids[-1] in eos:
                break
        if min(margins) >= 0.05 and len(cases) < 4:
            cases.append({"prompt": p["prompt"], "greedyIds": ids, "minMargin": round(min(margins), 3), "text": bpe.decode(ids)})
    return {"description": "Greedy ids by torch full recomputation; see models/arith/train.py", "cases": cases}


def export(model, bpe: tiny.Bpe, stats: dict, wall: dict):
    if OUT.exists():
        shutil.rmtree(OUT)
    (OUT / "onnx").mkdir(parents=True)
    c = model.c
    eos_id = bpe.special["<|im_end|>"]
    eos_ids = [eos_id, bpe.special["<|endoftext|>"]]
    config = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": c.vocab_size,
        "hidden_size": c.hidden,
        "intermediate_size": c.intermediate,
        "num_hidden_layers": c.layers,
        "num_attention_heads": c.heads,
        "num_key_value_heads": c.kv_heads,
        "head_dim": c.head_dim,
        "hidden_act": "silu",
        "max_position_embeddings": c.max_positions,
        "rms_norm_eps": c.rms_eps,
        "rope_theta": c.rope_theta,
        "tie_word_embeddings": False,
        "bos_token_id": None,
        "eos_token_id": eos_id,
        "pad_token_id": bpe.special["<|endoftext|>"],
        "torch_dtype": "float32",
        "pacore": {
            "description": "pacore-tiny: the embedded reasoning model of the arith task, trained by models/arith/train.py",
            "parameters": tiny.parameter_count(model),
            "seed": SEED,
            "stage2Data": stats,
            "trainingWallSeconds": wall,
        },
    }
    generation_config = {"eos_token_id": eos_ids, "pad_token_id": eos_ids[1], "do_sample": True, "temperature": 1.0, "top_p": 1.0, "max_new_tokens": 256}
    tokenizer_json = bpe.tokenizer_json()
    tokenizer_config = {
        "add_bos_token": False,
        "add_eos_token": False,
        "bos_token": None,
        "eos_token": "<|im_end|>",
        "pad_token": "<|endoftext|>",
        "model_max_length": c.max_positions,
        "clean_up_tokenization_spaces": False,
        "tokenizer_class": "PreTrainedTokenizerFast",
        "chat_template": tiny.CHAT_TEMPLATE,
        "added_tokens_decoder": {
            str(t["id"]): {k: v for k, v in t.items() if k != "id"} for t in tokenizer_json["added_tokens"]
        },
    }

    def write(name, data):
        (OUT / name).write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")

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
            log(f"{path.relative_to(ROOT)}  {path.stat().st_size / 1024:.1f} KiB")


def main():
    torch.set_num_threads(int(os.environ.get("PACORE_TINY_THREADS", "2")))
    RUN.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(SEED)
    wall_path = RUN / "wall.json"
    wall = json.loads(wall_path.read_text()) if wall_path.exists() else {}

    def timed(name, fn):
        t = time.time()
        result = fn()
        wall[name] = round(wall.get(name, 0) + time.time() - t)
        wall_path.write_text(json.dumps(wall))
        return result

    if "--stage2-v2" in sys.argv:
        main_v2()
        return
    if "--export-only" in sys.argv:
        # Rewrites models/pacore-tiny/ from the finished stage-2 checkpoint.
        bpe = build_tokenizer()
        model = tiny.TinyDecoder(tiny.Config(len(bpe), **MODEL))
        model.load_state_dict(torch.load(RUN / "stage2.pt")["model"])
        model.eval()
        stats = json.loads((OUT / "config.json").read_text())["pacore"]["stage2Data"]
        export(model, bpe, stats, wall)
        return
    bpe = build_tokenizer()
    log(f"vocabulary {len(bpe)} tokens")
    model = tiny.TinyDecoder(tiny.Config(len(bpe), **MODEL))
    log(f"parameters {tiny.parameter_count(model)}")

    stage1 = RUN / "stage1.pt"
    done1 = stage1.exists() and torch.load(stage1)["step"] >= STAGE1_STEPS
    if done1:
        model.load_state_dict(torch.load(stage1)["model"])
        model.eval()
    else:
        pool = timed("stage1_data", lambda: stage1_pool(bpe))
        log(f"stage 1 pool {len(pool)} examples")
        timed("stage1", lambda: train_loop("stage1", model, pool, STAGE1_STEPS, STAGE1_BATCH, STAGE1_LR, SEED))

    records = timed("sampling", lambda: own_answers(model, bpe))
    pool, stats = stage2_pool(bpe, records)
    log(f"stage 2 pool {len(pool)} examples")
    # Stage 2 starts from the stage-1 weights with a fresh optimizer (or resumes its checkpoint).
    timed("stage2", lambda: train_loop("stage2", model, pool, STAGE2_STEPS, 0, STAGE2_LR, SEED + 3, STAGE2_TOKENS))
    timed("export", lambda: export(model, bpe, stats, wall))
    log("wall seconds:", json.dumps(wall))


if __name__ == "__main__":
    main()
