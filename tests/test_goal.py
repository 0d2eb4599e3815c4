"""agent.goal: plain-words goal -> Request, offline and through a scripted pydantic-ai model."""

from __future__ import annotations

import pydantic_ai.models
import pytest
from pydantic import ValidationError
from pydantic_ai.messages import ModelResponse, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from tunepilot.agent.goal import _leaves, goal_to_request, parse_goal
from tunepilot.agent.schemas import Hardware

pydantic_ai.models.ALLOW_MODEL_REQUESTS = False

ISSUE_GOAL = "Make SmolLM2 better at calling coding tools: at least 90% success, under 5 s per answer"
SEED_GOAL = "make this coder model better at tool calls; under 12 s per answer, at least 98 % success, at most 10 GB"


def _note(request, field: str) -> str:
    """The one note about `field` (stated / assumed / detected / flag)."""
    hits = [n for n in request.assumptions if n.split(": ", 1)[1].startswith(f"{field} =")]
    assert len(hits) == 1, (field, request.assumptions)
    return hits[0]


def test_issue_goal_derives_seed_004_bands():
    r = parse_goal(ISSUE_GOAL)
    assert r.goal == ISSUE_GOAL
    assert r.base_model == "smollm2-135m-instruct"
    assert r.task_type == "chat"
    c = r.criteria
    assert (c.min_success, c.iterate_success, c.max_latency_s, c.iterate_latency_s) == (0.9, 0.87, 5.0, 6.25)
    assert c.max_memory_gb == 10
    assert _note(r, "criteria.max_memory_gb").startswith("assumed:")
    assert _note(r, "criteria.min_success") == "stated: criteria.min_success = 0.9 from 'at least 90% success'"
    assert _note(r, "criteria.max_latency_s").startswith("stated:") and "'under 5 s per answer'" in _note(r, "criteria.max_latency_s")
    assert "min_success - 0.03" in _note(r, "criteria.iterate_success")
    assert _note(r, "base_model").startswith("stated:")


def test_seed_goal():
    r = parse_goal(SEED_GOAL)
    c = r.criteria
    assert (c.min_success, c.iterate_success, c.max_latency_s, c.iterate_latency_s, c.max_memory_gb) == (0.98, 0.95, 12, 15, 10)
    assert _note(r, "base_model").startswith("assumed:")  # "this coder model" names none
    assert _note(r, "criteria.max_memory_gb").startswith("stated:")


def test_qlora_hub_model_hardware_and_budget():
    r = parse_goal("QLoRA Qwen/Qwen2.5-Coder-0.5B-Instruct for 3 epochs rank 32 on 2x A100 80GB within 2 hours")
    t = r.training_config
    assert (r.base_model, t.method, t.epochs, t.rank) == ("Qwen/Qwen2.5-Coder-0.5B-Instruct", "qlora", 3, 32)
    assert (r.hardware.gpus, r.hardware.vram_per_gpu, r.budget.max_wall_s) == (2, "80GB", 7200)
    assert t.learning_rate is None  # the "0.5" of the model name is not read as a setting


@pytest.mark.parametrize("goal, field, value", [
    ("success rate of 90 percent", "criteria.min_success", 0.9),
    ("≥ 0.9 success", "criteria.min_success", 0.9),
    ("98% success", "criteria.min_success", 0.98),
    ("answers in < 500 ms", "criteria.max_latency_s", 0.5),
    ("below 5 seconds", "criteria.max_latency_s", 5.0),
    ("≤ 512 MB", "criteria.max_memory_gb", 0.5),
    ("under 8GB", "criteria.max_memory_gb", 8.0),
    ("on a 24GB GPU", "hardware.vram_per_gpu", "24GB"),
    ("on a 24GB GPU", "hardware.gpus", 1),
    ("2 GPUs", "hardware.gpus", 2),
    ("in 20 minutes", "budget.max_wall_s", 1200),
    ("within 1 hour", "budget.max_wall_s", 3600),
    ("3 iterations", "budget.max_iterations", 3),
    ("at most 2 tries", "budget.max_iterations", 2),
    ("r=8", "training_config.rank", 8),
    ("learning rate 2e-4", "training_config.learning_rate", 2e-4),
    ("lr 1e-3", "training_config.learning_rate", 1e-3),
    ("batch size 4", "training_config.batch_size", 4),
    ("300 examples", "dataset.n_examples", 300),
    ("4-bit", "training_config.method", "qlora"),
    ("LoRA", "training_config.method", "lora"),
    ("full fine-tuning", "training_config.method", "full"),
    ("classify support tickets", "task_type", "classification"),
    ("instruction-following", "task_type", "instruction"),
    ("generate text", "task_type", "generation"),
    ("smollm2-135m", "base_model", "smollm2-135m-instruct"),
    ("HuggingFaceTB/SmolLM2-135M-Instruct", "base_model", "smollm2-135m-instruct"),
])
def test_phrases(goal, field, value):
    r = parse_goal(goal)
    assert dict(_leaves(r))[field] == pytest.approx(value) if isinstance(value, float) else dict(_leaves(r))[field] == value
    assert _note(r, field).startswith("stated:")


def test_epochs_above_the_limit_are_clamped_with_a_note():
    r = parse_goal("train for 8 epochs")
    assert r.training_config.epochs == 5
    assert "clamped" in _note(r, "training_config.epochs") and "'8 epochs'" in _note(r, "training_config.epochs")


@pytest.mark.parametrize("goal, phrase", [
    ("at least 150% success", "at least 150% success"),
    ("under -3 s per answer", "under -3 s per answer"),
    ("0 iterations", "0 iterations"),
    ("5 examples", "5 examples"),
    ("at least 90% success, and 95% success", "95% success"),  # contradiction
])
def test_impossible_values_name_the_phrase(goal, phrase):
    with pytest.raises(ValueError, match=phrase):
        parse_goal(goal)


def test_model_flag_wins_over_the_text_and_overrides_apply_last():
    r = parse_goal(ISSUE_GOAL, model="Qwen/Qwen2.5-Coder-0.5B-Instruct",
                   overrides={"budget.max_iterations": 2, "training_config.max_steps": 4, "criteria.min_success": 0.8})
    assert r.base_model == "Qwen/Qwen2.5-Coder-0.5B-Instruct"
    assert "--model" in _note(r, "base_model") and "smollm2-135m-instruct" in _note(r, "base_model")
    assert (r.budget.max_iterations, r.training_config.max_steps) == (2, 4)
    assert _note(r, "budget.max_iterations").startswith("flag:")
    assert (r.criteria.min_success, r.criteria.iterate_success) == (0.8, 0.77)  # the band follows the flag


def test_bad_overrides_name_the_field():
    with pytest.raises(ValueError, match="budget.max_iteration"):
        parse_goal(ISSUE_GOAL, overrides={"budget.max_iteration": 2})
    with pytest.raises(ValueError, match="training_config.max_steps"):
        parse_goal(ISSUE_GOAL, overrides={"training_config.max_steps": 0})
    with pytest.raises(ValidationError, match="criteria"):  # each value fine, the bands not
        parse_goal(SEED_GOAL, overrides={"criteria.iterate_success": 0.99})


def test_detected_hardware_is_used_and_noted():
    r = parse_goal(ISSUE_GOAL, hardware=Hardware(gpus=1, vram_per_gpu="24GB", cpus=16, ram_gb=128))
    assert r.hardware == Hardware(gpus=1, vram_per_gpu="24GB", cpus=16, ram_gb=128)
    assert _note(r, "hardware.cpus").startswith("detected:")
    assert _note(parse_goal(ISSUE_GOAL), "hardware.gpus").startswith("assumed:")


def test_local_folders(tmp_path):
    model = tmp_path / "my-model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.jsonl").write_text("")
    r = parse_goal(f"tune {model} on {data} for 2 epochs")
    assert (r.base_model, r.dataset.path, r.dataset.format, r.training_config.epochs) == (str(model), str(data), "tunepilot", 2)


def test_every_unstated_field_has_an_assumed_note():
    r = parse_goal(ISSUE_GOAL)
    for field, _ in _leaves(r):
        assert _note(r, field).split(":")[0] in ("stated", "assumed")
    stated = {"base_model", "task_type", "criteria.min_success", "criteria.max_latency_s"}
    assert {f for f, _ in _leaves(r) if _note(r, f).startswith("stated:")} == stated


def test_llm_path_uses_the_structured_output():
    seen = {}

    def answer(messages, info: AgentInfo) -> ModelResponse:
        seen["instructions"] = info.instructions
        args = {"goal": "ignored", "base_model": "Qwen/Qwen2.5-Coder-0.5B-Instruct",
                "criteria": {"min_success": 0.9, "iterate_success": 0.87, "max_latency_s": 5, "iterate_latency_s": 6.25},
                "assumptions": ["stated: criteria.min_success = 0.9 from '90% success'"]}
        return ModelResponse(parts=[ToolCallPart(info.output_tools[0].name, args)])

    r, how = goal_to_request(ISSUE_GOAL, llm=FunctionModel(answer), overrides={"budget.max_iterations": 2})
    assert how == "llm"
    assert "seed 004" in seen["instructions"]
    assert (r.goal, r.criteria.iterate_latency_s, r.budget.max_iterations) == (ISSUE_GOAL, 6.25, 2)
    assert r.base_model == "smollm2-135m-instruct"  # the goal names SmolLM2: the LLM's other model is not taken
    assert "overruled: the LLM proposed base_model = 'Qwen/Qwen2.5-Coder-0.5B-Instruct'; kept 'smollm2-135m-instruct' " \
           "(the goal states it)" in r.assumptions
    assert r.assumptions[0].startswith("stated:") and r.assumptions[-1].startswith("flag: budget.max_iterations")


def test_the_llm_is_a_proposer_not_an_authority():
    """Issue 14: the LLM-parsed request set criteria, budget, evaluation.export and dataset.path freely."""
    def answer(messages, info: AgentInfo) -> ModelResponse:
        args = {"goal": "ignored", "criteria": {"min_success": 0.2, "iterate_success": 0.1, "max_memory_gb": 500},
                "budget": {"max_iterations": 40, "max_wall_s": 600000}, "evaluation": {"export": False},
                "dataset": {"path": "/etc", "format": "tunepilot"}, "training_config": {"rank": 8}}
        return ModelResponse(parts=[ToolCallPart(info.output_tools[0].name, args)])

    r, how = goal_to_request(ISSUE_GOAL, llm=FunctionModel(answer))
    assert how == "llm"
    assert (r.criteria.min_success, r.criteria.max_memory_gb) == (0.9, 10.0)  # stated 90 %; the default memory line
    assert (r.budget.max_iterations, r.budget.max_wall_s, r.evaluation.export, r.dataset.path) == (3, 1800, True, None)
    assert r.training_config.rank == 8  # a training choice the goal left open: the proposal is taken
    overruled = [n for n in r.assumptions if n.startswith("overruled:")]
    assert "overruled: the LLM proposed criteria.min_success = 0.2; kept 0.9 (the goal states it)" in overruled
    assert any(n.startswith("overruled: the LLM proposed budget.max_wall_s = 600000") and "may not choose" in n
               for n in overruled)
    assert len(overruled) == 10  # success, latency (both bands each), memory, iterations, wall time, export, path, format


def test_llm_failure_falls_back_to_the_offline_parser():
    def broken(messages, info: AgentInfo) -> ModelResponse:
        raise ConnectionError("endpoint down")

    r, how = goal_to_request(ISSUE_GOAL, llm=FunctionModel(broken), model="smollm2-135m-instruct")
    assert how == "offline"
    assert r.assumptions[0] == "llm goal parsing failed (ConnectionError: endpoint down); used the offline parser"
    assert (r.criteria.min_success, r.criteria.max_latency_s) == (0.9, 5.0)
    assert goal_to_request(ISSUE_GOAL)[1] == "offline"


def test_abort_bar_stated_in_words():
    """An explicit abort bar replaces the derived one (min_success - 3 points): a small model's goal
    can leave room to iterate."""
    r = parse_goal("at least 55% success (abort below 30%), under 8 s per answer")
    assert (r.criteria.min_success, r.criteria.iterate_success) == (0.55, 0.30)
    assert parse_goal("success of 60%, iterate from 40 percent").criteria.iterate_success == 0.40
    assert parse_goal("at least 60% success").criteria.iterate_success == 0.57  # derived when unstated


@pytest.mark.parametrize("goal, suites", [
    ("at least 35% success, judged on BFCL simple_python, multiple and HumanEval",
     ["bfcl:simple_python", "bfcl:multiple", "humaneval"]),
    ("90% success, evaluated against bfcl:irrelevance plus live_simple", ["bfcl:irrelevance", "bfcl:live_simple"]),
    ("tested on parallel_multiple and parallel", ["bfcl:parallel_multiple", "bfcl:parallel"]),  # not read as 'parallel' twice
    ("checked with human-eval", ["humaneval"]),
    ("90% success, no third-party suites", []),
])
def test_suites_named_in_words(goal, suites):
    """The goal names the third-party suites the decision is judged on (evaluation.suites)."""
    r = parse_goal(goal)
    assert r.evaluation.suites == suites
    assert _note(r, "evaluation.suites").startswith("stated:")


def test_unnamed_suites_take_the_defaults_with_a_note():
    from tunepilot.agent.schemas import DEFAULT_SUITES

    r = parse_goal("better tool calls, at least 90% success")
    assert r.evaluation.suites == list(DEFAULT_SUITES)
    assert "BFCL simple/multiple/irrelevance and HumanEval" in _note(r, "evaluation.suites")
