#!/usr/bin/env bash
# The on-policy synthesis loop on the embedded model: collect synthesis episodes with pacore
# (ONNX backend, token ids, log-probs, the math reward), update with PPO (ppo.py), export, repeat.
# Resumable: a finished iteration (its policy-N.pt and model-N/) is skipped; an unfinished one
# collects again from scratch.
#
#   models/arith/ppo-loop.sh RUN_DIR [ITERATIONS] [PROMPTS_PER_ITERATION] [SAMPLES]
#
# Environment: PPO_LR (default 2e-5), PPO_EPOCHS (1), PPO_PROMPTS_PER_STEP (32), PYTHON
# (/usr/bin/python3: Debian's, with python3-torch and python3-onnx), BASE_MODEL
# (models/pacore-tiny), EVAL_PROMPTS (a pacore-train.trl.jsonl of held-out synthesis prompts:
# each iteration's model is scored on it, 16 samples per prompt, into RUN/eval-N.json).
set -euo pipefail
cd "$(dirname "$0")/../.."
RUN=${1:?usage: ppo-loop.sh RUN_DIR [ITERATIONS] [PROMPTS_PER_ITERATION] [SAMPLES]}
ITERATIONS=${2:-8}
PROMPTS=${3:-256}
SAMPLES=${4:-8}
PYTHON=${PYTHON:-/usr/bin/python3}
BASE_MODEL=${BASE_MODEL:-models/pacore-tiny}
# The embedded model is sampled as the CLI samples it (no --model: CPU, 16 rows per batch).
MODEL_FLAG=()
[ "$(realpath "$BASE_MODEL")" = "$(realpath models/pacore-tiny)" ] || MODEL_FLAG=(--model "$BASE_MODEL")
mkdir -p "$RUN"
log() { echo "[$(date -u +%H:%M:%S)] $*" | tee -a "$RUN/loop.log"; }

# Synthesis prompts: 400 training problems of level 5, 16 own samples each at temperature 1,
# kept where some but not all samples are right, two message sets of 4–16 per problem, in the
# template the model was trained on.
if [ ! -f "$RUN/data/pacore-train.trl.jsonl" ]; then
  log "rl build"
  node bin/pacore.js rl build --task arith --split train --difficulty 5 --limit 400 --samples 16 \
    --set-size-min 4 --set-size-max 16 --sets-per-problem 2 --band-min 0 --band-max 1 \
    --template default --temperature 1 --seed 2 "${MODEL_FLAG[@]}" --out "$RUN/data" --json \
    > "$RUN/rl-build.json"
fi
TOTAL=$(wc -l < "$RUN/data/pacore-train.trl.jsonl")
[ -f "$RUN/policy-0.pt" ] || "$PYTHON" models/arith/ppo.py init --model "$BASE_MODEL" --out "$RUN/policy-0.pt"
[ -e "$RUN/model-0" ] || ln -s "$(realpath "$BASE_MODEL")" "$RUN/model-0"

for ((i = 1; i <= ITERATIONS; i++)); do
  prev=$((i - 1))
  if [ -f "$RUN/policy-$i.pt" ] && [ -f "$RUN/model-$i/onnx/model.onnx" ]; then continue; fi
  # Each iteration takes the next PROMPTS prompts, cycling through the set.
  offset=$(((prev * PROMPTS) % TOTAL))
  rm -f "$RUN/episodes-$i.jsonl"
  log "iteration $i: collect $PROMPTS prompts from $offset, $SAMPLES samples each, on model-$prev"
  node --import tsx models/arith/ppo-collect.ts --model "$RUN/model-$prev" \
    --prompts "$RUN/data/pacore-train.trl.jsonl" --offset "$offset" --limit "$PROMPTS" \
    --samples "$SAMPLES" --seed "$i" --out "$RUN/episodes-$i.jsonl" | tee -a "$RUN/loop.log"
  log "iteration $i: update"
  "$PYTHON" models/arith/ppo.py update --checkpoint "$RUN/policy-$prev.pt" \
    --episodes "$RUN/episodes-$i.jsonl" --out "$RUN/policy-$i.pt.tmp" \
    --lr "${PPO_LR:-2e-5}" --epochs "${PPO_EPOCHS:-1}" \
    --prompts-per-step "${PPO_PROMPTS_PER_STEP:-32}" --keep-uniform --seed "$i" | tee -a "$RUN/loop.log"
  mv "$RUN/policy-$i.pt.tmp" "$RUN/policy-$i.pt"
  "$PYTHON" models/arith/ppo.py export --checkpoint "$RUN/policy-$i.pt" --base "$BASE_MODEL" \
    --out "$RUN/model-$i" > /dev/null
  if [ -n "${EVAL_PROMPTS:-}" ]; then
    node --import tsx models/arith/ppo-collect.ts --model "$RUN/model-$i" --prompts "$EVAL_PROMPTS" \
      --samples 16 --seed 100 > "$RUN/eval-$i.json"
    log "iteration $i: held-out synthesis $(cat "$RUN/eval-$i.json")"
  fi
  log "iteration $i: done"
done
