"""kill -9 a real `tunepilot run` at each stage (data, train, eval, export, decision), then `tunepilot
resume`: the same decision, no finished step redone, training continued from its checkpoint,
contiguous journal, nothing recorded lost."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

GOAL = "tool calls: at least 0% success, under 600 s per answer, at most 100 GB"  # the tiny model passes
SETTINGS = ["--n-examples", "40", "--max-steps", "4", "--eval-limit", "3", "--set", "training_config.eval_steps=2",
            "--set", "evaluation.export=false", "--set", "evaluation.suites=[]"]  # the export stage's own case turns it on


def _events(folder: Path) -> list[dict]:
    p = folder / "journal.jsonl"
    if not p.exists():
        return []
    out = []
    for line in p.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            pass
    return out


def _kill_when(run_id: str, runs: Path, ready, timeout=300) -> None:
    export = ["--set", f"evaluation.export={'true' if ready is _exporting else 'false'}"]
    p = subprocess.Popen([sys.executable, "-m", "tunepilot.cli", "run", GOAL, "--model", os.environ["TINY"],
                          "--run-id", run_id, "--json", *SETTINGS, *export], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
    t0 = time.time()
    while not ready(runs / run_id):
        assert p.poll() is None, "the run finished before the kill point"
        assert time.time() - t0 < timeout
        time.sleep(0.2)
    os.killpg(p.pid, signal.SIGKILL)  # the CLI and its eval child
    pid = runs / run_id / "artifacts" / "iter-1" / "train" / "train.pid"
    if pid.exists():  # the trainer runs in its own process group: a machine-wide kill takes it too
        try:
            os.killpg(int(pid.read_text()), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass
    p.wait()


def _resume(run_id: str) -> dict:
    r = subprocess.run([sys.executable, "-m", "tunepilot.cli", "resume", run_id, "--json"], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout)


def _checkpoint_written(folder: Path) -> bool:
    return any((folder / "artifacts" / "iter-1" / "train" / "checkpoints").glob("checkpoint-2/trainer_state.json"))


def _making_data(folder: Path) -> bool:
    return any(e["kind"] == "machine" for e in _events(folder))  # the next step generates the data


def _evaluating(folder: Path) -> bool:
    return any(e["kind"] == "tool_start" and e["tool"] == "evaluate" for e in _events(folder))


def _exporting(folder: Path) -> bool:
    return any(e["kind"] == "tool_start" and e["tool"] == "export" for e in _events(folder))


def _exported() -> bool:
    from tunepilot.tools.llamacpp import LLAMA_CPP_PYTHON, binding_version

    return binding_version() == LLAMA_CPP_PYTHON


POINTS = [pytest.param(_making_data, id="during-data"), pytest.param(_checkpoint_written, id="during-train"),
          pytest.param(_evaluating, id="during-eval"),
          pytest.param(_exporting, id="during-export",
                       marks=pytest.mark.skipif(not _exported(), reason="llama.cpp is not installed"))]


@pytest.mark.slow
@pytest.mark.parametrize("point", POINTS)
def test_kill_9_then_resume(point, tiny_model, monkeypatch):
    monkeypatch.setenv("TINY", tiny_model)
    runs = Path(os.environ["TUNEPILOT_RUNS"])
    rid = f"k-{point.__name__.strip('_')}"
    _kill_when(rid, runs, point)
    folder = runs / rid
    before = _events(folder)
    assert not (folder / "decision.json").exists()
    out = _resume(rid)
    assert out["decision"] == "deploy" and out["iterations"] == 1  # what the uninterrupted run decides (test_run)
    ev = _events(folder)
    assert [e["seq"] for e in ev] == list(range(1, len(ev) + 1))  # nothing lost, nothing duplicated
    assert ev[: len(before)] == before  # what was recorded survives as it was
    assert [e["kind"] for e in ev].count("resumed") == 1
    done = [(e["tool"]) for e in ev if e["kind"] == "tool"]
    assert done.count("generate_data") == 1 and done.count("train") == 1 and done.count("evaluate") == 1
    assert done.count("export") == (1 if point is _exporting else 0)
    result = json.loads((folder / "artifacts" / "iter-1" / "train" / "result.json").read_text())
    if point is _checkpoint_written:
        assert result["resumed_from"] and result["resumed_from"].endswith("checkpoint-2") and result["steps"] == 4
    r = subprocess.run([sys.executable, "-m", "tunepilot.cli", "resume", rid], capture_output=True, text=True)
    assert r.returncode == 2 and "already finished" in r.stderr


@pytest.mark.slow
def test_killed_between_the_decision_and_finished_then_resumed(tiny_model, tmp_path):
    """A kill after the decision event and before `finished` (two appends a few ms apart): what it leaves
    is a journal that ends at the decision. Resume decides nothing again and trains nothing again."""
    runs_dir = Path(os.environ["TUNEPILOT_RUNS"])
    p = subprocess.run([sys.executable, "-m", "tunepilot.cli", "run", GOAL, "--model", tiny_model, "--run-id", "k-dec",
                        "--json", *SETTINGS], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr[-2000:]
    first = json.loads(p.stdout)
    folder = runs_dir / "k-dec"
    lines = (folder / "journal.jsonl").read_text().splitlines()
    cut = next(i for i, line in enumerate(lines) if json.loads(line)["kind"] == "decision") + 1
    (folder / "journal.jsonl").write_text("\n".join(lines[:cut]) + "\n")
    (folder / "decision.json").unlink()
    out = _resume("k-dec")
    assert out["decision"] == first["decision"] == "deploy" and out["evidence"] == first["evidence"]
    ev = _events(folder)
    assert [e["seq"] for e in ev] == list(range(1, len(ev) + 1))
    assert [e["kind"] for e in ev].count("decision") == 1 and [e["kind"] for e in ev][-2:] == ["resumed", "finished"]
    assert [e.get("tool") for e in ev if e["kind"] == "tool"].count("train") == 1
