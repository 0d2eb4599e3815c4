#!/usr/bin/env bash
# The main job: the autopilot on the default goal, end to end on the embedded SmolLM2-135M-Instruct
# (CPU is fine: about 15 min on 2 cores with native bf16, 25 without; `tunepilot doctor` says which you
# have). The goal in words -> typed request -> synthetic agentic data ->
# LoRA training -> evaluation base vs tuned -> deploy / iterate / abort, all in runs/<id>/journal.md;
# then the tuned adapter on BFCL simple_python, which the model never trained on.
# Run it with `make demo` (GOAL=... and RUN=... override the defaults).
set -euo pipefail
cd "$(dirname "$0")/.."
TP=.venv/bin/tunepilot
GOAL=${GOAL:-"Make SmolLM2 better at calling coding tools: at least 90% success, under 5 s per answer"}
RUN=${RUN:-quickstart-$(date +%Y%m%d-%H%M%S)}
$TP run "$GOAL" --run-id "$RUN"
ADAPTER=$(.venv/bin/python -c "import json,sys; print(json.load(open(sys.argv[1]))['adapter'] or '')" "runs/$RUN/decision.json")
if [ -n "$ADAPTER" ]; then
  # latency was measured by the run; the base model's BFCL report is reused by later demos on this machine
  $TP eval --suite bfcl:simple_python --adapter "$ADAPTER" --compare-base --limit 50 --latency-probe 0 \
    --out "runs/$RUN/artifacts/eval_bfcl.json"
fi
echo "done: runs/$RUN (journal.md, decision.json, artifacts/); review with: $TP show $RUN"
