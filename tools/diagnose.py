"""Diagnose a failed or unhealthy training run and name the next fix from the fallback ladder.

    from tools.diagnose import Failure, diagnose, next_fix
    d = diagnose(Failure(returncode=-9, log_tail=[...], metrics=[...]))
    d.fault, d.evidence            # "cpu_oom", "child killed by SIGKILL (exit -9) ..."
    fix = next_fix(d, config, tried={"halve_batch": 1}, capabilities={"cuda"})

Faults: gpu_oom, cpu_oom (allocator error, or SIGKILL from the OOM killer / a memory cap), nan
(non-finite loss or grad norm; the train tool stops at the first one), no_progress (loss flat),
overfitting (val loss up 2+ evals while train loss falls), forgetting (general probe fell after
training), data_error. Patterns and ladders are data: tools/faults.yaml.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel

FAULTS = Path(__file__).with_name("faults.yaml")
Fault = Literal["gpu_oom", "cpu_oom", "nan", "diverged", "no_progress", "overfitting", "forgetting", "data_error", "unknown",
                "healthy"]


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


@dataclass
class Fix:
    id: str
    changes: dict  # field -> (old, new)
    config: dict
    rationale: str


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
                return _dx(p["fault"], f"log matches {hit!r}: {line.strip()[:200]}")
        for p in faults["patterns"]:
            if f.returncode in p.get("returncodes", []):
                return _dx(p["fault"], f"child killed (exit {f.returncode}) with no error in its log: the OOM "
                                       "killer or a memory limit")
        errors = [x for x in text.splitlines() if re.match(r"^[\w.]*(Error|Exception)\b", x) and "CalledProcess" not in x]
        last = errors[-1] if errors else (text.strip().splitlines() or [""])[-1]
        return _dx("unknown", f"exit {f.returncode}: {last.strip()[:200]}")
    rows = f.metrics
    bad = next((r for r in rows if any(isinstance(r.get(k), float) and not math.isfinite(r[k])
                                       for k in ("loss", "grad_norm", "eval_loss"))), None)
    if bad:
        return _dx("nan", f"non-finite value at step {bad['step']}: loss={bad.get('loss')}, grad_norm={bad.get('grad_norm')}")
    evals = [(r["step"], r["eval_loss"]) for r in rows if r.get("event") == "eval" and r.get("eval_loss") is not None]
    train = [r["loss"] for r in rows if r.get("event") == "log" and r.get("loss") is not None]
    if len(evals) >= 3 and evals[-1][1] > evals[-2][1] > evals[-3][1] and len(train) >= 4 \
            and _mean(train[-len(train) // 4:]) < _mean(train[: len(train) // 4]):
        return _dx("overfitting", f"val loss rose {evals[-3][1]:.3f} -> {evals[-1][1]:.3f} over the last 2 evals "
                                  "while train loss fell")
    if len(train) >= 8 and _mean(train[-len(train) // 4:]) > 0.95 * _mean(train[: len(train) // 4]):
        return _dx("no_progress", f"train loss flat: first quarter {_mean(train[:len(train) // 4]):.3f}, "
                                  f"last quarter {_mean(train[-len(train) // 4:]):.3f}")
    if f.probe_before is not None and f.probe_after is not None and f.probe_before - f.probe_after > f.forgetting_drop:
        return _dx("forgetting", f"general probe fell {f.probe_before:.3f} -> {f.probe_after:.3f}")
    return _dx("healthy", "finished; loss finite and falling")


def next_fix(d: Diagnosis, config: dict, tried: dict[str, int], capabilities: set[str],
             skipped: list[str] | None = None, p95_tokens: int | None = None) -> Fix | None:
    """The first ladder step not used up, runnable here, whose change still moves the config."""
    for step in d.ladder:
        if tried.get(step["id"], 0) >= step.get("max_uses", 1):
            continue
        if step.get("needs") and step["needs"] not in capabilities:
            if skipped is not None:
                skipped.append(f"{step['id']} (needs {step['needs']})")
            continue
        new, changes = dict(config), {}
        for field, op in step["change"].items():
            old = config.get(field)
            value = _apply(op, old, p95_tokens)
            lim = step.get("limit", {}).get(field)
            if lim is not None and isinstance(value, (int, float)):
                value = max(value, lim) if op.startswith("x0") else min(value, lim)
            if value is not None and value != old:
                new[field] = value
                changes[field] = (old, value)
        key = next(iter(step["change"]), None)  # a step's first field is the one that must move
        if key == "resume" or key in changes:
            return Fix(step["id"], changes, new, step["rationale"])
    return None


def _apply(op, old, p95):
    if op == "p95":
        return p95
    if isinstance(op, str) and op[:1] in "x+" and _num(op[1:]):
        if old is None:
            return None
        n = float(op[1:])
        v = old * n if op[0] == "x" else old + n
        return max(1, int(round(v))) if isinstance(old, int) and not isinstance(old, bool) else v
    return op


def _num(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def _mean(xs):
    return sum(xs) / len(xs) if xs else float("nan")


def _dx(fault: str, evidence: str) -> Diagnosis:
    return Diagnosis(fault=fault, evidence=evidence, ladder=_faults()["ladders"].get(fault, []))


# --- the recovery loop: train -> diagnose -> fix -> retry --------------------------------------
SPEC_FIELDS = ("batch_size", "grad_accum", "gradient_checkpointing", "max_length", "method", "optim", "lr",
               "warmup_ratio", "max_grad_norm", "precision", "rank", "epochs", "early_stopping_patience", "dropout",
               "resume")


def train_with_recovery(spec, progress=None, log=None, max_fixes: int = 6, p95_tokens: int | None = None):
    """Train; when the child fails, diagnose it, apply the next fix from the fault's ladder and try
    again (at most `max_fixes` times). `log(kind, **fields)` hears every diagnosis and fix.
    Returns (TrainResult, spec that worked, fixes applied). Raises TrainFailed with the diagnosis
    when the ladder runs out, so a NaN never ends as a saved model."""
    import json
    import shutil

    import torch

    from tools.train import TrainFailed, train

    log = log or (lambda kind, **kw: None)
    tried: dict[str, int] = {}
    fixes: list[dict] = []
    out = Path(spec.out)
    while True:
        try:
            return train(spec, progress=progress), spec, fixes
        except TrainFailed as e:
            rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines() if x.strip()] \
                if (out / "metrics.jsonl").exists() else []
            d = diagnose(Failure(returncode=e.returncode, log_tail=e.tail, metrics=rows))
            log("diagnosis", tool="diagnose", output={"fault": d.fault, "evidence": d.evidence},
                rationale=f"{d.fault}: {d.evidence}")
            caps = {"cuda"} if torch.cuda.is_available() else set()
            if any((out / "checkpoints").glob("checkpoint-*")):
                caps.add("checkpoint")
            skipped: list[str] = []
            config = spec.model_dump()
            fix = next_fix(d, {k: config[k] for k in SPEC_FIELDS}, tried, caps, skipped, p95_tokens)
            if skipped:
                log("note", rationale="ladder steps skipped here: " + "; ".join(skipped))
            if fix is None or len(fixes) >= max_fixes:
                log("stop", rationale=f"no further fix for {d.fault} after {len(fixes)} tries")
                raise TrainFailed(e.returncode, e.log, e.tail, diagnosis=f"diagnosis {d.fault} ({d.evidence}); fixes "
                                  f"tried: {', '.join(f['id'] for f in fixes) or 'none'}; ladder exhausted") from e
            tried[fix.id] = tried.get(fix.id, 0) + 1
            fixes.append({"fault": d.fault, "id": fix.id, "changes": {k: list(v) for k, v in fix.changes.items()}})
            log("recover", tool=f"fix:{fix.id}", output={k: {"from": a, "to": b} for k, (a, b) in fix.changes.items()},
                rationale=fix.rationale)
            if fix.config.get("resume") is False:  # start over: the checkpoints hold the bad state
                shutil.rmtree(out / "checkpoints", ignore_errors=True)
                (out / "metrics.jsonl").unlink(missing_ok=True)
            spec = spec.model_copy(update={k: v for k, v in fix.config.items() if k in SPEC_FIELDS} | {"resume": True})
