"""The run state is a fold of the journal: what resume, show, approve and the planners read."""

import pytest

from agent import run as runs
from agent.journal import Journal, run_dir
from agent.schemas import Request
from agent.state import RunState
from tunepilot import TunepilotError


def test_resume_of_an_llm_planner_run_finds_its_key_variable(monkeypatch):
    """Old defect: api_key_env (a variable *name*) was masked to ***, so resume looked up $*** and
    silently fell back to the playbook."""
    folder = run_dir("s-llm")
    j = Journal(folder)
    j.log("user", "goal", input={"goal": "tool calls", "planner": "llm", "base_url": "http://127.0.0.1:9/v1",
                                 "api_key_env": "TP_TEST_KEY_VAR"})
    j.close()
    assert RunState.replay(Journal.read(folder)).goal.api_key_env == "TP_TEST_KEY_VAR"
    seen = {}

    def openai_model(base_url, model, key_env):
        seen.update(base_url=base_url, key_env=key_env)
        raise TunepilotError("stop here: the planner's model is all this test needs")

    monkeypatch.setattr("tunepilot.agent.llm_planner.openai_model", openai_model)
    with pytest.raises(TunepilotError, match="stop here"):
        runs.resume("s-llm")
    assert seen == {"base_url": "http://127.0.0.1:9/v1", "key_env": "TP_TEST_KEY_VAR"}


def test_the_training_config_follows_the_journal():
    req = Request(goal="g")
    ev = [{"seq": 1, "time": "2026-12-02T00:00:00+00:00", "actor": "user", "kind": "goal", "input": {"goal": "g"}},
          {"seq": 2, "time": "2026-12-02T00:00:01+00:00", "actor": "system", "kind": "request",
           "output": {"request": req.model_dump(mode="json")}},
          {"seq": 3, "time": "2026-12-02T00:00:02+00:00", "actor": "planner:playbook", "kind": "iterate",
           "input": {"rule": "raise_rank"}, "output": {"rank": {"from": 16, "to": 32},
                                                       "dataset.n_examples": {"from": 300, "to": 600}}}]
    s = RunState.replay(ev)
    assert s.config.rank == 32 and s.config.learning_rate == 1e-3  # the request's, resolved, then the change
    assert s.n_examples == 600 and s.data_due and s.used_rules == {"raise_rank": 1} and s.iterated
    assert s.status == "running" and s.elapsed_s == 2.0 and s.problems == []
