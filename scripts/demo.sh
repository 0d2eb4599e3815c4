#!/usr/bin/env bash
# The main job: the autopilot on the default goal, end to end on the embedded SmolLM2-135M-Instruct
# (CPU is fine: the goal gives it 60 minutes, and it uses them on 2 cores; `tunepilot doctor` says what
# this machine has). The goal in words -> typed request -> synthetic agentic data ->
# LoRA training -> evaluation base vs tuned -> deploy / iterate / abort, all in runs/<id>/journal.md;
# then the tuned adapter on BFCL simple_python, which the model never trained on.
# Run it with `make demo` (GOAL=... and RUN=... override the defaults).
set -euo pipefail
cd "$(dirname "$0")/.."
TP=.venv/bin/tunepilot
# A goal sized for the embedded 135M model on 2 CPU cores (README, "The quick start's goal"): on an Intel
# Xeon (fp32) one epoch measured 16.7 % on its own test split, 10 % as Q8_0, and a second epoch 20 %; so
# the first iteration lands in the iterate band [5 %, 15 %) and the playbook changes one thing, and the
# second can reach the deploy bar. It is judged on the suites it can hold: BFCL irrelevance is left out
# because the tuned 135M model calls a tool on every irrelevance item (README, "Third-party suites");
# seed 004's 98 % goal needs a larger base model.
GOAL=${GOAL:-"Make SmolLM2 better at calling coding tools: at least 15% success (abort below 5%), under 5 s per answer, judged on BFCL simple_python, multiple and HumanEval, in 60 minutes"}
RUN=${RUN:-quickstart-$(date +%Y%m%d-%H%M%S)}
$TP run "$GOAL" --run-id "$RUN"
ADAPTER=$(.venv/bin/python -c "import json,sys; print(json.load(open(sys.argv[1]))['adapter'] or '')" "runs/$RUN/decision.json")
if [ -n "$ADAPTER" ]; then
  # latency was measured by the run; the base model's BFCL report is reused by later demos on this machine
  $TP eval --suite bfcl:simple_python --adapter "$ADAPTER" --compare-base --limit 50 --latency-probe 0 \
    --out "runs/$RUN/artifacts/eval_bfcl.json"
fi
echo "done: runs/$RUN (journal.md, decision.json, artifacts/); review with: $TP show $RUN"
