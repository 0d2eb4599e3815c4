"""Journal: append-only, fsynced, sequence continues after reopen, torn lines dropped, secrets masked."""

import json

import pytest

from agent.journal import Journal, redact, run_dir
from tunepilot import TunepilotError


def test_sequence_survives_reopen_and_a_torn_line(tmp_path):
    j = Journal(tmp_path)
    j.log("user", "goal", input={"goal": "x"})
    j.log("tool", "tool", tool="train", output={"steps": 3})
    with open(tmp_path / "journal.jsonl", "a") as f:
        f.write('{"seq": 3, "time": "2026')  # a kill mid-write
    j2 = Journal(tmp_path)
    events = [json.loads(line) for line in (tmp_path / "journal.jsonl").read_text().splitlines()]
    assert [e["seq"] for e in events] == [1, 2, 3] and events[-1]["kind"] == "recovered"
    j2.log("system", "finished", decision="abort", rationale="because")
    assert [e["seq"] for e in j2.events] == [1, 2, 3, 4]
    md = (tmp_path / "journal.md").read_text()
    assert "Decision: ABORT" in md and "steps: 3" in md and "because" in md


def test_secrets_never_reach_the_journal(tmp_path):
    j = Journal(tmp_path)
    j.log("user", "goal", input={"api_key": "sk-live-1234567890", "base_url": "http://h", "note": "key sk-abcdefghijkl"})
    text = (tmp_path / "journal.jsonl").read_text() + (tmp_path / "journal.md").read_text()
    assert "sk-live" not in text and "sk-abcdefghijkl" not in text and "http://h" in text
    assert redact({"Authorization": "Bearer x"}) == {"Authorization": "***"}


@pytest.mark.parametrize("bad", ["../escape", "a/b", "", "..", "/abs", "x" * 200])
def test_run_ids_cannot_escape_runs(tmp_path, bad):
    with pytest.raises(TunepilotError):
        run_dir(bad, tmp_path)
    assert run_dir("r-1.ok_id", tmp_path) == (tmp_path / "r-1.ok_id").resolve()


def test_counts_named_like_tokens_are_not_masked():
    assert redact({"mean_tokens": 410.2, "hf_token": "abc", "access_token": "x"}) == \
        {"mean_tokens": 410.2, "hf_token": "***", "access_token": "***"}
