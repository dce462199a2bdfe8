"""pacore-tiny's tokenizer settings over the shared tiny decoder (models/common/tinylm.py).

Digits are split one per token, so that the model can learn arithmetic; everything else (the
byte-level BPE, ChatML and `<think>` tokens, the Llama/Qwen-style decoder, the sampler and the
onnx-community export) is the code the ONNX backend's test fixture uses too.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "common"))
from tinylm import (  # noqa: E402,F401  (re-exported: train.py, eval.py and analyze.py use tiny.*)
    CHAT_TEMPLATE,
    SPECIAL_TOKENS,
    Config,
    TinyDecoder,
    chat_prompt,
    export_onnx,
    llama_config,
    parameter_count,
    sample,
    tokenizer_config,
    write_json,
)
import tinylm  # noqa: E402

# ASCII classes only (Python `re` and the JavaScript translation agree); one digit per piece.
SPLIT_PATTERN = r"'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z]+| ?[0-9]| ?[^\sA-Za-z0-9]+|\s+(?!\S)|\s+"


class Bpe(tinylm.Bpe):
    """pacore-tiny's tokenizer: the shared byte-level BPE with the digit-per-token split."""

    def __init__(self, merges: list[tuple[str, str]]):
        super().__init__(merges, SPLIT_PATTERN)


def train_bpe(texts: list[str], merge_count: int) -> list[tuple[str, str]]:
    return tinylm.train_bpe(texts, merge_count, SPLIT_PATTERN)
