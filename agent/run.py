"""A whole run: goal -> request -> planner -> decision; then a person approves or rejects.

    tunepilot run "Make SmolLM2 better at calling coding tools: at least 90% success, under 5 s per answer"
    tunepilot runs
    tunepilot show r-20261122-101500-ab12
    tunepilot approve r-20261122-101500-ab12      # only on a deploy decision
    tunepilot reject r-20261122-101500-ab12 --why "latency measured on the wrong machine"
"""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from tunepilot.agent.approval import approve, load_state, reject, render, summary  # noqa: F401 (the CLI's verbs)
from tunepilot.agent.events import GoalInput
from tunepilot.agent.journal import Journal, existing_run_dir, new_run_id, run_dir, runs_root, write_json
from tunepilot.agent.records import Rejected, Stopped
from tunepilot.agent.schemas import Hardware, validate_file
from tunepilot.agent.state import RunState
from tunepilot.agent.toolbox import Toolbox
from tunepilot import TunepilotError
from tunepilot.redact import no_userinfo


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


def check_goal(goal: str, *, model: str | None = None, overrides: dict | None = None, **rest) -> GoalInput:
    """The goal and its flags, validated: every bad value fails here (one line naming the field, its
    bound and unit), before a run folder exists."""
    from tunepilot.agent.goal import parse_goal

    if not goal.strip():
        raise TunepilotError("GOAL: empty; say what the model should get better at and the bars to meet")
    g = GoalInput(goal=goal, model=model, overrides=overrides or {}, **rest)
    try:
        no_userinfo(g.base_url)
    except ValueError as e:
        raise TunepilotError(f"--base-url: {e}") from None
    try:
        parse_goal(goal, model=model, overrides=overrides)
    except ValueError as e:
        raise _goal_error(e) from None
    return g


def _goal_error(e: ValueError) -> TunepilotError:
    """One line for a bad goal: the phrase/flag message, or the request's first invalid field
    (a dataset format without a path, crossed bands)."""
    if isinstance(e, ValidationError):
        err = e.errors()[0]
        where = ".".join(str(x) for x in err["loc"]) or "request"
        return TunepilotError(f"{where}: {err['msg'].removeprefix('Value error, ')}")
    return TunepilotError(str(e))


def start(goal: str, *, model: str | None = None, planner: str = "playbook", base_url: str | None = None,
          llm_model: str = "gpt-4o-mini", api_key_env: str = "OPENAI_API_KEY", overrides: dict | None = None,
          runs: Path | None = None, run_id: str | None = None, progress=None, echo=None) -> dict:
    """Run the autopilot for a goal; returns decision.json's content (run_id, decision, reasons, status, ...)."""
    g = check_goal(goal, model=model, planner=planner, base_url=base_url, llm_model=llm_model,
                   api_key_env=api_key_env, overrides=overrides)
    folder = run_dir(run_id or new_run_id(), runs)
    if folder.exists() and any(folder.iterdir()):
        raise TunepilotError(f"run {folder.name} already exists; use `tunepilot resume {folder.name}` or a new id")
    journal = Journal(folder, echo=echo)
    journal.log("user", "goal", input=g.model_dump())
    return _launch(folder, journal, progress)


def resume(run_id: str, runs: Path | None = None, progress=None, echo=None) -> dict:
    """Continue a run that was interrupted (kill -9, power loss): finished steps are not redone,
    a cut-off training continues from its last checkpoint, the journal's sequence continues."""
    folder = existing_run_dir(run_id, runs)
    journal = Journal(folder, echo=echo)  # the run lock: a second resume gets "in use by pid N"
    state = RunState.replay(journal.events, run_id=folder.name)
    if state.finished is not None or state.rejection:
        journal.close()
        raise TunepilotError(f"run {run_id}: already finished ({state.decision.action if state.decision else 'no decision'}, "
                             f"{state.status}); nothing to resume")
    if state.goal is None:
        journal.close()
        raise TunepilotError(f"run {run_id}: its journal has no goal event; start a new run")
    journal.log("system", "resumed", rationale=f"resumed after an interruption at event {journal.next_seq - 1}; "
                                               f"finished steps kept: {', '.join(state.tools_done) or 'none'}")
    return _launch(folder, journal, progress)


def _launch(folder: Path, journal: Journal, progress) -> dict:
    """The one path of `start` and `resume`: the state from the journal, the request (read from the goal
    when the journal has none yet), the machine, the planner; then the decision rendered."""
    from tunepilot.agent.goal import goal_to_request
    from tunepilot.memory.store import Memory, detect_hardware

    try:
        state = RunState.replay(journal.events, run_id=folder.name)
        journal.listeners.append(state.fold)
        g = state.goal
        hw = detect_hardware()
        llm = None
        if g.planner == "llm":
            from tunepilot.agent.llm_planner import openai_model

            llm = openai_model(g.base_url, g.llm_model, g.api_key_env)
        memory = Memory()
        if state.request is None:
            try:
                request, how = goal_to_request(g.goal, llm=llm, model=g.model, hardware=_hardware(hw),
                                               overrides=g.overrides)
            except ValueError as e:
                raise _goal_error(e) from None
            start_point = memory.starting_point(request.base_model, hw)
            if start_point and start_point.get("max_ok_batch_size") and request.training_config.batch_size is None:
                request.training_config.batch_size = start_point["max_ok_batch_size"]
                request.assumptions.append(f"memory: batch_size {start_point['max_ok_batch_size']} from past runs on "
                                           f"this machine ({start_point['why']})")
            write_json(folder / "request.json", request.model_dump(mode="json"))  # a rendering of the event below
            validate_file("request", folder / "request.json")
            journal.log("system", "request", tool=f"goal_to_request:{how}",
                        output={"base_model": request.base_model, "criteria": request.criteria.model_dump(),
                                "budget": request.budget.model_dump(), "hardware": hw,
                                "assumptions": request.assumptions, "request": request.model_dump(mode="json")},
                        rationale=f"goal read by the {how} parser: "
                                  f"{sum(a.startswith('stated') for a in request.assumptions)} values stated, "
                                  f"{sum(a.startswith('assumed') for a in request.assumptions)} assumed (listed below)")
            if start_point:
                journal.log("system", "memory", output={k: v for k, v in start_point.items() if k != "config"},
                            rationale=f"starting point from memory: {start_point['why']}")
            _log_machine(journal, memory, hw, request.training_config.precision)
        tb = Toolbox(folder, journal, state, actor=f"planner:{g.planner}", progress=progress, memory=memory, hardware=hw)
        try:
            if g.planner == "llm":
                from tunepilot.agent.llm_planner import LLMPlanner

                LLMPlanner(llm).run(tb)
            else:
                from tunepilot.agent.planner import PlaybookPlanner

                PlaybookPlanner().run(tb)
        except Rejected:
            pass  # a person said no while it ran: the rejection stands, the run ends here
        except Stopped:
            if not state.decisions:
                raise
        return finish(folder, journal, state)
    finally:
        journal.close()


def finish(folder: Path, journal: Journal, state: RunState) -> dict:
    """The `finished` event, then decision.json rendered from the state (a rejection stays a rejection)."""
    journal.refresh()
    d = state.decision
    journal.log("system", "finished", decision=d.action if d else None,
                output={"status": "rejected" if state.rejection else
                        ("awaiting_approval" if d and d.action == "deploy" else "final"),
                        "iterations": state.iteration, "elapsed_s": round(state.elapsed_s, 1)},
                rationale=(f"rejected by {state.rejection.by}: {state.rejection.why}" if state.rejection else
                           (d.next_step or "; ".join(d.reasons)) if d else "no decision"))
    return render(folder, state)


def load(run_id: str, runs: Path | None = None) -> tuple[Path, dict]:
    """A run's folder and its summary, derived from the journal (decision.json is never read)."""
    folder, state = load_state(run_id, runs)
    return folder, summary(folder, state) if state.decisions or state.finished else {}


def list_runs(runs: Path | None = None) -> list[dict]:
    root = runs_root(runs)
    out = []
    for folder in sorted(root.iterdir() if root.exists() else [], reverse=True):
        if not (folder / "journal.jsonl").exists():
            continue
        state = RunState.replay(Journal.read(folder), run_id=folder.name)
        out.append({"run_id": folder.name, "goal": state.goal.goal if state.goal else None,
                    "model": state.request.base_model if state.request else None,
                    "decision": state.decision.action if state.decision else None,
                    "status": "running or interrupted" if state.status == "running" else state.status})
    return out
