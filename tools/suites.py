"""Third-party suites side by side: base vs tuned on each, one row a suite, with the paired test.

    rows = compare_suites(EvalSpec(model=M, adapter=A, limit=50), suites("bfcl:all"))

A suite is `humaneval` or `bfcl:<category>`; `bfcl:all` is every BFCL category this package scores
(tools/bfcl.py), `all` adds HumanEval. With 30 items one item is 3.3 points: every row carries the
95 % interval of the paired difference (bootstrap, tools/evaluate.py `mcnemar`), not only points.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from tunepilot import TunepilotError
from tunepilot.tools.evaluate import EvalSpec


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
        rows.append({"suite": name, **_row(rep), "failures": rep.failures, "answers": _answers(rep)})
    return rows


def _answers(rep) -> list[dict]:
    """Per item of the tuned model: id, right or not, the failure kind and the reply (what a reader of
    a full-category table looks at next)."""
    out = []
    for item in rep.items:
        turns = item.get("turns") or [{}]
        out.append({"id": item.get("id"), "success": item.get("success"),
                    "failure": next((t.get("failure") for t in turns if t.get("failure")), None),
                    "output": turns[0].get("output")})
    return out


def _row(rep) -> dict:
    """A suite's base-vs-tuned summary from its EvalResult: what tables, journals and criteria read."""
    c = rep.comparison or {}
    return {"items": rep.n, "base": rep.base.success_rate if rep.base else None, "tuned": rep.success_rate,
            "diff": c.get("diff"), "diff_ci95": c.get("diff_ci95"), "mcnemar_p": c.get("mcnemar_p")}


SUITE_SHARE = 0.15  # of the run's wall-time budget, spent on third-party suites across all iterations
SUITE_ITEMS = (10, 50)  # the sized sample per suite stays in this range (below 10 one item is 10 points)
COST = {"humaneval": 2.0}  # relative cost of an item (HumanEval answers are twice as long as a tool call)


def suite_items(budget_s: float, per_item_s: float, names: list[str], iterations: int) -> int:
    """Items per suite so that the suites of every iteration fit SUITE_SHARE of the run's budget:
    base and tuned in the first iteration, tuned only later (the base is cached), at this run's own
    measured seconds per item. Sized once per run, so later iterations score the same items."""
    if not names:
        return 0
    weight = sum(COST.get(n, 1.0) for n in names) * (max(iterations, 1) + 1)
    n = SUITE_SHARE * budget_s / (max(per_item_s, 1e-3) * weight)
    return int(min(max(n, SUITE_ITEMS[0]), SUITE_ITEMS[1]))


class SuitesSpec(BaseModel):
    """Every suite of an iteration, evaluated in one child (one interpreter start, not one per suite)."""

    eval: EvalSpec
    names: list[str]
    folder: Path  # each suite's full report lands here as suite-<name>.json


class SuitesResult(BaseModel):
    rows: dict[str, dict]


def evaluate_suites(spec: SuitesSpec, progress=None) -> SuitesResult:
    from tunepilot.atomic import write_json
    from tunepilot.tools.evaluate import evaluate

    rows = {}
    for name in spec.names:
        s = spec.eval.model_copy(update={"suite": name, "data": None, "compare_base": True, "general_probe": False,
                                         "latency_probe": 0})
        rep = evaluate(s, progress=progress)
        write_json(spec.folder / f"suite-{name.replace(':', '-')}.json", rep.model_dump(mode="json"))
        rows[name] = _row(rep)
    return SuitesResult(rows=rows)


def run_suites(spec, names: list[str], folder, progress=None) -> dict[str, dict]:
    """Base vs tuned on the same items of each suite, in an evaluation child (its memory is the
    model's); the base reports come from the cache after the first iteration (tools/eval_cache.py)."""
    from tunepilot.tools.child import call

    if not names:
        return {}
    folder = Path(folder)
    res = call("tunepilot.tools.suites:evaluate_suites", SuitesSpec(eval=spec, names=names, folder=folder),
               SuitesResult, progress=progress, out=folder / "suites.json")
    return res.rows
