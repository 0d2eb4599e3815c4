"""Decision table: measured numbers x criteria -> deploy / iterate / abort (seed 004)."""

import pytest

from tunepilot.agent.criteria import decide
from tunepilot.agent.schemas import Criteria

SEED = Criteria()  # 98 % / 12 s / 10 GB; iterate 95-97 % or 12-15 s


@pytest.mark.parametrize("success, latency, memory, action", [
    (0.99, 10.0, 4.0, "deploy"),
    (0.98, 11.99, 10.0, "deploy"),      # bounds: >= 98 %, < 12 s, <= 10 GB
    (0.97, 10.0, 4.0, "iterate"),       # success in the iterate band
    (0.95, 10.0, 4.0, "iterate"),
    (0.99, 12.0, 4.0, "iterate"),       # latency 12-15 s
    (0.99, 15.0, 4.0, "iterate"),
    (0.99, 10.0, 12.0, "iterate"),      # memory over
    (0.949, 10.0, 4.0, "abort"),        # below 95 %
    (0.99, 15.01, 4.0, "abort"),        # above 15 s
    (0.96, 16.0, 4.0, "abort"),         # abort wins over iterate
])
def test_seed_004_table(success, latency, memory, action):
    d = decide({"success_rate": success, "latency_avg_s": latency, "memory_gb": memory}, SEED)
    assert d.action == action
    # what failed is typed, never parsed from the reasons' wording
    want = {k for k, bad in (("success", success < SEED.min_success), ("latency", latency >= SEED.max_latency_s),
                             ("memory", memory > SEED.max_memory_gb)) if bad}
    assert set(d.failing) == want and (action == "deploy") == (not want)
    assert d.reasons and all(any(k in r for k in ("success", "latency", "memory", "role")) for r in d.reasons)


def test_goal_numbers_override_the_seed():
    c = Criteria(min_success=0.9, iterate_success=0.87, max_latency_s=5, iterate_latency_s=6.25)
    assert decide({"success_rate": 0.91, "latency_avg_s": 4.0, "memory_gb": 1}, c).action == "deploy"
    assert decide({"success_rate": 0.88, "latency_avg_s": 4.0, "memory_gb": 1}, c).action == "iterate"
    assert decide({"success_rate": 0.91, "latency_avg_s": 7.0, "memory_gb": 1}, c).action == "abort"


def test_role_regression_blocks_deploy():
    base = {"per_role": {"coder": 0.9, "researcher": 0.9}}
    m = {"success_rate": 0.99, "latency_avg_s": 1, "memory_gb": 1, "per_role": {"coder": 1.0, "researcher": 0.7}}
    d = decide(m, SEED, base)
    assert d.action == "iterate" and d.failing == ["regression"]
    assert any("researcher" in r and "90.0% -> 70.0%" in r for r in d.reasons)


def test_abort_suggests_other_models_and_deploy_awaits_approval():
    d = decide({"success_rate": 0.2, "latency_avg_s": 3, "memory_gb": 1}, SEED)
    assert d.action == "abort" and "Qwen" in d.next_step
    d = decide({"success_rate": 1.0, "latency_avg_s": 3, "memory_gb": 1}, SEED)
    assert d.action == "deploy" and "approve" in d.next_step


def test_forgetting_on_the_general_probe_blocks_deploy():
    m = {"success_rate": 0.99, "latency_avg_s": 1, "memory_gb": 1, "general_probe": 0.55}
    d = decide(m, SEED, {"per_role": {}, "general_probe": 0.80})
    assert d.action == "iterate" and d.failing == ["regression"] and "forgetting" in d.reasons[0]
    d = decide(m | {"general_probe": 0.75}, SEED, {"per_role": {}, "general_probe": 0.80})
    assert d.action == "deploy" and any("no forgetting" in r for r in d.reasons)


def test_a_third_party_suite_regression_blocks_deploy():
    """Issue 16: a regression on any suite beyond the allowed drop blocks deploy, like a role regression."""
    good = {"success_rate": 0.99, "latency_avg_s": 1.0, "memory_gb": 1.0}
    held = {"bfcl:irrelevance": {"items": 20, "base": 0.9, "tuned": 0.85, "diff_ci95": [-0.15, 0.05]}}
    d = decide(good | {"suites": held}, SEED)
    assert d.action == "deploy" and any(r.startswith("suite bfcl:irrelevance 90.0% -> 85.0% (20 items") for r in d.reasons)
    fell = {"humaneval": {"items": 20, "base": 0.30, "tuned": 0.10, "diff_ci95": [-0.35, -0.05]}}
    d = decide(good | {"suites": held | fell}, SEED)
    assert d.action == "iterate" and d.failing == ["regression"]
    assert any("suite humaneval fell 30.0% -> 10.0% (more than 10%; 20 items, 95 % CI" in r for r in d.reasons)


def test_success_reason_says_what_30_items_are_worth():
    from tunepilot.agent.criteria import wilson

    lo, hi = wilson(0.4, 30)
    assert 0.24 < lo < 0.25 and 0.57 < hi < 0.59  # 12 of 30: the textbook Wilson interval 24.6 %–57.7 %
    d = decide({"success_rate": 0.4, "latency_avg_s": 1.0, "memory_gb": 1.0, "items": 30}, SEED)
    assert d.action == "abort" and "success 40.0% (30 items, 95 % CI 24.6%–57.7%) < abort bar" in d.reasons[0]
    assert "items" not in decide({"success_rate": 0.4, "latency_avg_s": 1.0, "memory_gb": 1.0}, SEED).reasons[0]
