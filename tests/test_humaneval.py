"""HumanEval (issue 16): the problems load offline from the package, the official tests judge a
known-correct and a known-wrong answer, and model-written code runs only in the sandbox, where an
infinite loop and a memory bomb are stopped within their limits."""

import json
import time

import pytest

from tunepilot import cli
from tunepilot.tools.humaneval import code_of, load_humaneval, problems, run_check

FIRST = "HumanEval/0"


def test_the_164_problems_load_offline():
    ps = problems()
    assert len(ps) == 164 and {"prompt", "test", "entry_point", "canonical_solution"} <= set(ps[FIRST])
    items = load_humaneval(limit=3)
    assert [i["id"] for i in items] == ["HumanEval/0", "HumanEval/1", "HumanEval/2"]
    assert "def has_close_elements" in items[0]["messages"][0]["content"]


@pytest.mark.parametrize("task", ["HumanEval/0", "HumanEval/2", "HumanEval/53"])
def test_the_canonical_solution_passes(task):
    p = problems()[task]
    assert run_check(p, p["canonical_solution"]) == (True, "")


def test_a_whole_function_in_a_fenced_reply_passes():
    p = problems()[FIRST]
    reply = ("Here it is:\n```python\nfrom typing import List\n\ndef has_close_elements(numbers: List[float], threshold: float)"
             " -> bool:\n    return any(abs(a - b) < threshold for i, a in enumerate(numbers) for b in numbers[i + 1:])\n```")
    assert run_check(p, code_of(reply)) == (True, "")


def test_a_wrong_answer_fails():
    assert run_check(problems()[FIRST], "    return False\n") == (False, "failed")


def test_an_infinite_loop_is_killed_at_the_limit():
    t = time.monotonic()
    assert run_check(problems()[FIRST], "    while True:\n        pass\n", timeout=2) == (False, "timeout")
    assert time.monotonic() - t < 6


def test_a_memory_bomb_stops_at_the_address_space_limit():
    t = time.monotonic()
    assert run_check(problems()[FIRST], "    x = bytearray(8 << 30)\n    return True\n") == (False, "error")
    assert time.monotonic() - t < 6


def test_eval_suite_humaneval_end_to_end(tiny_model, capsys):
    assert cli.main(["eval", "--suite", "humaneval", "--model", tiny_model, "--limit", "2", "--no-general-probe",
                     "--latency-probe", "0", "--max-new-tokens", "16", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["n"] == 2 and rep["source"] == "humaneval" and rep["success_rate"] == 0.0  # a random tiny model
    assert sum(rep["failures"].values()) == 2


def test_all_suites_one_table(tiny_model, tmp_path, capsys):
    """`tunepilot eval --suite all`: every BFCL category and HumanEval, base vs tuned, one row each."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from tunepilot.tools.bfcl import CATEGORIES

    model = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_model), LoraConfig(r=2, target_modules=["q_proj"]))
    model.save_pretrained(tmp_path / "adapter")
    assert cli.main(["eval", "--suite", "all", "--model", tiny_model, "--adapter", str(tmp_path / "adapter"), "--limit",
                     "1", "--no-general-probe", "--latency-probe", "0", "--max-new-tokens", "8", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["suites"]
    assert [r["suite"] for r in rows] == [f"bfcl:{c}" for c in CATEGORIES] + ["humaneval"]
    assert all(r["items"] == 1 and r["base"] is not None and r["diff_ci95"] is not None for r in rows)
    # the tuned model's answer per item travels with the row (what a reader of the table looks at next)
    assert all([a["id"] for a in r["answers"]] and isinstance(r["answers"][0]["output"], str) for r in rows)
    irrelevance = next(r for r in rows if r["suite"] == "bfcl:irrelevance")
    assert irrelevance["base"] in (0.0, 1.0)


def test_the_autopilot_judges_the_named_suites_each_iteration(tiny_model, tmp_path):
    from tunepilot.agent import run as runs

    over = {"dataset.n_examples": 40, "training_config.max_steps": 2, "evaluation.limit": 4, "evaluation.export": False,
            "evaluation.suites": ["bfcl:irrelevance", "humaneval"], "evaluation.suite_limit": 2,
            "criteria.min_success": 0.0, "criteria.iterate_success": 0.0, "criteria.max_latency_s": 600,
            "criteria.iterate_latency_s": 700, "criteria.max_memory_gb": 100}
    r = runs.start("make it better at tool calls", model=tiny_model, overrides=over, runs=tmp_path / "runs", run_id="t-s")
    assert set(r["metrics"]["suites"]) == {"bfcl:irrelevance", "humaneval"}
    assert all(row["items"] == 2 for row in r["metrics"]["suites"].values())
    ev = [json.loads(line) for line in (tmp_path / "runs" / "t-s" / "journal.jsonl").read_text().splitlines()]
    evaluated = next(e for e in ev if e["kind"] == "tool" and e["tool"] == "evaluate")
    assert evaluated["output"]["suites"]["humaneval"]["items"] == 2  # the item counts are in the journal
    assert any(reason.startswith("suite humaneval") for reason in r["reasons"]) or r["decision"] != "deploy"
    note = next(e for e in ev if e["kind"] == "note" and e["tool"] == "evaluate")
    assert note["output"] == {"suites": ["bfcl:irrelevance", "humaneval"], "items_per_suite": 2}
    md = (tmp_path / "runs" / "t-s" / "journal.md").read_text()
    assert "suites (base → tuned, 95 % CI of the difference):" in md and "    - humaneval: 2 items, " in md
    plan = json.loads((tmp_path / "runs" / "t-s" / "plan.json").read_text())
    assert plan["evaluation_plan"]["suites"] == ["bfcl:irrelevance", "humaneval"]
    assert "tunepilot eval --suite humaneval" in plan["training_script"]


def test_suite_sample_is_sized_to_the_budget():
    from tunepilot.tools.suites import SUITE_ITEMS, suite_items

    names = ["bfcl:simple_python", "bfcl:irrelevance", "humaneval"]  # weights 1 + 1 + 2
    # 15 % of 3600 s = 540 s over (3 iterations + 1 base pass) x 4 weight = 16 passes at 1 s per item
    assert suite_items(3600, 1.0, names, 3) == int(540 / 16)
    assert suite_items(600, 1.0, names, 3) == SUITE_ITEMS[0]  # never fewer than 10 items
    assert suite_items(10**6, 0.1, names, 1) == SUITE_ITEMS[1]  # nor more than 50
    assert suite_items(3600, 1.0, [], 3) == 0
