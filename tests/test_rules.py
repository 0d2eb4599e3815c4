"""One rule engine reads both tables (agent/playbook.yaml, tools/faults.yaml); every field a rule
changes is a field of the one training config, and the engine treats both tables alike."""

import pytest
from pydantic import ValidationError

from tunepilot.agent.playbook import rules as playbook_rules
from tunepilot.tools.diagnose import _faults
from tunepilot.tools.signals import training_signals
from tunepilot.config import TrainingConfig
from tunepilot.rules import EXTRA_FIELDS, apply_rule, next_step

KEYS = {"id", "fixes", "when", "needs", "change", "limit", "max_uses", "start_over", "rollback", "rationale"}


def _all_rules():
    yield from (("playbook", r) for r in playbook_rules())
    for fault, ladder in _faults()["ladders"].items():
        yield from ((f"faults:{fault}", r) for r in ladder)


@pytest.mark.parametrize("table, rule", list(_all_rules()), ids=lambda x: x if isinstance(x, str) else x["id"])
def test_every_rule_changes_fields_of_the_training_config(table, rule):
    assert set(rule) <= KEYS, f"{table}/{rule['id']}: unknown keys {set(rule) - KEYS}"
    for name in list(rule.get("change") or {}) + list(rule.get("limit") or {}):
        assert name in TrainingConfig.model_fields or name in EXTRA_FIELDS, f"{table}/{rule['id']}: {name!r}"
    assert rule.get("change") or rule.get("rollback") or rule["id"] == "check_data"


def test_the_lower_lr_rules_of_both_tables_edit_the_same_field():
    fault_lr = [r for _, r in _all_rules() if r["id"] == "lower_lr"]
    assert len(fault_lr) >= 3 and all(set(r["change"]) == {"learning_rate"} for r in fault_lr)
    cfg = TrainingConfig(learning_rate=1e-3)
    for r in fault_lr:
        assert apply_rule(r, cfg).config.learning_rate < 1e-3


def test_shrinking_limits_are_floors_and_growing_limits_ceilings():
    halve = {"id": "h", "change": {"batch_size": "x0.5", "grad_accum": "x2"}, "limit": {"batch_size": 1}}
    s = apply_rule(halve, TrainingConfig(batch_size=3))
    assert s.config.batch_size == 2 and s.config.grad_accum == 4  # 1.5 rounds to 2, never below 1
    assert apply_rule(halve, TrainingConfig(batch_size=1)) is None  # the first field cannot move: no step
    grow = {"id": "g", "change": {"rank": "x2"}, "limit": {"rank": 32}}
    assert apply_rule(grow, TrainingConfig(rank=24)).config.rank == 32
    assert apply_rule(grow, TrainingConfig(rank=32)) is None


def test_a_rule_can_never_produce_an_invalid_config():
    with pytest.raises(ValidationError):
        apply_rule({"id": "e", "change": {"epochs": "x10"}}, TrainingConfig(epochs=1.0))  # seed 004: at most 5


def test_max_uses_needs_and_signals():
    table = [{"id": "a", "fixes": ["success"], "when": "underfit", "change": {"epochs": "+1"}},
             {"id": "b", "fixes": ["success"], "needs": "cuda", "change": {"rank": "x2"}},
             {"id": "c", "fixes": ["success"], "change": {"rank": "x2"}, "max_uses": 2}]
    cfg, skipped = TrainingConfig(), []
    assert next_step(table, cfg, used={}, capabilities=set(), failing={"success"}, signals={"underfit"}).id == "a"
    s = next_step(table, cfg, used={}, capabilities=set(), failing={"success"}, signals=set(), skipped=skipped)
    assert s.id == "c" and skipped == ["b (needs cuda, not available here)"]
    assert next_step(table, cfg, used={"c": 2}, capabilities=set(), failing={"success"}) is None
    assert next_step(table, cfg, used={}, capabilities=set(), failing={"latency"}) is None


def test_signals_are_defined_once():
    falling = [{"event": "log", "step": i, "loss": 2.0 - 0.1 * i} for i in range(12)]
    rising = [{"event": "eval", "step": s, "eval_loss": v} for s, v in ((4, 1.0), (8, 1.1), (12, 1.2))]
    assert set(training_signals(falling + rising)) == {"overfit"}
    assert set(training_signals(falling + rising[:1] + [{"event": "eval", "step": 8, "eval_loss": 0.9}])) == {"underfit"}
    assert "no_progress" in training_signals([{"event": "log", "step": i, "loss": 2.0} for i in range(12)])
    assert "nonfinite" in training_signals([{"event": "log", "step": 1, "loss": float("nan")}])
