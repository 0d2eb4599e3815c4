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
# A goal sized for the embedded 135M model on 2 CPU cores (README, "The quick start's goal"): its own
# test split measured 16.7 % after one epoch on an Intel Xeon (fp32, 10 % as Q8_0), so the first
# iteration lands in the iterate band and the playbook changes one thing; the second reached 20 %. It is judged on the suites it can hold: BFCL
# irrelevance is left out because the tuned 135M model calls a tool on every irrelevance item
# (README, "Third-party suites"); seed 004's 98 % goal needs a larger base model.
GOAL=${GOAL:-"Make SmolLM2 better at calling coding tools: at least 25% success (abort below 10%), under 5 s per answer, judged on BFCL simple_python, multiple and HumanEval, in 60 minutes"}
RUN=${RUN:-quickstart-$(date +%Y%m%d-%H%M%S)}
$TP run "$GOAL" --run-id "$RUN"
ADAPTER=$(.venv/bin/python -c "import json,sys; print(json.load(open(sys.argv[1]))['adapter'] or '')" "runs/$RUN/decision.json")
if [ -n "$ADAPTER" ]; then
  # latency was measured by the run; the base model's BFCL report is reused by later demos on this machine
  $TP eval --suite bfcl:simple_python --adapter "$ADAPTER" --compare-base --limit 50 --latency-probe 0 \
    --out "runs/$RUN/artifacts/eval_bfcl.json"
fi
echo "done: runs/$RUN (journal.md, decision.json, artifacts/); review with: $TP show $RUN"
