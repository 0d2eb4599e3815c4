"""The offline planner: seeds 002/004's policy, deterministic, no LLM.

data -> (plan -> estimate -> train -> evaluate -> [export] -> decide) per iteration; on "iterate" the
playbook (agent/playbook.yaml) picks the next change; it stops at deploy, abort, an exhausted
playbook or the budget. It picks up from whatever state the toolbox already holds, so the LLM
planner can fall back to it mid-run.
"""

from __future__ import annotations

from tunepilot.agent.playbook import next_step
from tunepilot.agent.records import BudgetExceeded, DataArgs, EvalArgs, TrainArgs
from tunepilot.agent.schemas import Decision
from tunepilot.agent.toolbox import Toolbox


class PlaybookPlanner:
    name = "playbook"

    def run(self, tb: Toolbox) -> Decision:
        if tb.data is None:
            tb.generate_data(DataArgs())
        args = TrainArgs()
        while True:
            if tb.trained is None or (tb.decisions and len(tb.decisions) >= tb.iteration):
                try:
                    tb.train(args)
                except BudgetExceeded as e:
                    return self._stop(tb, f"budget: {e}")
            if tb.evaluated is None or tb.evaluated.iteration != tb.iteration:
                tb.evaluate(EvalArgs())
            d = tb.decide() if len(tb.decisions) < tb.iteration else tb.decisions[-1]
            if d.action != "iterate":
                return d
            skipped: list[str] = []
            step = next_step(set(d.failing), tb.config, dict(tb.state.used_rules), set(tb.trained.signals), skipped,
                             n_examples=tb.n_examples)
            if skipped:
                tb.journal.log(tb.actor, "note", rationale="playbook rules skipped: " + "; ".join(skipped))
            if step is None:
                return self._stop(tb, "the playbook has no further change for " + ", ".join(d.failing))
            if tb.iteration >= tb.request.budget.max_iterations:
                return self._stop(tb, f"iteration budget spent ({tb.iteration}); next would be {step.id}")
            # the iterate event is the change: the run state folds it into the training config
            tb.journal.log(tb.actor, "iterate", tool="playbook", input={"rule": step.id},
                           output={k: {"from": a, "to": b} for k, (a, b) in step.changes.items()},
                           rationale=step.rationale)
            if "dataset.n_examples" in step.changes:
                tb.generate_data(DataArgs(n_examples=step.extra["dataset.n_examples"]))
            args = TrainArgs()

    @staticmethod
    def _stop(tb: Toolbox, why: str) -> Decision:
        """Stop with the last decision (the criteria's verdict stands), noting why iteration ended."""
        tb.journal.log(tb.actor, "stop", rationale=why)
        if not tb.decisions:
            raise BudgetExceeded(f"no iteration could run: {why}")
        last = tb.decisions[-1]
        if last.action == "iterate":
            last = last.model_copy(update={"next_step": why})
        return last
