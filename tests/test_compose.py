"""The composed shapes (tools/data/compose.py), the assistant families, the argument-value share
check and the decode-time repetition guard."""

import datetime as dt
import json
import random
import re

import pytest

from tunepilot.tools.data import apis, assistant, compose
from tunepilot.tools.data.validate import ContaminationGuard, ValueShare, call_errors, call_values


def _calls(m):
    return [(c["function"]["name"], json.loads(c["function"]["arguments"])) for c in m.get("tool_calls") or []]


def _sample(kind, n=40, seed=0):
    rng = random.Random(seed)
    return [compose.sample_composed(rng, "coordinator", kind) for _ in range(n)]


@pytest.mark.parametrize("kind", compose.COMPOSED_KINDS)
def test_every_shape_is_valid_and_executed(kind):
    for r in _sample(kind):
        assert call_errors(r) == [], (kind, r["messages"])
        assert len(r["tools"]) <= compose.MAX_TOOLS
        calls = [c for m in r["messages"] for c in m.get("tool_calls") or []]
        results = [m for m in r["messages"] if m["role"] == "tool"]
        assert [c["id"] for c in calls] == [m["tool_call_id"] for m in results]  # every call answered, in order
        assert r["messages"][-1]["role"] == "assistant" and r["messages"][-1]["content"]


def test_parallel_calls_one_tool_several_times_in_one_turn():
    for r in _sample("parallel"):
        first = r["messages"][1]
        calls = _calls(first)
        assert len(calls) >= 2 and len({n for n, _ in calls}) == 1
        props = r["tools"][[t["function"]["name"] for t in r["tools"]].index(calls[0][0])]["function"]["parameters"]["properties"]
        for _, args in calls:  # each free-text value is stated in the request
            for k, v in args.items():
                if isinstance(v, str) and "enum" not in props[k]:
                    assert v.lower() in r["messages"][0]["content"].lower(), (k, v, r["messages"][0]["content"])


def test_parallel_turns_ask_two_to_four_calls_as_bfcl_does():
    # BFCL's parallel category asks 2 calls in 55 % of its items, 3 in 26 %, 4 in 18 %: a generator that
    # asked only 2-3 left the tuned model with 0 of 36 four-call items right
    counts = {}
    for r in _sample("parallel", n=200, seed=3):
        k = len(r["messages"][1]["tool_calls"])
        counts[k] = counts.get(k, 0) + 1
        if k == 4:  # room in the token cap: the tool and at most one distractor
            assert len(r["tools"]) <= 2
    assert set(counts) == {2, 3, 4}, counts
    assert counts[2] > counts[3] > counts[4] >= 20, counts


def test_parallel_turns_change_two_values_between_calls_too():
    # BFCL: "convicted in San Francisco in 2019 and in Texas in 2018"; the tuned model kept the first
    # call's city in the second call when its data only ever changed one value between calls
    two = 0
    for r in _sample("parallel", n=200, seed=4):
        calls = [args for _, args in _calls(r["messages"][1])]
        common = set.intersection(*(set(a) for a in calls))
        changed = {k for k in common if any(a[k] != calls[0][k] for a in calls[1:])}
        if len(changed) == 2 and len(common) > 2:  # two values change, the others are shared
            two += 1
            text = r["messages"][0]["content"]
            for k in changed:  # every changed string value is in the request
                for args in calls:
                    if isinstance(args[k], str):
                        assert args[k].lower() in text.lower(), (k, args[k], text)
    assert two >= 15, two


def test_multi_call_uses_different_tools_in_one_turn():
    for r in _sample("multi_call"):
        names = [n for n, _ in _calls(r["messages"][1])]
        assert len(names) >= 2 and len(set(names)) == len(names)


def test_chain_first_call_is_the_first_step_and_the_second_carries_its_result():
    for r in _sample("chain"):
        m = r["messages"]
        assert m[1]["role"] == "assistant" and len(m[1]["tool_calls"]) == 1  # only step A first
        result = json.loads(m[2]["content"])
        (_, second), = _calls(m[3])
        assert result in second.values()  # B's argument is A's result, not a value from the request
        offered = {t["function"]["name"] for t in r["tools"]}
        assert m[3]["tool_calls"][0]["function"]["name"] in offered  # the later step's tool was offered from the start


def test_context_resolves_relative_dates_from_the_stated_date():
    seen = set()
    for r in _sample("context", n=80):
        system, user = r["messages"][0]["content"], r["messages"][1]["content"]
        iso = re.search(r"\d{4}-\d{2}-\d{2}", system)
        today = dt.date.fromisoformat(iso[0]) if iso else dt.datetime.strptime(
            re.search(r"[A-Z][a-z]+ \d{1,2}, \d{4}", system)[0], "%B %d, %Y").date()
        (_, args), = _calls(r["messages"][2])
        dates = [v for v in args.values() if isinstance(v, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", v)]
        for phrase, days in (("the day after tomorrow", 2), ("tomorrow", 1), ("today", 0)):
            if phrase in user:
                assert (today + dt.timedelta(days=days)).isoformat() in dates, (system, user, args)
                seen.add(phrase)
                break
        for v in dates:  # a relative date is never also written out
            if any(w in user for w in ("tomorrow", "today", "next ", "in ")) and v not in user:
                assert dt.date.fromisoformat(v) >= today
    assert {"tomorrow", "today"} <= seen


def test_carry_takes_the_value_from_the_earlier_turn_not_the_request():
    for r in _sample("carry"):
        fact, request = r["messages"][0]["content"], r["messages"][2]["content"]
        (_, args), = _calls(r["messages"][3])
        carried = [v for v in args.values() if isinstance(v, str) and v in fact]
        assert carried and all(v not in request for v in carried), (fact, request, args)


def test_irrelevant_offers_no_tool_that_fits():
    for r in _sample("irrelevant"):
        assert not any(m.get("tool_calls") for m in r["messages"])
        fam = apis.BY_ID[r["meta"]["family"]]
        names = {t["function"]["name"] for t in r["tools"]}
        assert not any(fam.noun in n or apis._camel(fam.noun) in n for n in names)


def test_assistant_values_do_not_recur():
    """Composed values: in 200 single records of the assistant families, no free-text value
    (outside an enum) comes back in more than 5 % of them."""
    rng = random.Random(1)
    shares = ValueShare(200, share=1.0)
    for i in range(200):
        shares.add(apis.sample_api_record(rng, "coordinator", family=assistant.FAMILIES[i % len(assistant.FAMILIES)].id))
    (top,) = shares.top(200, k=1)
    assert top["share"] <= 0.05, top


def test_value_share_rejects_a_recurring_literal():
    def rec(value):
        tool = {"type": "function", "function": {"name": "login", "parameters": {"type": "object", "properties": {
            "key": {"type": "string"}, "mode": {"type": "string", "enum": ["a", "b"]}}}}}
        call = {"id": "c0", "type": "function", "function": {"name": "login", "arguments": json.dumps({"key": value, "mode": "a"})}}
        return {"tools": [tool], "messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "", "tool_calls": [call]}]}

    assert call_values(rec("abc123")) == {'"abc123"'}  # the enum value "a" is allowed to recur
    shares = ValueShare(100)  # cap: 8 % of 100 records
    verdicts = []
    for _ in range(10):
        r = rec("abc123")
        verdicts.append(shares.check(r))
        if verdicts[-1] is None:
            shares.add(r)
    assert verdicts[:8] == [None] * 8 and verdicts[8:] == ["value_recurs"] * 2
    assert shares.check(rec("zq9-fresh")) is None


def test_generated_dataset_reports_value_shares_and_contamination(tmp_path, tiny_model):
    from tunepilot.tools.dataset import DatasetSpec, generate_dataset

    card = generate_dataset(DatasetSpec(out=tmp_path / "d", n=120, seed=3, model=tiny_model))
    meta = card.metadata
    assert all(v["share"] <= meta["argument_values"]["max_share"] for v in meta["argument_values"]["most_common"])
    suites = meta["contamination"]
    assert "humaneval" in suites and {"bfcl:simple_python", "bfcl:parallel", "bfcl:live_irrelevance"} <= set(suites)
    assert all(v["records_overlapping"] == 0 for v in suites.values())
    assert {"parallel", "multi_call", "no_tool", "code"} <= set(meta["by_kind"])


def test_contamination_guard_catches_a_shared_13_gram():
    from tunepilot.tools.bfcl import load_suite

    q = load_suite("parallel_multiple", limit=1)[0]["messages"][0]["content"]
    guard = ContaminationGuard()
    rec = {"tools": [], "messages": [{"role": "user", "content": "Please: " + q + " Thanks."}]}  # not an exact match
    assert guard.check(rec) == "contamination"
    assert guard.report([rec])["bfcl:parallel_multiple"]["records_overlapping"] == 1
    clean = {"tools": [], "messages": [{"role": "user", "content": "What is the capital of a country I made up?"}]}
    assert guard.check(clean) is None


def test_loop_guard_bans_the_token_that_extends_a_loop():
    import torch

    from tunepilot.tools.constrained import ban_loop, loop_token

    assert loop_token([7, 5, 5, 5, 5]) == 5
    assert loop_token([9, 1, 2, 1, 2, 1, 2, 1, 2]) == 1
    assert loop_token([1, 2, 1, 2, 1, 2]) is None  # three times is not a loop yet
    assert loop_token([3, 4, 5, 6]) is None
    scores = torch.zeros(10)
    ban_loop(scores, [5, 5, 5, 5])
    assert scores[5] == float("-inf") and int(scores.argmax()) != 5
    forced = torch.full((10,), float("-inf"))
    forced[5] = 0.0
    ban_loop(forced, [5, 5, 5, 5])  # the grammar allows only this token: it stays
    assert forced[5] == 0.0


def test_code_records_answer_with_the_whole_function_in_a_python_block(tmp_path):
    """The coder's own skill (HumanEval's format, never its problems): a stub in, the whole function
    out in one ```python block, no call; the function really runs and passes its own doctest example."""
    import doctest

    from tunepilot.tools.data.sandbox import Sandbox
    from tunepilot.tools.data.tasks import code_record

    sb = Sandbox.create(tmp_path / "p", random.Random(0))
    rng = random.Random(4)
    for _ in range(12):
        t = code_record(sb, rng)
        (user, answer) = [m["content"] for m in t.messages]
        assert t.kind == "code" and answer.startswith("```python\n") and answer.endswith("```")
        code = answer[len("```python\n"):-3]
        assert code.split("\n", 1)[0] in user  # the stub's signature, completed
        ns: dict = {}
        exec(code, ns)  # our own template code, not a model's
        name = t.keywords[0]
        runner = doctest.DocTestRunner(verbose=False)
        for test in doctest.DocTestFinder().find(ns[name], name, globs=ns):
            runner.run(test, out=lambda _: None)
        assert runner.failures == 0 and runner.tries >= 1, name
