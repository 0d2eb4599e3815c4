#!/usr/bin/env bash
# The main job, end to end on the embedded SmolLM2-135M-Instruct (CPU is fine: ~15 min on 2 cores):
#   generate a synthetic agentic dataset -> LoRA-train -> evaluate base vs tuned
#   (our test split, then BFCL simple_python, which the model never trained on).
# Run it with `make demo`; outputs land in runs/quickstart/.
set -euo pipefail
cd "$(dirname "$0")/.."
TP=.venv/bin/tunepilot
OUT=${OUT:-runs/quickstart}
mkdir -p "$OUT"
$TP data generate --out "$OUT/data" --n 300 --seed 0
$TP train --data "$OUT/data" --out "$OUT/train" --epochs 1
$TP eval --data "$OUT/data" --adapter "$OUT/train/adapter" --compare-base --limit 30 --out "$OUT/eval_test.json"
$TP eval --suite bfcl:simple_python --adapter "$OUT/train/adapter" --compare-base --limit 50 --out "$OUT/eval_bfcl.json"
echo "done: $OUT (eval_test.json, eval_bfcl.json, train/metrics.jsonl)"
