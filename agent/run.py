"""A whole run: goal -> request -> planner -> decision; then a person approves or rejects.

    tunepilot run "Make SmolLM2 better at calling coding tools: at least 90% success, under 5 s per answer"
    tunepilot runs
    tunepilot show r-20261122-101500-ab12
    tunepilot approve r-20261122-101500-ab12      # only on a deploy decision
    tunepilot reject r-20261122-101500-ab12 --why "latency measured on the wrong machine"
"""

from __future__ import annotations

import getpass
import hashlib
import json
import shutil
from pathlib import Path

from agent.journal import Journal, new_run_id, now, run_dir, runs_root, write_json
from agent.schemas import Decision, Hardware, validate_file
from agent.toolbox import Toolbox
from tunepilot import TunepilotError


def _hardware(hw: dict) -> Hardware:
    return Hardware(gpus=hw.get("gpus", 0), vram_per_gpu=f"{hw['vram_gb']:.0f}GB" if hw.get("vram_gb") else None,
                    cpus=hw.get("cpus"), ram_gb=hw.get("ram_gb"))


def _log_machine(journal: Journal, memory, hw: dict, precision: str) -> None:
    """What this machine computes in and why, with its measured matmul rates (one journal line)."""
    from tunepilot.precision import choose_precision, cpu_info

    cuda = hw.get("device") == "cuda"
    p = choose_precision(precision, "cuda" if cuda else "cpu")
    cpu = cpu_info()
    out = {"cpu": cpu.kind, "cores": cpu.cores, "threads": cpu.threads, "precision": p.model_dump()}
    if not cuda:
        probe = memory.cpu_probe()
        out["matmul_gflops"] = {"fp32": probe.get("fp32_gflops"), "bf16": probe.get("bf16_gflops")}
    journal.log("system", "machine", output=out, rationale=f"{p.reason} (CPU: {cpu.kind})")


def start(goal: str, *, model: str | None = None, planner: str = "playbook", base_url: str | None = None,
          llm_model: str = "gpt-4o-mini", api_key_env: str = "OPENAI_API_KEY", overrides: dict | None = None,
          runs: Path | None = None, run_id: str | None = None, progress=None, echo=None) -> dict:
    """Run the autopilot for a goal; returns {run_id, decision, reasons, next_step, folder}."""
    from agent.goal import goal_to_request
    from memory.store import Memory, detect_hardware

    if not goal.strip():
        raise TunepilotError("GOAL: empty; say what the model should get better at and the bars to meet")
    folder = run_dir(run_id or new_run_id(), runs)
    if folder.exists() and any(folder.iterdir()):
        raise TunepilotError(f"run {folder.name} already exists; use `tunepilot resume {folder.name}` or a new id")
    journal = Journal(folder)
    journal.echo = echo
    journal.log("user", "goal", input={"goal": goal, "model": model, "planner": planner, "base_url": base_url,
                                        "llm_model": llm_model, "api_key_env": api_key_env,
                                        "overrides": overrides or {}})
    hw = detect_hardware()
    llm = None
    if planner == "llm":
        from agent.llm_planner import openai_model

        llm = openai_model(base_url, llm_model, api_key_env)
    request, how = goal_to_request(goal, llm=llm, model=model, hardware=_hardware(hw), overrides=overrides)
    memory = Memory()
    start_point = memory.starting_point(request.base_model, hw)
    if start_point and start_point.get("max_ok_batch_size") and request.training_config.batch_size is None:
        request.training_config.batch_size = start_point["max_ok_batch_size"]
        request.assumptions.append(f"memory: batch_size {start_point['max_ok_batch_size']} from past runs on this "
                                   f"machine ({start_point['why']})")
    write_json(folder / "request.json", request.model_dump(mode="json"))
    validate_file("request", folder / "request.json")
    journal.log("system", "request", tool=f"goal_to_request:{how}",
                output={"base_model": request.base_model, "criteria": request.criteria.model_dump(),
                        "budget": request.budget.model_dump(), "hardware": hw, "assumptions": request.assumptions},
                rationale=f"goal read by the {how} parser: "
                          f"{sum(a.startswith('stated') for a in request.assumptions)} values stated, "
                          f"{sum(a.startswith('assumed') for a in request.assumptions)} assumed (listed below)")
    if start_point:
        journal.log("system", "memory", output={k: v for k, v in start_point.items() if k != "config"},
                    rationale=f"starting point from memory: {start_point['why']}")
    _log_machine(journal, memory, hw, request.training_config.precision)
    tb = Toolbox(folder, request, journal, actor=f"planner:{planner}", progress=progress, memory=memory, hardware=hw)
    if planner == "llm":
        from agent.llm_planner import LLMPlanner

        decision = LLMPlanner(llm).run(tb)
    else:
        from agent.planner import PlaybookPlanner

        decision = PlaybookPlanner().run(tb)
    return finish(folder, journal, decision, tb)


def resume(run_id: str, runs: Path | None = None, progress=None, echo=None) -> dict:
    """Continue a run that was interrupted (kill -9, power loss): finished steps are not redone,
    a cut-off training continues from its last checkpoint, the journal's sequence continues."""
    from agent.goal import goal_to_request
    from agent.schemas import Request
    from memory.store import Memory, detect_hardware

    folder, dec = load(run_id, runs)
    if dec:
        raise TunepilotError(f"run {run_id}: already finished ({dec['decision']}, {dec['status']}); nothing to resume")
    journal = Journal(folder, echo=echo)
    goal = journal.events[0]["input"]
    hw = detect_hardware()
    llm = None
    if goal.get("planner") == "llm":
        from agent.llm_planner import openai_model

        llm = openai_model(goal.get("base_url"), goal.get("llm_model") or "gpt-4o-mini",
                           goal.get("api_key_env") or "OPENAI_API_KEY")
    if (folder / "request.json").exists():
        request = Request.model_validate_json((folder / "request.json").read_text())
    else:  # killed before the request was written: read the goal again
        request, how = goal_to_request(goal["goal"], llm=llm, model=goal.get("model"), hardware=_hardware(hw),
                                       overrides=goal.get("overrides"))
        write_json(folder / "request.json", request.model_dump(mode="json"))
        journal.log("system", "request", tool=f"goal_to_request:{how}", output={"assumptions": request.assumptions})
    validate_file("request", folder / "request.json")
    done = [e["tool"] for e in journal.events if e["kind"] == "tool"]
    journal.log("system", "resumed", rationale=f"resumed after an interruption at event {journal.next_seq - 1}; "
                                               f"finished steps kept: {', '.join(done) or 'none'}")
    planner = goal.get("planner", "playbook")
    tb = Toolbox(folder, request, journal, actor=f"planner:{planner}", progress=progress, memory=Memory(), hardware=hw)
    tb.replay(journal.events)
    if planner == "llm":
        from agent.llm_planner import LLMPlanner

        decision = LLMPlanner(llm).run(tb)
    else:
        from agent.planner import PlaybookPlanner

        decision = PlaybookPlanner().run(tb)
    return finish(folder, journal, decision, tb)


def finish(folder: Path, journal: Journal, decision: Decision, tb: Toolbox) -> dict:
    status = "awaiting_approval" if decision.action == "deploy" else "final"
    out = {"run_id": folder.name, "decision": decision.action, "reasons": decision.reasons,
           "next_step": decision.next_step, "iterations": tb.iteration, "status": status,
           "adapter": tb.trained.adapter if tb.trained else None, "metrics": decision.metrics,
           "base": tb.base, "elapsed_s": round(tb.elapsed_s(), 1), "folder": str(folder),
           "export": tb.exported.model_dump() if tb.exported and tb.exported.iteration == tb.iteration else None}
    write_json(folder / "decision.json", out)
    journal.log("system", "finished", decision=decision.action, output={"status": status, "iterations": tb.iteration,
                                                                       "elapsed_s": out["elapsed_s"]},
                rationale=decision.next_step or "; ".join(decision.reasons))
    return out


def load(run_id: str, runs: Path | None = None) -> tuple[Path, dict]:
    folder = run_dir(run_id, runs)
    if not (folder / "journal.jsonl").exists():
        raise TunepilotError(f"run {run_id}: not found under {runs_root(runs)}")
    d = folder / "decision.json"
    return folder, json.loads(d.read_text()) if d.exists() else {}


def approve(run_id: str, who: str | None = None, runs: Path | None = None) -> dict:
    """A person approves a deploy decision; deployment follows (the deploy bundle)."""
    folder, dec = load(run_id, runs)
    if dec.get("decision") != "deploy":
        raise TunepilotError(f"run {run_id}: decision is {dec.get('decision') or 'not reached yet'}, not deploy; "
                             "only a deploy decision can be approved")
    if dec.get("status") != "awaiting_approval":
        raise TunepilotError(f"run {run_id}: already {dec.get('status')}")
    who = who or getpass.getuser()
    journal = Journal(folder)
    journal.log(f"user:{who}", "approval", decision="deploy", rationale=f"approved by {who} at {now()}")
    bundle = deploy(folder, dec)
    dec |= {"status": "approved", "approved_by": who, "approved_at": now(), "bundle": str(bundle)}
    write_json(folder / "decision.json", dec)
    journal.log("system", "deployed", tool="deploy", output={"bundle": str(bundle),
                                                            "files": sorted(p.name for p in bundle.iterdir())})
    return dec


def reject(run_id: str, why: str, who: str | None = None, runs: Path | None = None) -> dict:
    folder, dec = load(run_id, runs)
    if not why.strip():
        raise TunepilotError("--why: say why the run is rejected (it goes in the journal)")
    if dec.get("status") in ("approved", "rejected"):
        raise TunepilotError(f"run {run_id}: already {dec['status']}")
    who = who or getpass.getuser()
    Journal(folder).log(f"user:{who}", "rejection", decision="reject", rationale=why)
    dec |= {"status": "rejected", "rejected_by": who, "rejected_at": now(), "why": why}
    write_json(folder / "decision.json", dec)
    return dec


def deploy(folder: Path, dec: dict) -> Path:
    """The deploy bundle: the exported GGUF and its Modelfile (when the run exported), the adapter,
    the export report, a model card and checksums. Built in a temp folder, then renamed."""
    bundle, tmp = folder / "deploy", folder / "deploy.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    x = dec.get("export")
    if x:
        shutil.copy2(x["gguf"], tmp / Path(x["gguf"]).name)  # the Modelfile's FROM ./<this file>
        shutil.copy2(x["modelfile"], tmp / "Modelfile")
        shutil.copy2(x["report"], tmp / "export_report.json")
    if dec.get("adapter"):
        shutil.copytree(dec["adapter"], tmp / "adapter")
    (tmp / "MODEL_CARD.md").write_text(model_card(folder, dec))
    sums = []
    for p in sorted(tmp.rglob("*")):
        if p.is_file():
            sums.append(f"{_sha256(p)}  {p.relative_to(tmp)}")
    (tmp / "SHA256SUMS").write_text("\n".join(sums) + "\n")
    shutil.rmtree(bundle, ignore_errors=True)
    tmp.rename(bundle)
    return bundle


def model_card(folder: Path, dec: dict) -> str:
    request = json.loads((folder / "request.json").read_text())
    m, b, x = dec.get("metrics", {}), dec.get("base") or {}, dec.get("export")
    tc = request["training_config"]
    data = {}
    cfg = Path(dec["adapter"]).parent / "training_config.json" if dec.get("adapter") else None
    if cfg and cfg.exists():
        meta_file = Path(json.loads(cfg.read_text())["data"]) / "metadata.json"
        if meta_file.exists():
            meta = json.loads(meta_file.read_text())
            data = {"folder": str(meta_file.parent), "splits": meta.get("splits"), "teacher": meta.get("teacher"),
                    "seed": meta.get("seed"), "content_hash": meta.get("content_hash")}
    lines = [
        f"# {request['base_model']} + tunepilot {tc['method'].upper()} ({folder.name})", "",
        f"Goal: {request['goal']}", "",
        f"- Base model: {request['base_model']}",
        f"- Data: {json.dumps(data or request['dataset'])}",
        f"- Training: {json.dumps(tc)}; {dec.get('iterations')} iteration(s)",
        f"- Deployed artifact: {Path(x['gguf']).name} ({x['quant'].upper()}, llama.cpp), Modelfile alongside"
        if x else "- Deployed artifact: LoRA adapter (no GGUF export in this run)",
        f"- Decision judged on: {m.get('runtime', 'transformers')}", "",
        f"| metric | base (before, transformers) | tuned (after, {m.get('runtime', 'transformers')}) |", "|---|---|---|",
        f"| success | {b.get('success_rate')} | {m.get('success_rate')} |",
        f"| latency avg s | {b.get('latency_avg_s')} | {m.get('latency_avg_s')} |",
        f"| memory GB | - | {m.get('memory_gb')} |", "",
    ]
    if x:
        lines += ["Quantization ladder:", ""] + [f"- {s['quant'].upper()}: {s['why']}" for s in x.get("ladder", [])] + [""]
    lines += ["Reasons: " + "; ".join(dec.get("reasons", [])), "", "Journal: ../journal.md (every step, with numbers)", ""]
    return "\n".join(lines)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def list_runs(runs: Path | None = None) -> list[dict]:
    root = runs_root(runs)
    out = []
    for folder in sorted(root.iterdir() if root.exists() else [], reverse=True):
        if not (folder / "journal.jsonl").exists():
            continue
        req = json.loads((folder / "request.json").read_text()) if (folder / "request.json").exists() else {}
        dec = json.loads((folder / "decision.json").read_text()) if (folder / "decision.json").exists() else {}
        out.append({"run_id": folder.name, "goal": req.get("goal"), "model": req.get("base_model"),
                    "decision": dec.get("decision"), "status": dec.get("status", "running or interrupted")})
    return out
