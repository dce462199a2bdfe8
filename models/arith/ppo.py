"""The torch half of the on-policy synthesis loop (`models/arith/ppo-loop.sh` runs it): PPO with GAE
(λ = γ = 1, no KL penalty, a value head), as the PaCoRe paper trains synthesis, on episodes that
pacore collected with the ONNX backend (`models/arith/ppo-collect.ts`: token ids, sampled-token
log-probs, the grader's reward).

  ppo.py init   --model DIR --out RUN/policy.pt       the policy from an exported model directory
  ppo.py update --checkpoint RUN/policy.pt --episodes E.jsonl --out RUN/policy.pt [--lr …]
  ppo.py export --checkpoint RUN/policy.pt --base DIR --out DIR2   a model directory like DIR

The behaviour policy is the exported copy of the checkpoint, so its log-probs are the "old"
log-probs of the clipped ratio; `update` checks that torch agrees with them before it trusts them.
With one reward at the last token and λ = γ = 1, GAE's advantage at every response token is
R − V(s_t) and the value target is R. The value head reads the trunk's last hidden state through a
stop-gradient: the policy's trunk moves by the policy loss only.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import tiny  # noqa: E402

torch.set_num_threads(2)


# ----------------------------------------------------------------------------- weights


def config_of(model_dir: Path) -> tiny.Config:
    c = json.loads((model_dir / "config.json").read_text())
    return tiny.Config(
        c["vocab_size"], c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"],
        c["num_attention_heads"], c["num_key_value_heads"], c["max_position_embeddings"],
    )


def load_onnx_weights(model: tiny.TinyDecoder, onnx_path: Path) -> None:
    """Fills the decoder from its own export: named initializers by name, and each MatMul weight
    (torch.onnx stores `x @ W.T` as an anonymous transposed initializer) by the node that reads
    it, `/q_proj/MatMul` being layer 0's and `/q_proj_3/MatMul` layer 3's."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(onnx_path)).graph
    arrays = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    state = {}
    for node in graph.node:
        if node.op_type != "MatMul":
            continue
        weight = next((name for name in node.input if name in arrays), None)
        if weight is None:
            continue
        module = node.name.split("/")[1]
        base, _, layer = module.rpartition("_")
        if module == "lm_head":
            key = "lm_head.weight"
        elif layer.isdigit():
            key = f"layers.{layer}.{base}.weight"
        else:
            key = f"layers.0.{module}.weight"
        state[key] = torch.from_numpy(arrays[weight].T.copy())
    for name, array in arrays.items():
        if not name.startswith("onnx::"):
            state[name] = torch.from_numpy(array.copy())
    missing = set(model.state_dict()) - set(state)
    if missing:
        raise SystemExit(f"{onnx_path}: no weights for {sorted(missing)}")
    model.load_state_dict(state)


def constructor_args(c: tiny.Config) -> dict:
    keys = ["vocab_size", "hidden", "intermediate", "layers", "heads", "kv_heads", "max_positions"]
    return {key: getattr(c, key) for key in keys}


class ValueHead(nn.Module):
    def __init__(self, hidden: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, 1))

    def forward(self, h):
        return self.net(h).squeeze(-1)


def trunk(model: tiny.TinyDecoder, input_ids: torch.Tensor, past=None):
    """Final hidden states (after the norm) of `input_ids` after an optional cache, and the
    cache; a full causal forward when `past` is None."""
    c = model.c
    batch, seq = input_ids.shape
    past_len = 0 if past is None else past[0].shape[2]
    total = past_len + seq
    if past is None:
        past = [torch.zeros(batch, c.kv_heads, 0, c.head_dim) for _ in range(2 * c.layers)]
    mask = torch.ones(batch, total, dtype=torch.long)
    positions = torch.arange(past_len, total)[None].expand(batch, seq)
    # The exported graph's forward, up to the norm: lm_head swapped for identity.
    head = model.lm_head
    model.lm_head = nn.Identity()
    try:
        hidden, *presents = model(input_ids, mask, positions, *past)
    finally:
        model.lm_head = head
    return hidden, presents


# ----------------------------------------------------------------------------- episodes


def render(messages: list[dict]) -> str:
    """The embedded model's chat template (tiny.CHAT_TEMPLATE) with the generation prompt."""
    text = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
    return text + "<|im_start|>assistant\n"


def load_groups(path: Path, bpe) -> list[dict]:
    """Episodes grouped by prompt: {prompt ids, [(response ids, old log-probs, reward)]}."""
    groups: dict[str, dict] = {}
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        e = json.loads(line)
        if not e.get("tokenIds") or e.get("logprobs") is None or e.get("reward") is None:
            raise SystemExit(f"{path}: an episode without token ids, log-probs or reward: collect with --logprobs")
        text = render(e["prompt"])
        group = groups.setdefault(text, {"prompt": bpe.encode(text), "samples": []})
        group["samples"].append((e["tokenIds"], e["logprobs"], float(e["reward"]["score"])))
    return list(groups.values())


# ----------------------------------------------------------------------------- update


def group_forward(model, value_head, group):
    """One prompt, prefilled once, and its G responses continued from its cache: the log-prob
    of each response token, the values before each, per sample."""
    prompt = torch.tensor(group["prompt"])[None]
    hidden, presents = trunk(model, prompt)
    last_prompt_hidden = hidden[:, -1]
    samples = group["samples"]
    width = max(len(ids) for ids, _, _ in samples)
    g = len(samples)
    # Responses padded on the right with their last token; the padding is masked out of every loss.
    ids = torch.zeros(g, width, dtype=torch.long)
    mask = torch.zeros(g, width)
    for row, (tokens, _, _) in enumerate(samples):
        ids[row, : len(tokens)] = torch.tensor(tokens)
        ids[row, len(tokens):] = tokens[-1]
        mask[row, : len(tokens)] = 1
    past = [p.expand(g, *p.shape[1:]) for p in presents]
    hidden_r, _ = trunk(model, ids, past)
    # The state before token t: the prompt's last position for t = 0, else the response's t-1.
    states = torch.cat([last_prompt_hidden.expand(g, 1, -1), hidden_r[:, :-1]], dim=1)
    logits = model.lm_head(states)
    logp = torch.log_softmax(logits, dim=-1).gather(-1, ids[..., None]).squeeze(-1)
    values = value_head(states.detach())
    return logp, values, mask


def update(args) -> None:
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    ckpt = torch.load(args.checkpoint)
    c = tiny.Config(**ckpt["config"])
    model = tiny.TinyDecoder(c)
    model.load_state_dict(ckpt["model"])
    value_head = ValueHead(c.hidden)
    value_head.load_state_dict(ckpt["value"])
    bpe = tiny.Bpe([tuple(pair) for pair in ckpt["merges"]])
    groups = load_groups(Path(args.episodes), bpe)
    rewards = [r for group in groups for _, _, r in group["samples"]]
    stats = {"episodes": len(rewards), "prompts": len(groups), "mean_reward": sum(rewards) / len(rewards)}
    if not args.keep_uniform:
        # DAPO's dynamic sampling: a prompt whose G responses all earned the same reward says
        # nothing about which response is better; dropping it leaves the update to the prompts
        # where the policy can still move (and cuts the update's time by the share dropped).
        groups = [group for group in groups if len({r for _, _, r in group["samples"]}) > 1]
    stats["prompts_trained"] = len(groups)
    policy_opt = torch.optim.Adam(model.parameters(), lr=args.lr, betas=(0.9, 0.95))
    value_opt = torch.optim.Adam(value_head.parameters(), lr=args.value_lr)
    if "policy_opt" in ckpt and not args.reset_optimizer:
        policy_opt.load_state_dict(ckpt["policy_opt"])
        value_opt.load_state_dict(ckpt["value_opt"])
        for group in policy_opt.param_groups:
            group["lr"] = args.lr
    started = time.time()
    drift, drift_tokens, clipped, tokens, policy_total, value_total = 0.0, 0, 0.0, 0, 0.0, 0.0
    for epoch in range(args.epochs):
        order = list(range(len(groups)))
        rng.shuffle(order)
        for start in range(0, len(order), args.prompts_per_step):
            batch = [groups[i] for i in order[start : start + args.prompts_per_step]]
            model.train()
            policy_opt.zero_grad()
            value_opt.zero_grad()
            batch_tokens = sum(len(ids) for group in batch for ids, _, _ in group["samples"])
            for group in batch:
                logp, values, mask = group_forward(model, value_head, group)
                old = torch.zeros_like(logp)
                reward = torch.zeros(len(group["samples"]))
                for row, (ids, lp, r) in enumerate(group["samples"]):
                    old[row, : len(ids)] = torch.tensor(lp)
                    reward[row] = r
                # GAE with λ = γ = 1 and the only reward at the end: A_t = R − V(s_t).
                advantage = (reward[:, None] - values.detach()) * mask
                ratio = torch.exp(logp - old) * mask
                surrogate = torch.min(ratio * advantage, ratio.clamp(1 - args.clip, 1 + args.clip) * advantage)
                # Token-level mean over the batch (every token weighs the same, as in DAPO and PaCoRe).
                policy_loss = -(surrogate * mask).sum() / batch_tokens
                value_loss = (((values - reward[:, None]) ** 2) * mask).sum() / batch_tokens
                (policy_loss + value_loss).backward()
                with torch.no_grad():
                    if epoch == 0 and start == 0:
                        # Before the first step the policy is the behaviour policy.
                        drift += ((logp - old).abs() * mask).sum().item()
                        drift_tokens += int(mask.sum().item())
                    clipped += (((ratio - 1).abs() > args.clip).float() * mask).sum().item()
                    tokens += int(mask.sum().item())
                    policy_total += policy_loss.item()
                    value_total += value_loss.item()
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.max_grad_norm)
            policy_opt.step()
            value_opt.step()
            if epoch == 0 and start == 0:
                stats["old_logprob_drift"] = drift / max(1, drift_tokens)
                if stats["old_logprob_drift"] > 1e-3:
                    raise SystemExit(
                        f"torch and the ONNX sampler disagree on the episodes' log-probs (mean |Δ| "
                        f"{stats['old_logprob_drift']:.2e} per token): were they collected with this checkpoint's export?"
                    )
    stats.update(
        clipped_fraction=clipped / max(1, tokens),
        policy_loss=policy_total,
        value_loss=value_total,
        seconds=round(time.time() - started, 1),
    )
    torch.save(
        {**ckpt, "model": model.state_dict(), "value": value_head.state_dict(),
         "policy_opt": policy_opt.state_dict(), "value_opt": value_opt.state_dict(),
         "updates": ckpt.get("updates", 0) + 1},
        args.out,
    )
    print(json.dumps(stats))


# ----------------------------------------------------------------------------- init, export


def init(args) -> None:
    model_dir = Path(args.model)
    c = config_of(model_dir)
    model = tiny.TinyDecoder(c)
    load_onnx_weights(model, model_dir / "onnx" / "model.onnx")
    tokenizer = json.loads((model_dir / "tokenizer.json").read_text())
    value_head = ValueHead(c.hidden)
    # Starts at the mean reward of nothing seen: 0.5, the middle of the 0/1 rewards.
    nn.init.zeros_(value_head.net[2].weight)
    nn.init.constant_(value_head.net[2].bias, 0.5)
    torch.save(
        {"config": constructor_args(c), "model": model.state_dict(),
         "value": value_head.state_dict(), "merges": tokenizer["model"]["merges"], "source": str(model_dir)},
        args.out,
    )
    print(json.dumps({"parameters": tiny.parameter_count(model), "out": args.out}))


def export(args) -> None:
    ckpt = torch.load(args.checkpoint)
    c = tiny.Config(**ckpt["config"])
    model = tiny.TinyDecoder(c)
    model.load_state_dict(ckpt["model"])
    base, out = Path(args.base), Path(args.out)
    (out / "onnx").mkdir(parents=True, exist_ok=True)
    for name in ["tokenizer.json", "tokenizer_config.json", "generation_config.json", "synthesis-example.json"]:
        shutil.copyfile(base / name, out / name)
    # The ONNX backend's exact-match test reads it, should this model become the embedded one.
    from train import greedy_reference

    bpe = tiny.Bpe([tuple(pair) for pair in ckpt["merges"]])
    tiny.write_json(out / "greedy-reference.json", greedy_reference(model, bpe))
    config = json.loads((base / "config.json").read_text())
    config["pacore"] = {
        **config.get("pacore", {}),
        "description": f"{config.get('pacore', {}).get('description', '')}; then PPO on synthesis "
        f"(models/arith/ppo.py), {ckpt.get('updates', 0)} updates",
        "ppoUpdates": ckpt.get("updates", 0),
    }
    tiny.write_json(out / "config.json", config)
    tiny.export_onnx(model, str(out / "onnx" / "model.onnx"))
    print(json.dumps({"out": str(out), "updates": ckpt.get("updates", 0)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("init")
    p.add_argument("--model", required=True)
    p.add_argument("--out", required=True)
    p = sub.add_parser("update")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--episodes", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--lr", type=float, default=2e-5)
    p.add_argument("--value-lr", type=float, default=1e-3)
    p.add_argument("--clip", type=float, default=0.2)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--prompts-per-step", type=int, default=16)
    p.add_argument("--max-grad-norm", type=float, default=1.0)
    p.add_argument("--reset-optimizer", action="store_true")
    p.add_argument("--keep-uniform", action="store_true", help="train on prompts whose responses all scored the same too")
    p.add_argument("--seed", type=int, default=0)
    p = sub.add_parser("export")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--base", required=True)
    p.add_argument("--out", required=True)
    args = parser.parse_args()
    {"init": init, "update": update, "export": export}[args.command](args)


if __name__ == "__main__":
    main()
