"""The iterate playbook is data: walk it."""

from tunepilot.agent.playbook import next_step, rules
from tunepilot.config import TrainingConfig

CFG = TrainingConfig(epochs=1.0, rank=8, targets="attn", learning_rate=1e-3)
N = 300


def test_every_rule_is_well_formed():
    ids = [r["id"] for r in rules()]
    assert len(ids) == len(set(ids))
    for r in rules():
        assert r["fixes"] and r["change"] and r["rationale"] and r["when"] in ("always", "underfit", "overfit")
        assert set(r["fixes"]) <= {"success", "latency", "memory", "regression", "template"}


def test_underfit_adds_an_epoch_first_then_rank_ladder():
    s = next_step({"success"}, CFG, {}, {"underfit"})
    assert s.id == "more_epochs" and s.config.epochs == 2
    s = next_step({"success"}, CFG, {}, set())
    assert s.id == "raise_rank" and s.changes == {"rank": (8, 16)}
    s = next_step({"success"}, s.config, {"raise_rank": 1}, set())
    assert s.id == "raise_rank" and s.config.rank == 32


def test_limits_and_uses_move_down_the_ladder():
    cfg = CFG.model_copy(update={"rank": 32, "epochs": 5})
    s = next_step({"success"}, cfg, {}, {"underfit"}, n_examples=N)  # epochs at 5, rank at 32: nothing to raise
    assert s.id == "add_mlp_targets"
    mlp = cfg.model_copy(update={"targets": "attn+mlp"})
    s = next_step({"success"}, mlp, {}, set(), n_examples=N)
    assert s.id == "more_data" and s.extra["dataset.n_examples"] == 600 and s.config == mlp
    assert next_step({"success"}, mlp, {"more_data": 2}, set(), n_examples=N) is None


def test_regression_lowers_the_rate_and_latency_has_no_training_fix():
    s = next_step({"regression"}, CFG, {}, set())
    assert s.id == "fewer_epochs_lower_lr" and s.config.learning_rate == 5e-4
    # latency is judged on the exported Q4_K_M already (the export ladder's first level): no rule
    skipped = []
    assert next_step({"latency"}, CFG, {}, set(), skipped) is None and skipped == []
