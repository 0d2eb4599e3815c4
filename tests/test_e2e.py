"""Slow end-to-end on the real SmolLM2-135M-Instruct: generate -> short LoRA run -> eval base vs tuned.
CI runs it (marked slow; ~10 min on 2 cores)."""

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def _tp(*args):
    p = subprocess.run([sys.executable, "-m", "tunepilot.cli", *args, "--json"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout)


def test_smollm2_short_lora_beats_base(tmp_path):
    data, out = tmp_path / "data", tmp_path / "train"
    card = _tp("data", "generate", "--out", str(data), "--n", "300", "--seed", "0")
    assert card["splits"]["test"] == 30
    # 30 steps (about 0.6 epoch): the default mix's parallel, no-call and code items need more than
    # the 12 steps a single-call mix did before the tuned model beats the base on its test split
    result = _tp("train", "--data", str(data), "--out", str(out), "--max-steps", "30", "--eval-steps", "30")
    assert result["steps"] >= 15 and result["eval_loss"] < 1.0
    # a tool call is short: 96 new tokens decide every item; the probes are covered by test_evaluate
    report = _tp("eval", "--data", str(data), "--adapter", str(out / "adapter"), "--compare-base", "--limit", "20",
                 "--max-new-tokens", "96", "--latency-probe", "0", "--no-general-probe")
    base, tuned = report["base"], report  # the tuned model's report, the base's beside it
    assert tuned["n"] == base["n"] == 20
    # What 30 steps reliably buy is calls: success over all 20 items also counts the no-call items, which
    # the base (it never calls) gets right by default while the briefly tuned model over-calls (the
    # irrelevance weakness in the README). On 2026-12-03, Intel Xeon AVX-512 without bf16, fp32: success
    # 10 % -> 5 % (one item; the previous training text gave 10 % -> 10 %), calls 0 % -> 23.5 % (17.6 %),
    # val loss 1.37 -> 0.51. On an AMD EPYC with native bf16 success rose (10 % -> 40 % after one epoch).
    assert tuned["tool_call_accuracy"] >= base["tool_call_accuracy"] + 0.15, (base["failures"], tuned["failures"])
    assert tuned["tag_wellformed_rate"] >= 0.9
    assert tuned["val_loss"] < 0.7 * base["val_loss"]
