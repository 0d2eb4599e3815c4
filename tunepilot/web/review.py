"""What a reviewer sees of a run, derived from its journal (the state) and the artifacts it names.

    view = run_view(folder)      # a plain dict: the web pages and report.html render it
    rows = runs_table(runs_dir)  # the runs page

Everything comes from `RunState` (agent/state.py) plus the files the journal points at: the
metrics each training wrote (`artifacts/iter-N/train/metrics.jsonl`), each evaluation's report
(`artifacts/iter-N/eval.json`, with per-item outcomes) joined with the dataset's test items
(prompt, expected call), and the export report. Nothing here writes.
"""

from __future__ import annotations

import json
from pathlib import Path

from tunepilot.agent.render import pct
from tunepilot.agent.journal import Journal, runs_root
from tunepilot.agent.state import RunState

MAX_FAILING = 30  # failing items shown per run


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _metrics(path: Path) -> list[dict]:
    rows = []
    if path.exists():
        for line in path.read_text(errors="replace").splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue  # a line cut by a kill: the rest still plots
            if isinstance(row, dict) and row.get("event") in ("log", "eval"):
                rows.append(row)
    return rows


def iterations(folder: Path) -> list[dict]:
    """Per iteration: number, training metrics rows, result, eval report (if each exists yet)."""
    out = []
    for d in sorted((folder / "artifacts").glob("iter-*"), key=lambda p: int(p.name.split("-")[1])
                    if p.name.split("-")[1].isdigit() else 0):
        out.append({"n": d.name.split("-", 1)[1], "metrics": _metrics(d / "train" / "metrics.jsonl"),
                    "result": _read_json(d / "train" / "result.json"), "eval": _read_json(d / "eval.json"),
                    "plan": _read_json(d / "plan.json")})
    return out


def _marks(assumptions: list[str]) -> list[dict]:
    """'stated: criteria.min_success = 0.9 from ...' -> {mark, field, text}."""
    rows = []
    for a in assumptions:
        mark, _, rest = a.partition(": ")
        rows.append({"mark": mark if mark in ("stated", "assumed", "detected", "flag", "overruled") else "note",
                     "field": rest.split(" = ", 1)[0] if " = " in rest else "", "text": rest or a})
    return rows


def _test_items(state: RunState) -> dict[str, dict]:
    if not state.data:
        return {}
    path = Path(state.data.path) / "test.jsonl"
    items = {}
    if path.exists():
        for line in path.read_text(errors="replace").splitlines():
            try:
                r = json.loads(line)
                items[str(r.get("id"))] = r
            except ValueError:
                continue
    return items


def failing_items(report: dict | None, state: RunState) -> list[dict]:
    """The items the latest evaluation got wrong: prompt, expected call, the model's output, the failure."""
    if not report:
        return []
    data = _test_items(state)
    rows = []
    for it in report.get("items") or []:
        if it.get("success"):
            continue
        rec = data.get(str(it.get("id")), {})
        msgs = rec.get("messages") or []
        prompt = next((m.get("content") for m in msgs if m.get("role") == "user"), "")
        expected = [f"{c['function']['name']}({c['function'].get('arguments', '')})" for m in msgs
                    for c in (m.get("tool_calls") or [])][:1]
        bad = next((t for t in it.get("turns") or [] if t.get("failure")), {})
        rows.append({"id": it.get("id"), "role": it.get("role"), "kind": it.get("kind"), "prompt": prompt,
                     "expected": expected[0] if expected else "(a direct answer, no call)",
                     "output": bad.get("output", ""), "failure": bad.get("failure", "")})
        if len(rows) >= MAX_FAILING:
            break
    return rows


def criteria_rows(state: RunState) -> list[dict]:
    """Each criterion with its deploy line, its iterate band and the measured value."""
    d = state.decision
    if d is None:
        return []
    c, m = d.criteria, d.metrics
    secs = lambda v: "—" if v is None else f"{v:.2f} s"  # noqa: E731
    rows = [
        {"criterion": "success", "deploy": f"≥ {pct(c.min_success)}",
         "iterate": f"{pct(c.iterate_success)} – {pct(c.min_success)}", "measured": pct(m.get("success_rate")),
         "failing": "success" in d.failing},
        {"criterion": "latency", "deploy": f"< {secs(c.max_latency_s)}",
         "iterate": f"{secs(c.max_latency_s)} – {secs(c.iterate_latency_s)}", "measured": secs(m.get("latency_avg_s")),
         "failing": "latency" in d.failing},
        {"criterion": "memory", "deploy": f"≤ {c.max_memory_gb:.1f} GB", "iterate": "—",
         "measured": "—" if m.get("memory_gb") is None else f"{m['memory_gb']:.2f} GB", "failing": "memory" in d.failing},
        {"criterion": "regression", "deploy": f"no role drops > {pct(c.max_role_drop)}; general ≤ {pct(c.max_general_drop)}",
         "iterate": "—", "measured": ", ".join(f"{k} {pct(v)}" for k, v in (m.get("per_role") or {}).items()) or "—",
         "failing": "regression" in d.failing},
    ]
    if m.get("suites"):
        rows.append({"criterion": "third-party suites", "deploy": f"no suite drops > {pct(c.max_suite_drop)} below base",
                     "iterate": "—", "measured": "; ".join(f"{k} {pct(r.get('base'))} → {pct(r.get('tuned'))}"
                                                          for k, r in m["suites"].items()),
                     "failing": any(r.startswith("suite ") and "fell" in r for r in d.reasons)})
    return rows


def suite_rows(state: RunState) -> list[dict]:
    """The latest evaluation's third-party suites: items, base, tuned, the paired difference with its
    95 % interval (with 20 items one item is 5 points: the interval says how much that is worth)."""
    rows = []
    for name, r in ((state.evaluated.suites if state.evaluated else None) or {}).items():
        ci = r.get("diff_ci95")
        rows.append({"suite": name, "items": r.get("items"), "base": pct(r.get("base")), "tuned": pct(r.get("tuned")),
                     "diff": "—" if r.get("diff") is None else f"{100 * r['diff']:+.1f}",
                     "ci": f"{100 * ci[0]:+.1f} … {100 * ci[1]:+.1f}" if ci else "—", "p": r.get("mcnemar_p")})
    return rows


def run_view(folder: Path) -> dict:
    folder = Path(folder)
    events = Journal.read(folder)
    state = RunState.replay(events, run_id=folder.name)
    its = iterations(folder)
    latest = next((i["eval"] for i in reversed(its) if i["eval"]), None)
    export = None
    for p in sorted((folder / "artifacts").glob("**/export_report.json")):
        export = _read_json(p)
    request = state.request
    d = state.decision
    return {
        "run_id": folder.name, "status": state.status, "goal": state.goal.goal if state.goal else "",
        "model": request.base_model if request else None,
        "request": request.model_dump(mode="json", exclude={"assumptions"}) if request else None,
        "marks": _marks(request.assumptions) if request else [],
        "decision": d.action if d else None, "reasons": d.reasons if d else [], "next_step": d.next_step if d else None,
        "criteria": criteria_rows(state), "suites": suite_rows(state), "metrics": d.metrics if d else {}, "base": state.base or {},
        "iterations": its, "latest_eval": latest, "failing": failing_items(latest, state), "export": export,
        "events": events, "elapsed_s": round(state.elapsed_s, 1), "problems": state.problems,
        "approval": state.approval.model_dump() if state.approval else None,
        "rejection": state.rejection.model_dump() if state.rejection else None,
        "can_approve": state.status == "awaiting_approval", "last_seq": state.last_seq,
        "config": state.config.model_dump() if state.config else {}, "live": _live(state, its),
    }


def live(folder: Path) -> dict:
    """The small, cheap part of a view a live page polls: status, last event, the latest training step."""
    return _live(RunState.replay(Journal.read(folder), run_id=Path(folder).name), iterations(Path(folder)))


def _live(state: RunState, its: list[dict]) -> dict:
    last = next((r for i in reversed(its) for r in reversed(i["metrics"]) if "loss" in r), None)
    return {"status": state.status, "last_seq": state.last_seq, "decision": state.decision.action if state.decision else None,
            "step": last.get("step") if last else None, "max_steps": last.get("max_steps") if last else None,
            "loss": last.get("loss") if last else None, "iteration": len(its), "elapsed_s": round(state.elapsed_s, 1)}


def runs_table(root: Path | None = None) -> list[dict]:
    base = runs_root(root)
    rows = []
    for folder in sorted(base.iterdir() if base.exists() else []):
        if not (folder / "journal.jsonl").exists():
            continue
        state = RunState.replay(Journal.read(folder), run_id=folder.name)
        m = state.decision.metrics if state.decision else {}
        rows.append({"run_id": folder.name, "goal": state.goal.goal if state.goal else "",
                     "model": state.request.base_model if state.request else None, "status": state.status,
                     "decision": state.decision.action if state.decision else None,
                     "success": m.get("success_rate"), "base_success": (state.base or {}).get("success_rate"),
                     "latency": m.get("latency_avg_s"), "iterations": state.iteration,
                     "elapsed_s": round(state.elapsed_s, 1), "started": state.first_time})
    return rows
