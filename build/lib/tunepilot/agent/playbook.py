"""The offline planner's iterate policy, read from `playbook.yaml` (data, not code) and applied by
the one rule engine (tunepilot/rules.py) that also applies the fault ladder.

    from tunepilot.agent.playbook import next_step
    step = next_step({"success"}, config, used={"raise_rank": 1}, signals={"underfit"})
    step.id, step.config, step.changes, step.rationale
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml

from tunepilot import rules as engine
from tunepilot.config import TrainingConfig

PLAYBOOK = Path(__file__).with_name("playbook.yaml")


def _llama_cpp() -> bool:
    from tunepilot.tools.llamacpp import LLAMA_CPP_PYTHON, binding_version

    return binding_version() == LLAMA_CPP_PYTHON


# rules that need a missing tool are skipped (the journal says so); export needs llama.cpp installed
CAPABILITIES = {"export": _llama_cpp()}


@cache
def rules() -> list[dict]:
    return yaml.safe_load(PLAYBOOK.read_text())["iterate"]


def next_step(failing: set[str], config: TrainingConfig, used: dict[str, int], signals: set[str],
              skipped: list[str] | None = None, n_examples: int | None = None) -> engine.Step | None:
    """The first rule that fixes a failing criterion, whose signal holds, whose change still moves
    the config within its limits, and that is not used up. `skipped` collects rules passed over
    for a missing capability."""
    caps = {k for k, ok in CAPABILITIES.items() if ok}
    return engine.next_step(rules(), config, used=used, capabilities=caps, failing=set(failing), signals=set(signals),
                            extra={"dataset.n_examples": n_examples}, skipped=skipped)
