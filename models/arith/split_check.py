#!/usr/bin/python3
"""Writes split-check.json: what the Python mirror of the `arith` generator draws, so that
test/tasks/arith.test.ts can check that src/tasks/arith.ts draws the same problems, steps and
split flags. Run: /usr/bin/python3 models/arith/split_check.py (a second)."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import arith  # noqa: E402

cases = []
for level in sorted(arith.LEVELS):
    for split in ("all", "heldout", "train"):
        problems = arith.generate(7, 12, split, level)
        cases.append(
            {
                "seed": 7,
                "difficulty": level,
                "split": split,
                "problems": [
                    {
                        "id": p["id"],
                        "expression": p["expression"],
                        "answer": p["answer"],
                        "heldOut": p["split"] == "heldout",
                        "fnv1a32": arith.fnv1a32(p["expression"]),
                        "steps": arith.steps_of(p["expression"])[0],
                    }
                    for p in problems
                ],
            }
        )
random = arith.create_random(arith.hash_seed("arith", 1, 4, 0))
data = {
    "description": "Written by models/arith/split_check.py from the Python mirror of the arith generator",
    "hashSeed": [{"parts": ["arith", 1, 4, 0], "value": arith.hash_seed("arith", 1, 4, 0)}],
    "random": [random() for _ in range(5)],
    "cases": cases,
}
out = Path(__file__).resolve().parent / "split-check.json"
out.write_text(json.dumps(data, indent=1) + "\n")
print(f"wrote {out} ({sum(len(c['problems']) for c in cases)} problems)")
