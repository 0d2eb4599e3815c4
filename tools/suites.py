"""Third-party suites side by side: base vs tuned on each, one row a suite, with the paired test.

    rows = compare_suites(EvalSpec(model=M, adapter=A, limit=50), suites("bfcl:all"))

A suite is `humaneval` or `bfcl:<category>`; `bfcl:all` is every BFCL category this package scores
(tools/bfcl.py), `all` adds HumanEval. With 30 items one item is 3.3 points: every row carries the
95 % interval of the paired difference (bootstrap, tools/evaluate.py `mcnemar`), not only points.
"""

from __future__ import annotations

from tunepilot import TunepilotError


def suites(name: str) -> list[str]:
    from tunepilot.tools.bfcl import CATEGORIES

    bfcl = [f"bfcl:{c}" for c in CATEGORIES]
    if name == "bfcl:all":
        return bfcl
    if name == "all":
        return bfcl + ["humaneval"]
    return [name]


def compare_suites(spec, names: list[str], progress=None) -> list[dict]:
    """Evaluate `spec` (an EvalSpec with an adapter) on each suite with the base model too."""
    from tunepilot.tools.evaluate import evaluate

    if spec.adapter is None:
        raise TunepilotError("--suite all / bfcl:all compares base and tuned: give --adapter")
    rows = []
    for name in names:
        rep = evaluate(spec.model_copy(update={"suite": name, "data": None, "compare_base": True}), progress=progress)
        c = rep.comparison or {}
        rows.append({"suite": name, "items": rep.n, "base": rep.base.success_rate if rep.base else None,
                     "tuned": rep.success_rate, "diff": c.get("diff"), "diff_ci95": c.get("diff_ci95"),
                     "mcnemar_p": c.get("mcnemar_p"), "failures": rep.failures})
    return rows


def run_suites(spec, names: list[str], folder, progress=None) -> dict[str, dict]:
    """Each suite in its own evaluation child (its memory is the model's), base vs tuned on the same
    items; the base report comes from the cache after the first iteration (tools/eval_cache.py)."""
    from pathlib import Path

    from tunepilot.tools.child import call
    from tunepilot.tools.evaluate import EvalResult

    out = {}
    for name in names:
        s = spec.model_copy(update={"suite": name, "data": None, "compare_base": True, "general_probe": False,
                                    "latency_probe": 0})
        rep = call("tunepilot.tools.evaluate:evaluate", s, EvalResult, progress=progress,
                   out=Path(folder) / f"suite-{name.replace(':', '-')}.json")
        c = rep.comparison or {}
        out[name] = {"items": rep.n, "base": rep.base.success_rate if rep.base else None, "tuned": rep.success_rate,
                     "diff": c.get("diff"), "diff_ci95": c.get("diff_ci95"), "mcnemar_p": c.get("mcnemar_p")}
    return out
