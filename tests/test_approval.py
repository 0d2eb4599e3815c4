"""Approval is bound to evidence: it reads the run state derived from the journal (never
decision.json), checks the judged artifacts' hashes, journals the approval only after the bundle is
built and verified; a rejection is never overwritten. Each test reproduces a defect of the old code."""

import json
import os

import pytest

from tunepilot.agent import run as runs
from tunepilot.agent.approval import approve, reject
from tunepilot.agent.evidence import artifacts, hashes
from tunepilot.agent.journal import Journal, run_dir
from tunepilot.agent.schemas import Request
from tunepilot.agent.state import RunState
from tunepilot import TunepilotError


def _events(folder):
    return [json.loads(line) for line in (folder / "journal.jsonl").read_text().splitlines()]


def _run(run_id: str, action: str = "deploy", finished: bool = True) -> tuple:
    """A run's journal as the toolbox writes it, on a small real adapter folder (files only: approving
    and bundling never load the model)."""
    folder = run_dir(run_id)
    adapter = folder / "artifacts" / "iter-1" / "train" / "adapter"
    adapter.mkdir(parents=True)
    (adapter / "adapter_config.json").write_text('{"r": 16}\n')
    (adapter / "adapter_model.safetensors").write_bytes(b"\0weights" * 100)
    request = Request(goal="tool calls")
    j = Journal(folder)
    j.log("user", "goal", input={"goal": request.goal})
    j.log("system", "request", output={"request": request.model_dump(mode="json")})
    j.log("planner:playbook", "tool", tool="train", output={
        "iteration": 1, "adapter": str(adapter), "steps": 2, "train_loss": 1.0, "eval_loss": 1.0, "tokens_per_s": 1.0,
        "peak_memory_gb": 1.0, "wall_s": 1.0, "stopped_early": False, "signals": [], "estimate": {}})
    j.log("planner:playbook", "decision", tool="decide", decision=action, rationale="numbers",
          output={"metrics": {"success_rate": 1.0, "latency_avg_s": 1.0, "memory_gb": 1.0}, "reasons": ["numbers"],
                  "failing": [] if action == "deploy" else ["success"], "iteration": 1, "adapter": str(adapter),
                  "evidence": hashes(artifacts(str(adapter), None))})
    if finished:
        runs.finish(folder, j, RunState.replay(j.events))
    j.close()
    return folder, adapter


def test_approve_builds_and_verifies_the_bundle_then_journals_the_approval(tmp_path):
    folder, adapter = _run("t-ok")
    out = approve("t-ok", who="alice")
    assert out["status"] == "approved" and out["approved_by"] == "alice"
    kinds = [e["kind"] for e in _events(folder)]
    assert kinds[-2:] == ["approval", "deployed"]
    approval = _events(folder)[-2]
    assert set(approval["output"]["evidence"]) == {str(p) for p in adapter.iterdir()}
    sums = (folder / "deploy" / "SHA256SUMS").read_text()
    for path, digest in approval["output"]["evidence"].items():
        assert f"{digest}  adapter/{path.rsplit('/', 1)[1]}" in sums
    with pytest.raises(TunepilotError, match="already approved"):
        approve("t-ok")


def test_a_hand_edited_decision_json_cannot_deploy(tmp_path):
    """Old defect: approve read only decision.json; editing iterate -> deploy deployed any folder."""
    folder, _ = _run("t-edit", action="iterate")
    other = tmp_path / "somewhere-else"
    other.mkdir()
    (other / "payload.bin").write_bytes(b"not what was judged")
    dec = json.loads((folder / "decision.json").read_text())
    dec |= {"decision": "deploy", "status": "awaiting_approval", "adapter": str(other)}
    (folder / "decision.json").write_text(json.dumps(dec))
    with pytest.raises(TunepilotError, match="decision is iterate, not deploy"):
        approve("t-edit")
    assert not (folder / "deploy").exists() and "approval" not in [e["kind"] for e in _events(folder)]


def test_an_artifact_changed_after_the_decision_cannot_deploy(tmp_path):
    folder, adapter = _run("t-swap")
    (adapter / "adapter_model.safetensors").write_bytes(b"retrained behind the reviewer's back")
    with pytest.raises(TunepilotError, match="judged artifacts changed: .*adapter_model.safetensors: changed"):
        approve("t-swap")
    assert not (folder / "deploy").exists() and RunState.replay(Journal.read(folder)).status == "awaiting_approval"


def test_a_reject_during_a_run_survives_finish(tmp_path):
    """Old defect: finish() rewrote decision.json over a rejection, and approve then succeeded."""
    folder, _ = _run("t-live", finished=False)
    j = Journal(folder)  # the live run's driver
    reject("t-live", "wrong data", who="bob")  # from another terminal, while the run holds its lock
    out = runs.finish(folder, j, RunState.replay(Journal.read(folder)))
    j.close()
    assert out["status"] == "rejected" and out["rejected_by"] == "bob"
    assert json.loads((folder / "decision.json").read_text())["status"] == "rejected"
    with pytest.raises(TunepilotError, match="already rejected"):
        approve("t-live")
    assert [e["seq"] for e in _events(folder)] == list(range(1, len(_events(folder)) + 1))


def test_a_failing_deploy_leaves_no_approval_and_the_run_awaiting_approval(tmp_path, monkeypatch):
    """Old defect: the approval was journaled before deploy() ran; a failing deploy left two approval
    events, the status still awaiting_approval and an uncaught FileNotFoundError."""
    folder, _ = _run("t-fail")
    import tunepilot.agent.approval as approval

    def disk_full(*a, **k):
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as m:
        m.setattr(approval.shutil, "copytree", disk_full)
        with pytest.raises(TunepilotError, match="deploy failed, nothing approved: .*No space left"):
            approve("t-fail")
    kinds = [e["kind"] for e in _events(folder)]
    assert "approval" not in kinds and kinds[-1] == "deploy_failed"
    assert RunState.replay(Journal.read(folder)).status == "awaiting_approval"
    assert not (folder / "deploy").exists() and not (folder / "deploy.partial").exists()
    assert approve("t-fail", who="alice")["status"] == "approved"  # once the disk has room again
    assert [e["kind"] for e in _events(folder)].count("approval") == 1


def test_show_and_runs_survive_a_damaged_journal_and_decision_json(tmp_path):
    folder, _ = _run("t-bad")
    (folder / "decision.json").write_text("{not json")
    with open(folder / "journal.jsonl", "a") as f:
        f.write("garbage\n")
    rows = runs.list_runs()
    assert rows[0]["run_id"] == "t-bad" and rows[0]["status"] == "awaiting_approval"
    _, dec = runs.load("t-bad")
    assert dec["decision"] == "deploy"


def test_ollama_create_runs_only_after_the_approval_under_the_runs_own_name(tmp_path, monkeypatch):
    """Old defect: the export step ran `ollama create tunepilot-iter-N` before any approval, so every run
    overwrote the last one's model."""
    from tunepilot.tools.export import ExportSpec

    assert ExportSpec(out=tmp_path / "x").ollama is False  # what the agent's export step uses
    calls = tmp_path / "ollama-calls.txt"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "ollama").write_text(f"#!/bin/sh\necho \"$@\" >> {calls}\n")
    (bin_dir / "ollama").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    folder, adapter = _run("t-ollama", finished=False)
    export = folder / "artifacts" / "iter-1" / "export"
    export.mkdir(parents=True)
    (export / "model-q4_k_m.gguf").write_bytes(b"GGUF" + b"\0" * 64)
    (export / "Modelfile").write_text("FROM ./model-q4_k_m.gguf\n")
    (export / "export_report.json").write_text("{}\n")
    x = {"gguf": str(export / "model-q4_k_m.gguf"), "modelfile": str(export / "Modelfile"), "quant": "q4_k_m",
         "report": str(export / "export_report.json"), "ladder": []}
    j = Journal(folder)
    j.log("planner:playbook", "decision", tool="decide", decision="deploy", rationale="numbers",
          output={"metrics": {"success_rate": 1.0, "latency_avg_s": 1.0, "memory_gb": 1.0}, "reasons": ["numbers"],
                  "iteration": 1, "adapter": str(adapter), "export": x, "evidence": hashes(artifacts(str(adapter), x))})
    runs.finish(folder, j, RunState.replay(j.events))
    j.close()
    assert not calls.exists()  # deciding deploy installs nothing
    approve("t-ollama", who="alice")
    assert calls.read_text().split()[:2] == ["create", "tunepilot-t-ollama"]
    kinds = [e["kind"] for e in _events(folder)]
    assert kinds.index("approval") < max(i for i, e in enumerate(_events(folder)) if e.get("tool") == "ollama")
    assert (folder / "deploy" / "model-q4_k_m.gguf").exists() and (folder / "deploy" / "Modelfile").exists()
