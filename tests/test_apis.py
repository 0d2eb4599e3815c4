"""Tests for the procedural API generator (tools/data/apis.py)."""

from __future__ import annotations

import json
import math
import random
import re

import jsonschema
import pytest

from tunepilot.tools.data import apis

WORDS = "zero one two three four five six seven eight nine ten eleven twelve".split()


def _records(n: int, seed: int = 1234, kind: str = "single") -> list[dict]:
    rng = random.Random(seed)
    return [apis.sample_api_record(rng, "coder", kind) for _ in range(n)]


@pytest.fixture(scope="module")
def singles() -> list[dict]:
    return _records(500)


def _call(rec: dict) -> tuple[dict, str, dict]:
    """(schema of the called tool, name, arguments)."""
    fn = rec["messages"][1]["tool_calls"][0]["function"]
    tool = next(t["function"] for t in rec["tools"] if t["function"]["name"] == fn["name"])
    return tool, fn["name"], json.loads(fn["arguments"])


def _mentioned(value, schema: dict, text: str) -> bool:
    """Whether a literal argument value is stated in the request (booleans and enums excepted)."""
    if "enum" in schema or schema["type"] == "boolean":
        return True
    if schema["type"] == "object":
        return all(_mentioned(value[k], schema["properties"][k], text) for k in value)
    if schema["type"] == "array":
        return all(_mentioned(x, schema["items"], text) for x in value)
    if isinstance(value, str):
        return value in text
    plain = re.sub(r"(?<=\d),(?=\d{3})", "", text)  # 12,500 -> 12500
    if isinstance(value, int) and 0 <= value <= 12 and re.search(rf"\b{WORDS[value]}\b", text):
        return True
    return re.search(rf"(?<![\d.]){re.escape(str(value))}(?![\d]|\.\d)", plain) is not None


def test_record_shape(singles):
    for rec in singles:
        assert set(rec) >= {"id", "tools", "messages", "meta"}
        assert 1 <= len(rec["tools"]) <= 4
        names = [t["function"]["name"] for t in rec["tools"]]
        assert len(set(names)) == len(names)
        roles = [m["role"] for m in rec["messages"]]
        assert roles == ["user", "assistant", "tool", "assistant"]
        meta = rec["meta"]
        assert meta["kind"] == "single" and meta["steps"] == 1 and meta["source"] == "template:api"
        assert meta["family"] in apis.BY_ID and meta["agent_role"] == "coder"
        assert all(n in apis.all_function_names() for n in names)


def test_calls_validate_against_schema(singles):
    for rec in singles:
        for t in rec["tools"]:
            params = t["function"]["parameters"]
            assert params["type"] == "object" and params["additionalProperties"] is False
            assert set(params["required"]) <= set(params["properties"])
            jsonschema.Draft202012Validator.check_schema(params)
        tool, _, args = _call(rec)
        jsonschema.Draft202012Validator(tool["parameters"]).validate(args)
        assert set(tool["parameters"]["required"]) <= set(args)


def test_argument_values_appear_in_request(singles):
    for rec in singles:
        tool, _, args = _call(rec)
        request = rec["messages"][0]["content"]
        for name, value in args.items():
            assert _mentioned(value, tool["parameters"]["properties"][name], request), (name, value, request)


def test_optional_params_sometimes_stated():
    """Optional parameters are sometimes present and sometimes absent."""
    seen: dict[tuple[str, str], set[bool]] = {}
    rng = random.Random(7)
    for _ in range(3000):
        rec = apis.sample_api_record(rng, "tester")
        fam = apis.BY_ID[rec["meta"]["family"]]
        tool, _, args = _call(rec)
        optional = [n for n in tool["parameters"]["properties"] if n not in tool["parameters"]["required"]]
        for n in optional:
            seen.setdefault((fam.id, n), set()).add(n in args)
    assert sum(len(v) == 2 for v in seen.values()) > 0.8 * len(seen)


def test_absent_optional_uses_default():
    rng = random.Random(8)
    seen = set()
    for _ in range(60):
        rec = apis.sample_api_record(rng, "coder", family="circle_area")
        tool, _, args = _call(rec)
        props = tool["parameters"]["properties"]
        radius = next(v for k, v in args.items() if k in tool["parameters"]["required"])
        decimals = [v for k, v in args.items() if props[k]["type"] == "integer"]
        seen.add(bool(decimals))
        expected = round(math.pi * radius ** 2, decimals[0] if decimals else 2)
        assert json.loads(rec["messages"][2]["content"]) == expected
    assert seen == {True, False}


def test_tool_result_and_answer(singles):
    for rec in singles:
        tool_msg, final = rec["messages"][2], rec["messages"][3]
        assert tool_msg["name"] == rec["messages"][1]["tool_calls"][0]["function"]["name"]
        json.loads(tool_msg["content"])
        for kw in rec["meta"]["answer_keywords"]:
            assert kw.lower() in final["content"].lower(), (kw, final["content"])


def test_every_family_used():
    used = {r["meta"]["family"] for r in _records(3000, seed=99)}
    assert used == set(apis.BY_ID)
    assert apis.family_count() >= 80


def test_deterministic():
    a = json.dumps(_records(60, seed=5) + _records(20, seed=5, kind="ask") + _records(20, seed=5, kind="no_tool"))
    b = json.dumps(_records(60, seed=5) + _records(20, seed=5, kind="ask") + _records(20, seed=5, kind="no_tool"))
    assert a == b
    assert a != json.dumps(_records(60, seed=6) + _records(20, seed=6, kind="ask") + _records(20, seed=6, kind="no_tool"))


def test_ask_names_missing_param():
    for rec in _records(300, seed=11, kind="ask"):
        assert [m["role"] for m in rec["messages"]] == ["user", "assistant"]
        reply = rec["messages"][1]
        assert not reply.get("tool_calls")
        missing = rec["meta"]["answer_keywords"][0]
        assert missing in reply["content"]
        target = [t["function"] for t in rec["tools"] if missing in t["function"]["parameters"]["required"]]
        assert target, "the missing parameter must be a required parameter of an offered tool"
        assert rec["meta"]["kind"] == "ask"


def test_no_tool_answers_directly():
    for rec in _records(300, seed=12, kind="no_tool"):
        assert [m["role"] for m in rec["messages"]] == ["user", "assistant"]
        reply = rec["messages"][1]
        assert not reply.get("tool_calls")
        assert 1 <= len(rec["tools"]) <= 4
        fam = apis.BY_ID.get(rec["meta"]["family"])
        if fam:  # near miss: the family's own tool (and its near twins) are not offered
            offered = {t["function"]["name"] for t in rec["tools"]}
            own = {n for fid in (fam.id, *fam.near) for v in apis.BY_ID[fid].verbs.split() for n in apis._styles(apis.BY_ID[fid], v)}
            assert not offered & own
        for kw in rec["meta"]["answer_keywords"]:
            assert kw.lower() in reply["content"].lower()


def _numbers_of(args: dict) -> list:
    return [v for v in args.values() if isinstance(v, (int, float)) and not isinstance(v, bool)]


def test_results_are_real_for_spot_checked_families():
    rng = random.Random(3)
    for _ in range(30):
        rec = apis.sample_api_record(rng, "coder", family="triangle_area")
        _, _, args = _call(rec)
        base, height = _numbers_of(args)
        assert json.loads(rec["messages"][2]["content"]) == round(base * height / 2, 3)

        rec = apis.sample_api_record(rng, "coder", family="gcd")
        _, _, args = _call(rec)
        (numbers,) = args.values()
        assert json.loads(rec["messages"][2]["content"]) == math.gcd(*numbers)

        rec = apis.sample_api_record(rng, "coder", family="word_count")
        _, _, args = _call(rec)
        (text,) = args.values()
        assert json.loads(rec["messages"][2]["content"]) == len(text.split())
        assert str(len(text.split())) in rec["messages"][3]["content"]


def test_sort_flip_semantics():
    """'ascending' is the inverse of 'descending': the call's boolean must match the sorted result."""
    rng = random.Random(4)
    for _ in range(200):
        rec = apis.sample_api_record(rng, "coder", family="sort_numbers")
        _, _, args = _call(rec)
        result = json.loads(rec["messages"][2]["content"])
        (numbers,) = [v for v in args.values() if isinstance(v, list)]
        flags = {k: v for k, v in args.items() if isinstance(v, bool)}
        desc = False
        for k, v in flags.items():
            desc = (not v) if k.lower() == "ascending" else v
        assert result == sorted(numbers, reverse=desc)


def test_function_names_are_a_finite_set():
    names = apis.all_function_names()
    assert len(names) > 500
    assert all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?", n) for n in names)
