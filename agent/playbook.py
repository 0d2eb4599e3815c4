"""The offline planner's iterate policy, read from `playbook.yaml` (data, not code).

    from agent.playbook import next_step
    step = next_step({"success"}, config, used={"raise_rank": 1}, signals={"underfit"})
    step.id, step.config, step.rationale
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

PLAYBOOK = Path(__file__).with_name("playbook.yaml")
def _llama_cpp() -> bool:
    from tools.llamacpp import LLAMA_CPP_PYTHON, binding_version

    return binding_version() == LLAMA_CPP_PYTHON


# rules that need a missing tool are skipped (the journal says so); export needs llama.cpp installed
CAPABILITIES = {"export": _llama_cpp()}


@dataclass
class Step:
    id: str
    config: dict  # the new config (a copy)
    changes: dict  # field -> (old, new)
    rationale: str


@cache
def rules() -> list[dict]:
    return yaml.safe_load(PLAYBOOK.read_text())["iterate"]


def _apply(op, old):
    if isinstance(op, str) and op[:1] in "+x" and old is not None:
        n = float(op[1:])
        new = old + n if op[0] == "+" else old * n
        return int(new) if isinstance(old, int) and float(new).is_integer() else new
    return op


def next_step(failing: set[str], config: dict, used: dict[str, int], signals: set[str],
              skipped: list[str] | None = None) -> Step | None:
    """The first rule that fixes a failing criterion, whose signal holds, whose change still moves
    the config within its limits, and that is not used up. `skipped` collects rules passed over
    for a missing capability."""
    for rule in rules():
        if not failing & set(rule["fixes"]) or used.get(rule["id"], 0) >= rule.get("max_uses", 1):
            continue
        if rule["when"] != "always" and rule["when"] not in signals:
            continue
        if rule.get("needs") and not CAPABILITIES.get(rule["needs"]):
            if skipped is not None:
                skipped.append(f"{rule['id']} (needs {rule['needs']}, not available yet)")
            continue
        new, changes = dict(config), {}
        for field, op in rule["change"].items():
            value = _apply(op, config.get(field))
            if value is None:
                continue
            limit = rule.get("limit", {}).get(field)
            if limit is not None:
                value = min(value, limit)
            if value != config.get(field):
                new[field] = value
                changes[field] = (config.get(field), value)
        if changes:
            return Step(rule["id"], new, changes, rule["rationale"])
    return None
