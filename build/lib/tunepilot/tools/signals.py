"""Training signals from a run's metrics rows (metrics.jsonl), defined once: the fault diagnosis
(tools/diagnose.py) and the playbook's `when` (agent/playbook.yaml) both read these.

    nonfinite    a loss, grad norm or val loss that is NaN or infinite
    overfit      val loss rose at each of the last two evaluations while train loss fell
    underfit     the last val loss was still below the one before (more training would help)
    no_progress  8+ logged steps and the last quarter's train loss is within 5 % of the first quarter's
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

ERROR_LINE = re.compile(r"^[\w.]*(Error|Exception)\b")  # "torch.OutOfMemoryError: ...", "ValueError: ..."


def last_error(lines: list[str]) -> str:
    """The last exception line of a log tail (CalledProcessError from a launcher left out), else its last line."""
    errors = [x for x in lines if ERROR_LINE.match(x) and "CalledProcessError" not in x]
    return errors[-1] if errors else next((x for x in reversed(lines) if x.strip()), "")


def read_metrics(path: Path) -> list[dict]:
    """metrics.jsonl rows; a line cut short by a kill is skipped."""
    rows = []
    if Path(path).exists():
        for line in Path(path).read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return rows


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs) if xs else float("nan")


def training_signals(rows: list[dict]) -> dict[str, str]:
    """Each signal that holds, with its evidence (one line for the journal)."""
    out: dict[str, str] = {}
    bad = next((r for r in rows if any(isinstance(r.get(k), float) and not math.isfinite(r[k])
                                       for k in ("loss", "grad_norm", "eval_loss"))), None)
    if bad:
        out["nonfinite"] = (f"non-finite value at step {bad.get('step')}: loss={bad.get('loss')}, "
                            f"grad_norm={bad.get('grad_norm')}")
    evals = [r["eval_loss"] for r in rows if r.get("event") == "eval" and r.get("eval_loss") is not None]
    train = [r["loss"] for r in rows if r.get("event", "log") == "log" and r.get("loss") is not None]
    q = max(1, len(train) // 4)
    falling = len(train) >= 2 and _mean(train[-q:]) < _mean(train[:q])
    if len(evals) >= 3 and evals[-1] > evals[-2] > evals[-3] and falling:
        out["overfit"] = f"val loss rose {evals[-3]:.3f} -> {evals[-1]:.3f} over the last 2 evals while train loss fell"
    if len(evals) >= 2 and evals[-1] < evals[-2]:
        out["underfit"] = f"val loss still falling at the end ({evals[-2]:.3f} -> {evals[-1]:.3f})"
    if len(train) >= 8 and _mean(train[-q:]) > 0.95 * _mean(train[:q]):
        out["no_progress"] = f"train loss flat: first quarter {_mean(train[:q]):.3f}, last quarter {_mean(train[-q:]):.3f}"
    return out
