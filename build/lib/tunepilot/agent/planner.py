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
        while True:
            if tb.trained is None:  # the first iteration (or one a kill cut off: it continues from its checkpoint)
                try:
                    tb.train(TrainArgs())
                except BudgetExceeded as e:
                    return self._stop(tb, f"budget: {e}")
            if tb.evaluated is None or tb.evaluated.iteration != tb.iteration:
                tb.evaluate(EvalArgs())
            d = tb.state.decided or tb.decide()
            if d.action != "iterate":
                return d
            if not tb.state.iterated:  # no playbook step taken since this decision yet (a resumed run may have one)
                skipped: list[str] = []
                step = next_step(set(d.failing), tb.config, dict(tb.state.used_rules), set(tb.trained.signals),
                                 skipped, n_examples=tb.n_examples)
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
            if tb.state.data_due:  # more_data: the new size is in the state
                tb.generate_data(DataArgs(n_examples=tb.n_examples))
            try:
                tb.train(TrainArgs())
            except BudgetExceeded as e:
                return self._stop(tb, f"budget: {e}")

    @staticmethod
    def _stop(tb: Toolbox, why: str) -> Decision:
        """Stop with the last decision (the criteria's verdict stands), noting why iteration ended."""
        tb.journal.log(tb.actor, "stop", tool="planner", rationale=why)  # the state keeps `why` as the next step
        if not tb.decisions:
            raise BudgetExceeded(f"no iteration could run: {why}")
        last = tb.decisions[-1]
        if last.action == "iterate":
            last = last.model_copy(update={"next_step": why})
        return last
