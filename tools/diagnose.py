"""Diagnose a failed or unhealthy training run and name the next fix from the fallback ladder.

    from tunepilot.tools.diagnose import Failure, diagnose, next_fix
    d = diagnose(Failure(returncode=-9, log_tail=[...], metrics=[...]))
    d.fault, d.evidence            # "cpu_oom", "child killed by SIGKILL (exit -9) ..."
    fix = next_fix(d, spec.config, tried={"halve_batch": 1}, capabilities={"cuda"})  # a tunepilot.rules.Step

Faults: gpu_oom, cpu_oom (allocator error, or SIGKILL from the OOM killer / a memory cap), nan
(non-finite loss or grad norm; the train tool stops at the first one), rank_lost (one process of a
data-parallel group killed; the launcher stopped the rest), no_progress (loss flat),
overfitting (val loss up 2+ evals while train loss falls), forgetting (general probe fell after
training), data_error. Patterns and ladders are data: tools/faults.yaml.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel

from tunepilot.tools.signals import last_error, read_metrics, training_signals
from tunepilot.config import TrainingConfig
from tunepilot.rules import Step, next_step
from tunepilot.redact import clip

FAULTS = Path(__file__).with_name("faults.yaml")
Fault = Literal["gpu_oom", "cpu_oom", "nan", "diverged", "rank_lost", "no_progress", "overfitting", "forgetting", "data_error",
                "unknown", "healthy"]


class Failure(BaseModel):
    """What is known about a training attempt: how the child ended, its log tail, its metrics rows,
    and (optional) a general-capability probe score before and after training."""

    returncode: int | None = None  # None: the child finished
    log_tail: list[str] = []
    error: str | None = None
    metrics: list[dict] = []
    probe_before: float | None = None
    probe_after: float | None = None
    forgetting_drop: float = 0.05  # probe falls by more than this -> forgetting


class Diagnosis(BaseModel):
    fault: Fault
    evidence: str
    ladder: list[dict]  # the fault's ordered fixes (id, change, rationale)


@cache
def _faults() -> dict:
    return yaml.safe_load(FAULTS.read_text())


def diagnose(f: Failure) -> Diagnosis:
    faults = _faults()
    text = "\n".join(f.log_tail + ([f.error] if f.error else []))
    if f.returncode not in (None, 0):
        for p in faults["patterns"]:
            hit = next((m for m in p["match"] if re.search(m, text)), None)
            if hit:
                line = next((line for line in reversed(text.splitlines()) if re.search(hit, line)), hit)
                return _dx(p["fault"], f"log matches {hit!r}: {clip(line.strip(), 200)}")
        for p in faults["patterns"]:
            if f.returncode in p.get("returncodes", []):
                return _dx(p["fault"], f"child killed (exit {f.returncode}) with no error in its log: the OOM "
                                       "killer or a memory limit")
        last = last_error(text.splitlines())
        return _dx("unknown", f"exit {f.returncode}: {clip(last.strip(), 200)}")
    sig = training_signals(f.metrics)
    for signal, fault in (("nonfinite", "nan"), ("overfit", "overfitting"), ("no_progress", "no_progress")):
        if signal in sig:
            return _dx(fault, sig[signal])
    if f.probe_before is not None and f.probe_after is not None and f.probe_before - f.probe_after > f.forgetting_drop:
        return _dx("forgetting", f"general probe fell {f.probe_before:.3f} -> {f.probe_after:.3f}")
    return _dx("healthy", "finished; loss finite and falling")


def next_fix(d: Diagnosis, config: TrainingConfig, tried: dict[str, int], capabilities: set[str],
             skipped: list[str] | None = None, p95_tokens: int | None = None) -> Step | None:
    """The first ladder step not used up, runnable here, whose change still moves the config."""
    return next_step(d.ladder, config, used=tried, capabilities=capabilities, p95=p95_tokens, skipped=skipped)


def _dx(fault: str, evidence: str) -> Diagnosis:
    return Diagnosis(fault=fault, evidence=evidence, ladder=_faults()["ladders"].get(fault, []))


# --- the recovery loop: train -> diagnose -> fix -> retry --------------------------------------
def train_with_recovery(spec, progress=None, log=None, max_fixes: int = 6, p95_tokens: int | None = None):
    """Train; when the child fails, diagnose it, apply the next fix from the fault's ladder and try
    again (at most `max_fixes` times). `log(kind, **fields)` hears every diagnosis and fix.
    Returns (TrainResult, spec that worked, fixes applied). Raises TrainFailed with the diagnosis
    when the ladder runs out, so a NaN never ends as a saved model."""
    import importlib.util
    import shutil

    import torch

    from tunepilot.tools.train import TrainFailed, complete_checkpoints, train

    log = log or (lambda kind, **kw: None)
    tried: dict[str, int] = {}
    fixes: list[dict] = []
    out = Path(spec.out)
    while True:
        try:
            return train(spec, progress=progress), spec, fixes
        except TrainFailed as e:
            d = diagnose(Failure(returncode=e.returncode, log_tail=e.tail, metrics=read_metrics(out / "metrics.jsonl")))
            log("diagnosis", tool="diagnose", output={"fault": d.fault, "evidence": d.evidence},
                rationale=f"{d.fault}: {d.evidence}")
            caps = {"cuda"} if torch.cuda.is_available() else set()
            if caps and importlib.util.find_spec("deepspeed") is not None:
                caps.add("deepspeed")  # the last memory rung (ZeRO-3 offload) runs only here
            if complete_checkpoints(out):
                caps.add("checkpoint")
            skipped: list[str] = []
            fix = next_fix(d, spec.config, tried, caps, skipped, p95_tokens)
            if skipped:
                log("note", rationale="ladder steps skipped here: " + "; ".join(skipped))
            if fix is None or len(fixes) >= max_fixes:
                log("stop", rationale=f"no further fix for {d.fault} after {len(fixes)} tries")
                raise TrainFailed(e.returncode, e.log, e.tail, diagnosis=f"diagnosis {d.fault} ({d.evidence}); fixes "
                                  f"tried: {', '.join(f['id'] for f in fixes) or 'none'}; ladder exhausted",
                                  fault=d.fault) from e
            tried[fix.id] = tried.get(fix.id, 0) + 1
            fixes.append({"fault": d.fault, "id": fix.id, "changes": {k: list(v) for k, v in fix.changes.items()}})
            log("recover", tool=f"fix:{fix.id}", output={k: {"from": a, "to": b} for k, (a, b) in fix.changes.items()},
                rationale=fix.rationale)
            if fix.start_over:  # the checkpoints hold the bad state
                shutil.rmtree(out / "checkpoints", ignore_errors=True)
                (out / "metrics.jsonl").unlink(missing_ok=True)
            spec = spec.model_copy(update=fix.config.model_dump() | {"resume": True})
