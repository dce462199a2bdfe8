"""A tiny Llama/Qwen-style decoder, its byte-level BPE tokenizer, a batched sampler and the
export in the onnx-community layout: the code shared by pacore-tiny (models/arith/) and by the
ONNX backend's test fixture (models/fixtures/).

The tokenizer is a byte-level BPE in the Hugging Face `tokenizer.json` format (the form
`@huggingface/tokenizers` loads) with ChatML special tokens plus `<think>`/`</think>`; each model
brings its own pre-tokenizer split. The decoder is Llama/Qwen-style (RMSNorm, RoPE, grouped KV
heads, SwiGLU); its `forward` is the onnx-community KV-cache graph (`input_ids, attention_mask,
position_ids, past_key_values.{i}.key/value` → `logits, present.{i}.key/value`).
"""

from __future__ import annotations

import json
import math
import re
from functools import lru_cache
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

SPECIAL_TOKENS = [
    # (content, special): `<think>` tags are plain added tokens as in Qwen3, so decoding with
    # skip_special_tokens keeps them in the text and compaction can find `</think>`.
    ("<|endoftext|>", True),
    ("<|im_start|>", True),
    ("<|im_end|>", True),
    ("<think>", False),
    ("</think>", False),
]

CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}"
    "{{- '<|im_start|>assistant\\n' }}"
    "{%- if enable_thinking is defined and enable_thinking is false %}"
    "{{- '<think>\\n\\n</think>\\n\\n' }}"
    "{%- endif %}"
    "{%- endif %}"
)


def chat_prompt(user: str) -> str:
    """The ChatML prompt of one user turn with the generation prompt (what CHAT_TEMPLATE renders)."""
    return f"<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n"


# ----------------------------------------------------------------------------- tokenizer


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable character map (what ByteLevel uses)."""
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("\xa1"), ord("\xac") + 1))
        + list(range(ord("\xae"), ord("\xff") + 1))
    )
    chars = printable[:]
    n = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + n)
            n += 1
    return dict(zip(printable, (chr(c) for c in chars)))


BYTE_CHAR = bytes_to_unicode()
CHAR_BYTE = {c: b for b, c in BYTE_CHAR.items()}


def pre_tokenize(text: str, split_pattern: str) -> list[str]:
    """The pre-tokenizer: `split_pattern` pieces, each mapped byte by byte to BYTE_CHAR."""
    pieces = re.findall(split_pattern, text)
    assert "".join(pieces) == text, "split pattern must cover the text"
    return ["".join(BYTE_CHAR[b] for b in piece.encode("utf-8")) for piece in pieces]


def train_bpe(texts: list[str], merge_count: int, split_pattern: str) -> list[tuple[str, str]]:
    """`merge_count` merges learned on `texts` (special tokens excluded); the most frequent pair
    first, ties broken by the pair itself, so the result is deterministic."""
    words: dict[tuple[str, ...], int] = {}
    special_re = re.compile("|".join(re.escape(t) for t, _ in SPECIAL_TOKENS))
    for text in texts:
        for segment in special_re.split(text):
            for piece in pre_tokenize(segment, split_pattern):
                key = tuple(piece)
                words[key] = words.get(key, 0) + 1
    merges: list[tuple[str, str]] = []
    for _ in range(merge_count):
        pairs: dict[tuple[str, str], int] = {}
        for word, count in words.items():
            for a, b in zip(word, word[1:]):
                pairs[(a, b)] = pairs.get((a, b), 0) + count
        if not pairs:
            break
        best = max(pairs.items(), key=lambda item: (item[1], item[0]))[0]
        merges.append(best)
        merged: dict[tuple[str, ...], int] = {}
        for word, count in words.items():
            out: list[str] = []
            i = 0
            while i < len(word):
                if i + 1 < len(word) and (word[i], word[i + 1]) == best:
                    out.append(word[i] + word[i + 1])
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            merged[tuple(out)] = merged.get(tuple(out), 0) + count
        words = merged
    return merges


class Bpe:
    """Byte-level BPE encoder/decoder (the reference the JS tokenizer is checked against)."""

    def __init__(self, merges: list[tuple[str, str]], split_pattern: str):
        self.split_pattern = split_pattern
        vocab: dict[str, int] = {BYTE_CHAR[b]: b for b in range(256)}
        for a, b in merges:
            vocab.setdefault(a + b, len(vocab))
        self.base_size = len(vocab)
        for content, _ in SPECIAL_TOKENS:
            vocab[content] = len(vocab)
        self.vocab = vocab
        self.merges = merges
        self.ranks = {pair: i for i, pair in enumerate(merges)}
        self.special = {content: vocab[content] for content, _ in SPECIAL_TOKENS}
        self.skip = {vocab[content] for content, special in SPECIAL_TOKENS if special}
        self.special_re = re.compile("(" + "|".join(re.escape(t) for t, _ in SPECIAL_TOKENS) + ")")
        self.id_to_token = {i: t for t, i in vocab.items()}
        self.piece_ids = lru_cache(maxsize=None)(self._piece_ids)

    def __len__(self) -> int:
        return len(self.vocab)

    def _piece_ids(self, word: str) -> tuple[int, ...]:
        parts = list(word)
        while len(parts) > 1:
            ranked = [(self.ranks.get((a, b), math.inf), i) for i, (a, b) in enumerate(zip(parts, parts[1:]))]
            rank, i = min(ranked)
            if rank == math.inf:
                break
            parts = parts[:i] + [parts[i] + parts[i + 1]] + parts[i + 2 :]
        return tuple(self.vocab[p] for p in parts)

    def encode(self, text: str) -> list[int]:
        ids: list[int] = []
        for segment in self.special_re.split(text):
            if not segment:
                continue
            if segment in self.special:
                ids.append(self.special[segment])
                continue
            for piece in pre_tokenize(segment, self.split_pattern):
                ids.extend(self.piece_ids(piece))
        return ids

    def decode(self, ids, skip_special: bool = True) -> str:
        out = bytearray()
        for i in ids:
            i = int(i)
            token = self.id_to_token[i]
            if token in self.special:
                if skip_special and i in self.skip:
                    continue
                out.extend(token.encode("utf-8"))
            else:
                out.extend(CHAR_BYTE[c] for c in token)
        return out.decode("utf-8", errors="replace")

    def tokenizer_json(self) -> dict:
        added = [
            {
                "id": self.vocab[content],
                "content": content,
                "single_word": False,
                "lstrip": False,
                "rstrip": False,
                "normalized": False,
                "special": special,
            }
            for content, special in SPECIAL_TOKENS
        ]
        byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}
        return {
            "version": "1.0",
            "truncation": None,
            "padding": None,
            "added_tokens": added,
            "normalizer": None,
            "pre_tokenizer": {
                "type": "Sequence",
                "pretokenizers": [
                    {"type": "Split", "pattern": {"Regex": self.split_pattern}, "behavior": "Isolated", "invert": False},
                    byte_level,
                ],
            },
            "post_processor": byte_level,
            "decoder": byte_level,
            "model": {
                "type": "BPE",
                "dropout": None,
                "unk_token": None,
                "continuing_subword_prefix": "",
                "end_of_word_suffix": "",
                "fuse_unk": False,
                "byte_fallback": False,
                "ignore_merges": False,
                "vocab": {t: i for t, i in self.vocab.items() if i < self.base_size},
                "merges": [[a, b] for a, b in self.merges],
            },
        }


# ----------------------------------------------------------------------------- model


class Config:
    def __init__(self, vocab_size, hidden=192, intermediate=512, layers=4, heads=6, kv_heads=2, max_positions=1024):
        self.vocab_size = vocab_size
        self.hidden = hidden
        self.intermediate = intermediate
        self.layers = layers
        self.heads = heads
        self.kv_heads = kv_heads
        self.head_dim = hidden // heads
        self.max_positions = max_positions
        self.rope_theta = 10000.0
        self.rms_eps = 1e-6

    def as_dict(self):
        return dict(self.__dict__)


class RmsNorm(nn.Module):
    def __init__(self, size: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))
        self.eps = eps

    def forward(self, x):
        variance = x.pow(2).mean(-1, keepdim=True)
        return self.weight * (x * torch.rsqrt(variance + self.eps))


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class Layer(nn.Module):
    def __init__(self, c: Config):
        super().__init__()
        self.input_layernorm = RmsNorm(c.hidden, c.rms_eps)
        self.q_proj = nn.Linear(c.hidden, c.heads * c.head_dim, bias=False)
        self.k_proj = nn.Linear(c.hidden, c.kv_heads * c.head_dim, bias=False)
        self.v_proj = nn.Linear(c.hidden, c.kv_heads * c.head_dim, bias=False)
        self.o_proj = nn.Linear(c.heads * c.head_dim, c.hidden, bias=False)
        self.post_attention_layernorm = RmsNorm(c.hidden, c.rms_eps)
        self.gate_proj = nn.Linear(c.hidden, c.intermediate, bias=False)
        self.up_proj = nn.Linear(c.hidden, c.intermediate, bias=False)
        self.down_proj = nn.Linear(c.intermediate, c.hidden, bias=False)


class TinyDecoder(nn.Module):
    def __init__(self, c: Config):
        super().__init__()
        self.c = c
        self.embed_tokens = nn.Embedding(c.vocab_size, c.hidden)
        self.layers = nn.ModuleList([Layer(c) for _ in range(c.layers)])
        self.norm = RmsNorm(c.hidden, c.rms_eps)
        self.lm_head = nn.Linear(c.hidden, c.vocab_size, bias=False)
        inv_freq = 1.0 / (c.rope_theta ** (torch.arange(0, c.head_dim, 2).float() / c.head_dim))
        self.register_buffer("inv_freq", inv_freq, persistent=False)
        for name, p in self.named_parameters():
            if p.dim() == 2:
                nn.init.normal_(p, std=0.02)
                if name.endswith("o_proj.weight") or name.endswith("down_proj.weight"):
                    p.data.mul_(1 / math.sqrt(2 * c.layers))

    def _rope(self, positions):
        freqs = positions[..., None].float() * self.inv_freq
        emb = torch.cat((freqs, freqs), dim=-1)
        return emb.cos()[:, None], emb.sin()[:, None]

    def _mlp(self, layer, x):
        return layer.down_proj(F.silu(layer.gate_proj(x)) * layer.up_proj(x))

    def train_logits(self, input_ids):
        """Full causal forward over right-padded rows (padding comes after the tokens)."""
        c = self.c
        batch, n = input_ids.shape
        x = self.embed_tokens(input_ids)
        cos, sin = self._rope(torch.arange(n)[None])
        causal = torch.ones(n, n, dtype=torch.bool).triu(1)
        group = c.heads // c.kv_heads
        for layer in self.layers:
            h = layer.input_layernorm(x)
            q = layer.q_proj(h).view(batch, n, c.heads, c.head_dim).transpose(1, 2)
            k = layer.k_proj(h).view(batch, n, c.kv_heads, c.head_dim).transpose(1, 2)
            v = layer.v_proj(h).view(batch, n, c.kv_heads, c.head_dim).transpose(1, 2)
            q = q * cos + rotate_half(q) * sin
            k = k * cos + rotate_half(k) * sin
            k = k[:, :, None].expand(batch, c.kv_heads, group, n, c.head_dim).reshape(batch, c.heads, n, c.head_dim)
            v = v[:, :, None].expand(batch, c.kv_heads, group, n, c.head_dim).reshape(batch, c.heads, n, c.head_dim)
            scores = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(c.head_dim))
            scores = scores.masked_fill(causal, float("-inf"))
            attn = torch.softmax(scores, dim=-1) @ v
            x = x + layer.o_proj(attn.transpose(1, 2).reshape(batch, n, c.heads * c.head_dim))
            x = x + self._mlp(layer, layer.post_attention_layernorm(x))
        return self.lm_head(self.norm(x))

    def forward(self, input_ids, attention_mask, position_ids, *past):
        """The exported KV-cache graph (left padding through attention_mask and position_ids)."""
        c = self.c
        batch, seq = input_ids.shape
        total = attention_mask.shape[1]
        x = self.embed_tokens(input_ids)
        cos, sin = self._rope(position_ids)
        query_pos = torch.arange(seq) + (total - seq)
        key_pos = torch.arange(total)
        allowed = (key_pos[None, :] <= query_pos[:, None])[None, None] & (attention_mask[:, None, None, :] > 0)
        minimum = torch.finfo(torch.float32).min
        presents = []
        group = c.heads // c.kv_heads
        for i, layer in enumerate(self.layers):
            h = layer.input_layernorm(x)
            q = layer.q_proj(h).view(batch, seq, c.heads, c.head_dim).transpose(1, 2)
            k = layer.k_proj(h).view(batch, seq, c.kv_heads, c.head_dim).transpose(1, 2)
            v = layer.v_proj(h).view(batch, seq, c.kv_heads, c.head_dim).transpose(1, 2)
            q = q * cos + rotate_half(q) * sin
            k = k * cos + rotate_half(k) * sin
            k = torch.cat([past[2 * i], k], dim=2)
            v = torch.cat([past[2 * i + 1], v], dim=2)
            presents += [k, v]
            # Grouped-query attention without copying the cache: the `group` query heads that share
            # a KV head are stacked along the query axis, so each step multiplies against the
            # cache as it is instead of expanding it to every query head (the same numbers;
            # decoding is bound by moving the cache around, not by arithmetic).
            q = q.reshape(batch, c.kv_heads, group * seq, c.head_dim)
            scores = (q @ k.transpose(-1, -2)) / math.sqrt(c.head_dim)
            scores = scores.view(batch, c.kv_heads, group, seq, total).masked_fill(~allowed[:, :, None], minimum)
            attn = torch.softmax(scores.view(batch, c.kv_heads, group * seq, total), dim=-1) @ v
            x = x + layer.o_proj(attn.view(batch, c.heads, seq, c.head_dim).transpose(1, 2).reshape(batch, seq, c.heads * c.head_dim))
            x = x + self._mlp(layer, layer.post_attention_layernorm(x))
        return (self.lm_head(self.norm(x)), *presents)


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# ----------------------------------------------------------------------------- sampling


@torch.no_grad()
def sample(model: TinyDecoder, prompts: list[list[int]], eos_ids: set[int], max_new: int, temperature: float,
           generator: torch.Generator, batch_size: int = 256) -> list[list[int]]:
    """Samples one completion per prompt (temperature 1 = the model's distribution; 0 = greedy),
    with left padding and the KV cache; returns the generated ids (eos included)."""
    model.eval()
    c = model.c
    out: list[list[int]] = [None] * len(prompts)  # type: ignore[list-item]
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    eos = torch.tensor(sorted(eos_ids))
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        batch = len(rows)
        width = max(len(prompts[i]) for i in rows)
        ids = torch.zeros(batch, width, dtype=torch.long)
        mask = torch.zeros(batch, width, dtype=torch.long)
        for r, i in enumerate(rows):
            p = prompts[i]
            ids[r, width - len(p) :] = torch.tensor(p)
            mask[r, width - len(p) :] = 1
        positions = (mask.cumsum(1) - 1).clamp(min=0)
        past = [torch.zeros(batch, c.kv_heads, 0, c.head_dim) for _ in range(2 * c.layers)]
        done = torch.zeros(batch, dtype=torch.bool)
        generated = []
        next_pos = positions[:, -1] + 1
        for _ in range(max_new):
            logits, *past = model(ids, mask, positions, *past)
            logits = logits[:, -1]
            if temperature == 0:
                token = logits.argmax(-1)
            else:
                probs = torch.softmax(logits / temperature, dim=-1)
                token = torch.multinomial(probs, 1, generator=generator)[:, 0]
            token = torch.where(done, torch.zeros_like(token), token)
            generated.append(token)
            done = done | torch.isin(token, eos)
            if bool(done.all()):
                break
            ids = token[:, None]
            mask = torch.cat([mask, torch.ones(batch, 1, dtype=torch.long)], dim=1)
            positions = next_pos[:, None]
            next_pos = next_pos + 1
        gen = torch.stack(generated, dim=1).tolist()
        for r, i in enumerate(rows):
            seq = []
            for t in gen[r]:
                seq.append(t)
                if t in eos_ids:
                    break
            out[i] = seq
    return out


# ----------------------------------------------------------------------------- export


def kv_cache_io(layers, logits_length="sequence_length"):
    """The onnx-community decoder's cache tensor names (past, present) and the dynamic axes of
    all its inputs and outputs; `logits_length` names the logits' second axis."""
    past_names, present_names = [], []
    for i in range(layers):
        past_names += [f"past_key_values.{i}.key", f"past_key_values.{i}.value"]
        present_names += [f"present.{i}.key", f"present.{i}.value"]
    dynamic = {
        "input_ids": {0: "batch_size", 1: "sequence_length"},
        "attention_mask": {0: "batch_size", 1: "total_sequence_length"},
        "position_ids": {0: "batch_size", 1: "sequence_length"},
        "logits": {0: "batch_size", 1: logits_length},
    }
    for name in past_names:
        dynamic[name] = {0: "batch_size", 2: "past_sequence_length"}
    for name in present_names:
        dynamic[name] = {0: "batch_size", 2: "total_sequence_length"}
    return past_names, present_names, dynamic


def export_onnx(model: TinyDecoder, path: str) -> None:
    c = model.c
    model.eval()
    batch, seq, past_len = 2, 3, 4
    inputs = (
        torch.randint(0, c.vocab_size, (batch, seq)),
        torch.ones(batch, past_len + seq, dtype=torch.long),
        torch.arange(past_len, past_len + seq)[None].repeat(batch, 1),
        *[torch.randn(batch, c.kv_heads, past_len, c.head_dim) for _ in range(2 * c.layers)],
    )
    past_names, present_names, dynamic = kv_cache_io(c.layers)
    with torch.no_grad():
        torch.onnx.export(
            model,
            inputs,
            path,
            input_names=["input_ids", "attention_mask", "position_ids", *past_names],
            output_names=["logits", *present_names],
            dynamic_axes=dynamic,
            opset_version=14,
            do_constant_folding=True,
        )


def llama_config(c: Config, eos_id: int, pad_id: int | None = None) -> dict:
    """config.json of a LlamaForCausalLM with this decoder's shape."""
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
    }
    if pad_id is not None:
        config["pad_token_id"] = pad_id
    config["torch_dtype"] = "float32"
    return config


def tokenizer_config(tokenizer_json: dict, max_positions: int) -> dict:
    """tokenizer_config.json: ChatML template, `<|im_end|>` ends a turn, `<|endoftext|>` pads."""
    return {
        "add_bos_token": False,
        "add_eos_token": False,
        "bos_token": None,
        "eos_token": "<|im_end|>",
        "pad_token": "<|endoftext|>",
        "model_max_length": max_positions,
        "clean_up_tokenization_spaces": False,
        "tokenizer_class": "PreTrainedTokenizerFast",
        "chat_template": CHAT_TEMPLATE,
        "added_tokens_decoder": {
            str(t["id"]): {k: v for k, v in t.items() if k != "id"} for t in tokenizer_json["added_tokens"]
        },
    }


def write_json(path: Path, data) -> None:
    """The layout's JSON style: indent 1, UTF-8 kept, a final newline."""
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
