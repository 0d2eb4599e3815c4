"""A run's state, derived from its journal and from nothing else.

    state = RunState.replay(Journal.read(folder))       # show, approve, reject, resume
    journal.listeners.append(state.fold)                 # a live run: every event folds in as it is written

`decision.json` and `plan.json` are renderings of this state; a hand edit of them changes nothing.
The toolbox and both planners read the state (data, iterations, the current training config, the
latest decision); `approve` reads the latest decision and its evidence hashes from it.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from tunepilot.agent.events import DecisionOutput, GoalInput
from tunepilot.agent.records import DataSummary, EvalSummary, ExportSummary, TrainSummary
from tunepilot.agent.schemas import Decision, Request
from tunepilot.config import TrainingConfig


class Approval(BaseModel):
    by: str
    time: str
    bundle: str
    evidence: dict[str, str]


class Rejection(BaseModel):
    by: str
    time: str
    why: str


class RunState(BaseModel):
    run_id: str | None = None
    goal: GoalInput | None = None
    request: Request | None = None
    config: TrainingConfig | None = None  # the current training config: the request's, then each change
    n_examples: int | None = None
    data_due: bool = False  # a playbook step asked for more data, not generated yet
    data: DataSummary | None = None
    iteration: int = 0  # the latest iteration whose training finished (a cut-off one is redone in its folder)
    trained: TrainSummary | None = None
    evaluated: EvalSummary | None = None
    exported: ExportSummary | None = None
    base: dict | None = None  # the untuned model on the same items (first evaluation of the run)
    decisions: list[Decision] = []
    decision_records: list[DecisionOutput] = []  # what each decision judged (iteration, evidence hashes)
    eval_s: list[float] = []
    export_s: list[float] = []
    used_rules: dict[str, int] = {}  # playbook rules applied so far
    iterated: bool = False  # a playbook step was taken after the latest decision (the next training is due)
    finished: str | None = None  # the action of the last `finished` event
    approval: Approval | None = None
    rejection: Rejection | None = None
    deploy_failures: int = 0
    last_seq: int = 0
    first_time: str | None = None
    last_time: str | None = None
    tools_done: list[str] = []
    problems: list[str] = []  # events that could not be folded (a journal from an older version, a hand edit)

    @classmethod
    def replay(cls, events: list[dict], run_id: str | None = None) -> "RunState":
        state = cls(run_id=run_id)
        for e in events:
            try:
                state.fold(e)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                state.problems.append(f"event {e.get('seq')} ({e.get('kind')}): {type(exc).__name__}: {exc}")
        return state

    @property
    def status(self) -> str:
        """running (or interrupted) | awaiting_approval | approved | rejected | final."""
        if self.rejection:
            return "rejected"
        if self.approval:
            return "approved"
        if self.finished is None:
            return "running"
        return "awaiting_approval" if self.finished == "deploy" else "final"

    @property
    def decision(self) -> Decision | None:
        return self.decisions[-1] if self.decisions else None

    @property
    def decided(self) -> Decision | None:
        """The latest decision when it judged the latest trained iteration (else one is still due)."""
        rec = self.decision_record
        return self.decisions[-1] if rec is not None and rec.iteration == self.iteration and self.iteration else None

    @property
    def decision_record(self) -> DecisionOutput | None:
        return self.decision_records[-1] if self.decision_records else None

    @property
    def elapsed_s(self) -> float:
        if not self.first_time:
            return 0.0
        return (datetime.fromisoformat(self.last_time) - datetime.fromisoformat(self.first_time)).total_seconds()

    def fold(self, e: dict) -> None:
        """One event into the state (events arrive in seq order)."""
        kind, tool, out, inp = e["kind"], e.get("tool"), e.get("output") or {}, e.get("input") or {}
        self.last_seq = e["seq"]
        self.first_time = self.first_time or e["time"]
        self.last_time = e["time"]
        if kind == "goal":
            self.goal = GoalInput.model_validate(inp)
        elif kind == "request" and out.get("request"):
            self.request = Request.model_validate(out["request"])
            self.config = self.request.training_config.resolved()
            self.n_examples = self.request.dataset.n_examples
        elif kind == "tool_start" and tool == "train":
            self.config = TrainingConfig.model_validate(inp["config"])
        elif kind == "tool":
            self.tools_done.append(tool)
            if tool == "generate_data":
                self.data = DataSummary.model_validate(out)
                self.n_examples = sum(self.data.splits.values())
                self.data_due = False
            elif tool == "train":
                self.trained = TrainSummary.model_validate(out)
                self.iteration = self.trained.iteration
                if self.trained.config:  # the config that trained, fixes from the fault ladder included
                    self.config = TrainingConfig.model_validate(self.trained.config)
            elif tool == "evaluate":
                self.evaluated = EvalSummary.model_validate(out)
                if self.evaluated.wall_s:
                    self.eval_s.append(self.evaluated.wall_s)
                self.base = self.evaluated.base or self.base
            elif tool == "export":
                self.exported = ExportSummary.model_validate(out)
                if self.exported.wall_s:
                    self.export_s.append(self.exported.wall_s)
        elif kind == "decision":
            rec = DecisionOutput.model_validate(out)
            self.decision_records.append(rec)
            self.iterated = False
            self.decisions.append(Decision(action=e["decision"], reasons=rec.reasons, failing=rec.failing,
                                           metrics=rec.metrics, criteria=self.request.criteria,
                                           next_step=out.get("next_step")))
        elif kind == "iterate":
            self.used_rules[inp["rule"]] = self.used_rules.get(inp["rule"], 0) + 1
            self.iterated = True
            update = {k: v["to"] for k, v in out.items() if k in TrainingConfig.model_fields}
            if update and self.config is not None:
                self.config = TrainingConfig.model_validate(self.config.model_dump() | update)
            if "dataset.n_examples" in out:
                self.n_examples = out["dataset.n_examples"]["to"]
                self.data_due = True
        elif kind == "stop" and tool == "planner" and self.decisions and self.decisions[-1].action == "iterate":
            self.decisions[-1] = self.decisions[-1].model_copy(update={"next_step": e["rationale"]})
        elif kind == "finished":
            self.finished = e["decision"]
        elif kind == "approval":
            self.approval = Approval(by=e["actor"].removeprefix("user:"), time=e["time"], bundle=out["bundle"],
                                     evidence=out["evidence"])
        elif kind == "rejection":
            self.rejection = Rejection(by=e["actor"].removeprefix("user:"), time=e["time"], why=e["rationale"])
        elif kind == "deploy_failed":
            self.deploy_failures += 1
