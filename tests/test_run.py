"""`tunepilot run` end to end on the tiny model: real data, real training child, real evaluation
subprocess; decision, journal, approve / reject, schema validation of what was written."""

import json
from pathlib import Path
import subprocess
import sys

import pytest

from tunepilot.agent import run as runs
from tunepilot.agent.schemas import validate_file
from tunepilot import TunepilotError

# export (merge, GGUF, ladder, llama.cpp) is exercised by the deploy test and tests/test_export.py only
QUICK = {"dataset.n_examples": 40, "training_config.max_steps": 2, "evaluation.limit": 4, "evaluation.export": False,
         "evaluation.suites": []}  # the suites have their own test (test_humaneval.py)


def _events(folder):
    return [json.loads(line) for line in (folder / "journal.jsonl").read_text().splitlines()]


def test_run_reaches_deploy_then_approve(tiny_model):
    # bars the random tiny model can pass: what is tested is the loop, the journal and the approval
    over = QUICK | {"criteria.min_success": 0.0, "criteria.iterate_success": 0.0,
                    "criteria.max_latency_s": 600, "criteria.iterate_latency_s": 700, "criteria.max_memory_gb": 100}
    over["evaluation.export"] = True
    r = runs.start("make it better at tool calls", model=tiny_model, overrides=over, run_id="t-deploy")
    folder = runs.run_dir("t-deploy")
    assert r["decision"] == "deploy" and r["status"] == "awaiting_approval" and r["iterations"] == 1
    validate_file("request", folder / "request.json")
    validate_file("plan", folder / "plan.json")
    plan = json.loads((folder / "plan.json").read_text())
    assert "tunepilot train" in plan["training_script"] and plan["estimated_resources"]["peak_memory_gb"] > 0
    kinds = [e["kind"] for e in _events(folder)]
    assert kinds[:2] == ["goal", "request"] and "decision" in kinds and kinds[-1] == "finished"
    assert [e["seq"] for e in _events(folder)] == list(range(1, len(kinds) + 1))
    dec = next(e for e in _events(folder) if e["kind"] == "decision")
    assert dec["decision"] == "deploy" and "success" in dec["rationale"]
    from tunepilot.tools.llamacpp import LLAMA_CPP_PYTHON, binding_version
    exported = binding_version() == LLAMA_CPP_PYTHON
    if exported:  # the decision is judged on the exported GGUF in llama.cpp (seed 004's ladder, from Q4_K_M)
        ex = next(e for e in _events(folder) if e.get("tool") == "export" and e["kind"] == "tool")
        assert ex["output"]["quant"] == "q4_k_m" and ex["output"]["template_ok"]
        assert dec["output"]["metrics"]["runtime"] == "llama.cpp Q4_K_M"
        assert dec["output"]["metrics"]["success_rate"] == ex["output"]["success_rate"]
        ev = _events(folder)
        assert ev.index(ex) < next(i for i, e in enumerate(ev) if e["kind"] == "decision")
    train = next(e for e in _events(folder) if e.get("tool") == "train" and e["kind"] == "tool")
    assert train["output"]["steps"] == 2 and train["output"]["estimate"]["memory_error_pct"] is not None
    # the journal says what this machine computes in and why, and each tool reports the dtype it used
    from tunepilot.precision import choose_precision

    machine = next(e for e in _events(folder) if e["kind"] == "machine")
    want = choose_precision("auto")
    assert machine["output"]["precision"]["dtype"] == want.dtype and machine["rationale"].startswith(want.reason)
    assert machine["output"]["matmul_gflops"]["fp32"] > 0 and "CPU:" in machine["rationale"]
    assert train["output"]["precision"] == want.reason
    evaluation = next(e for e in _events(folder) if e.get("tool") == "evaluate" and e["kind"] == "tool")
    assert evaluation["output"]["precision"] == want.reason and evaluation["output"]["wall_s"] > 0
    md = (folder / "journal.md").read_text()
    assert "Decision: DEPLOY" in md and "make it better at tool calls" in md

    out = runs.approve("t-deploy", who="alice")
    assert out["status"] == "approved" and out["approved_by"] == "alice"
    bundle = folder / "deploy"
    assert (bundle / "adapter" / "adapter_config.json").exists() and (bundle / "SHA256SUMS").read_text().count("\n") >= 3
    card = (bundle / "MODEL_CARD.md").read_text()
    assert "base (before" in card and "journal.md" in card and tiny_model in card
    if exported:
        assert (bundle / "model-q4_k_m.gguf").stat().st_size > 1_000_000
        assert (bundle / "Modelfile").read_text().startswith("FROM ./model-q4_k_m.gguf")
        assert "Q4_K_M" in card and (bundle / "export_report.json").exists()
        sums = (bundle / "SHA256SUMS").read_text()
        assert "model-q4_k_m.gguf" in sums and "Modelfile" in sums
    kinds = [e["kind"] for e in _events(folder)]
    approval = next(e for e in _events(folder) if e["kind"] == "approval")
    assert kinds[-1] == "deployed" and kinds.count("approval") == 1 and approval["actor"] == "user:alice"
    assert approval["seq"] > next(e["seq"] for e in _events(folder) if e["kind"] == "finished")
    with pytest.raises(TunepilotError, match="already approved"):
        runs.approve("t-deploy")
    # the memory store learned from it
    from tunepilot.memory.store import Memory
    assert Memory().history()[0]["run_id"] == "t-deploy"


def test_run_iterates_with_the_playbook_then_stops_at_budget(tiny_model):
    # success 0 falls in a [0, 0.01) iterate band: the playbook changes one thing per iteration
    over = QUICK | {"criteria.min_success": 0.01, "criteria.iterate_success": 0.0, "criteria.max_latency_s": 600,
                    "criteria.iterate_latency_s": 700, "criteria.max_memory_gb": 100, "budget.max_iterations": 2}
    r = runs.start("tool calls please", model=tiny_model, overrides=over, run_id="t-iter")
    folder = runs.run_dir("t-iter")
    assert r["decision"] == "iterate" and r["iterations"] == 2 and "budget" in r["next_step"]
    ev = _events(folder)
    step = next(e for e in ev if e["kind"] == "iterate")
    assert step["input"]["rule"] in ("more_epochs", "raise_rank") and step["rationale"]
    assert (folder / "artifacts" / "iter-2" / "train" / "adapter").exists()
    assert json.loads((folder / "artifacts" / "iter-2" / "plan.json").read_text())["iteration"] == 2
    with pytest.raises(TunepilotError, match="not deploy"):
        runs.approve("t-iter")
    assert runs.reject("t-iter", "not good enough", who="bob")["status"] == "rejected"
    assert _events(folder)[-1]["kind"] == "rejection"


def test_cli_run_json_and_show(tiny_model, tmp_path):
    cmd = [sys.executable, "-m", "tunepilot.cli", "run", "SmolLM2 tool calls, at least 90% success, under 5 s",
           "--model", tiny_model, "--n-examples", "40", "--max-steps", "1", "--eval-limit", "3", "--run-id", "t-cli",
           "--set", "evaluation.suites=[]", "--json"]
    p = subprocess.run(cmd, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr[-2000:]
    out = json.loads(p.stdout)
    assert out["run_id"] == "t-cli" and out["decision"] == "abort"  # a random model cannot reach 90 %
    assert "Qwen" in out["next_step"]
    p = subprocess.run([sys.executable, "-m", "tunepilot.cli", "show", "t-cli", "--json"], capture_output=True, text=True)
    assert p.returncode == 0 and json.loads(p.stdout)["decision"]["decision"] == "abort"
    p = subprocess.run([sys.executable, "-m", "tunepilot.cli", "approve", "t-cli"], capture_output=True, text=True)
    assert p.returncode == 2 and "not deploy" in p.stderr
    p = subprocess.run([sys.executable, "-m", "tunepilot.cli", "show", "../etc"], capture_output=True, text=True)
    assert p.returncode == 2 and "run id" in p.stderr


def _toolbox(folder, request):
    from agent.toolbox import Toolbox

    return Toolbox.for_request(folder, request)


def test_every_tool_checks_the_budget_before_it_starts(tmp_path):
    """Not only training: data generation, evaluation and export are refused once the wall-time budget
    is spent, and an evaluation that took longer than what is left is not started again."""
    from tunepilot.agent.records import BudgetExceeded, DataArgs, DataSummary, EvalArgs, EvalSummary, ExportArgs, TrainSummary
    from tunepilot.agent.schemas import Request

    tb = _toolbox(tmp_path / "run", Request(goal="g", budget={"max_wall_s": 600}))
    tb.t0 -= 601  # the budget is spent
    with pytest.raises(BudgetExceeded, match="budget spent"):
        tb.generate_data(DataArgs(n_examples=10))
    assert not (tmp_path / "run" / "artifacts").exists()  # refused before writing anything
    tb.t0 += 400  # 399 s left
    st = tb.state
    st.trained = TrainSummary(iteration=1, adapter=str(tmp_path), steps=1, train_loss=1.0, eval_loss=1.0,
                              tokens_per_s=1.0, peak_memory_gb=1.0, wall_s=1.0, stopped_early=False, signals=[],
                              estimate={})
    st.data = DataSummary(path=str(tmp_path), splits={"train": 1}, mean_tokens=1.0, rejected={})
    st.eval_s = [500.0]  # the last evaluation took 500 s
    with pytest.raises(BudgetExceeded, match="the last evaluation's 8.3 min exceeds the remaining budget"):
        tb.evaluate(EvalArgs())
    st.evaluated = EvalSummary(iteration=1, success_rate=0.5, latency_avg_s=1, latency_p95_s=1, memory_gb=1,
                               per_role={}, failures={}, base=None, comparison=None, report="r")
    st.export_s = [450.0]
    with pytest.raises(BudgetExceeded, match="export"):
        tb.export(ExportArgs())
    refused = [e for e in _events(tmp_path / "run") if e["kind"] == "refused"]
    assert [e["tool"] for e in refused] == ["generate_data", "evaluate", "export"]


def test_an_export_refused_by_the_budget_still_decides_this_iteration(tmp_path, monkeypatch):
    """The demo's second iteration was evaluated, its export refused by the budget, and the run ended on
    the first iteration's decision. The iteration must be decided on its own (transformers) numbers,
    saying it was not exported."""
    from tunepilot.agent import playbook
    from tunepilot.agent.records import DataSummary, EvalSummary, TrainSummary
    from tunepilot.agent.schemas import Request

    monkeypatch.setitem(playbook.CAPABILITIES, "export", True)  # llama.cpp present: this iteration needs an export
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_model.safetensors").write_bytes(b"weights")
    tb = _toolbox(tmp_path / "run", Request(goal="g", budget={"max_wall_s": 600},
                                            criteria={"min_success": 0.25, "iterate_success": 0.1, "max_latency_s": 5}))
    tb.t0 -= 201  # 399 s left
    st = tb.state
    st.trained = TrainSummary(iteration=1, adapter=str(adapter), steps=1, train_loss=1.0, eval_loss=1.0,
                              tokens_per_s=1.0, peak_memory_gb=1.0, wall_s=1.0, stopped_early=False, signals=[],
                              estimate={})
    st.data = DataSummary(path=str(tmp_path), splits={"train": 1}, mean_tokens=1.0, rejected={})
    st.evaluated = EvalSummary(iteration=1, success_rate=0.3, latency_avg_s=2.0, latency_p95_s=3.0, memory_gb=1.0,
                               per_role={}, failures={}, base=None, comparison=None, report="r")
    st.iteration = 1
    st.export_s = [450.0]  # the last export took 7.5 min
    assert tb.needs_export()
    d = tb.decide()
    assert d.action == "deploy" and d.metrics["runtime"] == "transformers" and d.metrics["success_rate"] == 0.3
    assert any("not exported" in r and "exceeds the remaining budget" in r for r in d.reasons), d.reasons
    kinds = [e["kind"] for e in _events(tmp_path / "run")]
    assert kinds[-2:] == ["refused", "decision"]
    decision = _events(tmp_path / "run")[-1]["output"]
    assert decision["iteration"] == 1 and decision.get("export") is None


def test_a_reject_from_another_terminal_stops_the_run_before_its_next_tool(tmp_path):
    from tunepilot.agent.records import DataArgs, Rejected
    from tunepilot.agent.schemas import Request

    tb = _toolbox(tmp_path / "run", Request(goal="g"))
    runs.reject("run", "wrong goal", who="carol", runs=tmp_path)  # a second process would do the same
    with pytest.raises(Rejected, match="rejected by carol: wrong goal"):
        tb.generate_data(DataArgs(n_examples=10))
    assert tb.state.status == "rejected"


def test_a_gpu_request_planned_on_a_cpu_machine(tiny_model):
    """hardware.gpus in the request: the plan carries the engine and its files for that GPU machine
    (train.sh, accelerate.yaml), while this CPU machine trains the iteration in one process."""
    import shlex

    over = QUICK | {"criteria.min_success": 0.0, "criteria.iterate_success": 0.0, "criteria.max_latency_s": 600,
                    "criteria.iterate_latency_s": 700, "criteria.max_memory_gb": 100,
                    "hardware.gpus": 2, "hardware.vram_per_gpu": "24GB"}
    runs.start("make it better at tool calls", model=tiny_model, overrides=over, run_id="t-gpu-plan")
    folder = runs.run_dir("t-gpu-plan")
    validate_file("plan", folder / "plan.json")
    plan = json.loads((folder / "plan.json").read_text())
    assert plan["distribution"]["engine"] == "ddp" and plan["distribution"]["world_size"] == 2
    assert plan["distribution"]["fits"] and plan["config_files"]["accelerate.yaml"]["num_processes"] == 2
    line = next(x for x in plan["training_script"].splitlines() if x.startswith("tunepilot train"))
    words = shlex.split(line)
    assert words[words.index("--num-processes") + 1] == "2" and words[words.index("--engine") + 1] == "ddp"
    assert Path(words[words.index("--accelerate-config") + 1]).exists()
    local = json.loads((folder / "artifacts" / "iter-1" / "train" / "launch.json").read_text())
    assert local["world_size"] == 1  # trained here, on the CPU, in one process
