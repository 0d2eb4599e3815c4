"""Every bad dataset input is one line on stderr, exit 2, naming FILE:LINE, with nothing left behind;
tool `parameters` must be valid JSON Schema, at import and at generation."""

import json

import pytest

from tunepilot import TunepilotError, cli
from tunepilot.tools.data.importers import MAX_RECORD_BYTES, import_file
from tunepilot.tools.data.validate import call_errors, record_errors, schema_problem, tool_schema_errors

WEATHER = {"name": "get_weather", "description": "Weather for a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
TOOLS = [{"type": "function", "function": WEATHER}]
ALPACA = json.dumps({"instruction": "Say hi", "output": "hi"})
SHAREGPT_OK = [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}]
OPENAI_OK = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]


def line(obj) -> str:
    return obj if isinstance(obj, str) else json.dumps(obj)


def lines(*rows) -> str:
    return "".join(line(r) + "\n" for r in rows)


def openai(messages=None, tools=None, **extra) -> dict:
    row = {"messages": OPENAI_OK if messages is None else messages, **extra}
    return row if tools is None else {**row, "tools": tools}


def tool(parameters, name="get_weather") -> list:
    return [{"type": "function", "function": {"name": name, "parameters": parameters}}]


def call(call_id="c1", name="get_weather", arguments='{"city": "Paris"}') -> dict:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def chatml(*turns) -> str:
    return "".join(f"<|im_start|>{role}\n{content}<|im_end|>\n" for role, content in turns)


GOOD_CHATML = {"text": chatml(("user", "hi"), ("assistant", "hello"))}
TC = '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>'

# id, format, file content (str, bytes, or None for a missing file / "DIR" for a folder), line (or None), fragments
CORPUS = [
    ("not-json", "alpaca", lines(ALPACA, '{"instruction": "x", '), 2, ["not JSON"]),
    ("non-utf8", "alpaca", ALPACA.encode() + b'\n{"instruction": "caf\xe9", "output": "x"}\n', 2, ["not UTF-8", "0xe9"]),
    ("huge-line", "alpaca", lines(ALPACA, {"instruction": "x" * (MAX_RECORD_BYTES + 10), "output": "y"}), 2,
     ["over the limit", "bytes per record"]),
    ("empty-file", "alpaca", "", None, ["no records", "empty"]),
    ("blank-lines-only", "sharegpt", "\n  \n\r\n", None, ["no records"]),
    ("a-directory", "alpaca", "DIR", None, ["cannot read", "folder"]),
    ("missing-file", "openai", None, None, ["cannot read", "no such file"]),
    ("array-bad-element", "alpaca", '[\n  {"instruction": "One", "output": "1"},\n  {"instruction": "Two"}\n]\n', 3,
     ["output: missing"]),
    ("array-never-closed", "alpaca", '[\n  {"instruction": "One", "output": "1"}\n', 2, ["never closed"]),
    ("array-missing-comma", "alpaca", '[\n {"instruction": "a", "output": "1"}\n {"instruction": "b", "output": "2"}\n]',
     3, ["expected ','"]),
    ("array-then-garbage", "alpaca", '[{"instruction": "a", "output": "1"}]\n{"x": 1}\n', 2, ["after the closing ']'"]),
    ("array-non-utf8", "alpaca", b'[\n{"instruction": "a", "output": "1"},\n{"instruction": "\xff", "output": "2"}]', 3,
     ["not UTF-8", "0xff"]),
    ("nan", "alpaca", lines(ALPACA, '{"instruction": "x", "output": "y", "score": NaN}'), 2, ["NaN is not valid JSON"]),
    ("float-overflow", "alpaca", lines(ALPACA, '{"instruction": "x", "output": "y", "w": 1e999}'), 2, ["out of range"]),
    ("huge-int", "alpaca", lines(ALPACA, '{"instruction": "x", "output": "y", "w": ' + "9" * 5000 + "}"), 2,
     ["integer with 5000 digits"]),
    ("deep-nesting", "alpaca", lines(ALPACA, '{"instruction": ' + "[" * 200_000 + "]" * 200_000 + "}"), 2,
     ["nested too deeply"]),
    ("lone-surrogate", "alpaca", lines(ALPACA, '{"instruction": "x\\ud800", "output": "y"}'), 2, ["lone surrogate"]),
    ("record-not-object", "alpaca", lines(ALPACA, "[1, 2]"), 2, ["expected a JSON object, got list"]),
    ("two-records-one-line", "alpaca", lines(ALPACA + " " + ALPACA), 1, ["extra data"]),
    ("crlf-line-numbers", "alpaca", (ALPACA + "\r\n") * 2 + '{"instruction": 5, "output": "y"}\r\n', 3,
     ["instruction: expected a string, got int"]),
    ("conversations-not-list", "sharegpt", lines({"conversations": "hi"}), 1, ["conversations: expected a non-empty list"]),
    ("sharegpt-unknown-speaker", "sharegpt", lines({"conversations": SHAREGPT_OK + [{"from": "bot", "value": "x"}]}), 1,
     ["unknown speaker 'bot'"]),
    ("sharegpt-unanswered-call", "sharegpt", lines({"tools": [WEATHER], "conversations": [
        {"from": "human", "value": "Paris?"}, {"from": "function_call", "value": {"name": "get_weather", "arguments": {}}},
        {"from": "human", "value": "well?"}, {"from": "gpt", "value": "sunny"}]}), 1,
     ["conversations[2]", "'get_weather'", "has no tool result"]),
    ("sharegpt-call-left-open", "sharegpt", lines({"tools": [WEATHER], "conversations": [
        {"from": "human", "value": "Paris and Rome?"},
        {"from": "function_call", "value": {"name": "get_weather", "arguments": {"city": "Paris"}}},
        {"from": "function_call", "value": {"name": "get_weather", "arguments": {"city": "Rome"}}},
        {"from": "observation", "value": "sunny"},
        {"from": "function_call", "value": {"name": "get_weather", "arguments": {"city": "Oslo"}}},
        {"from": "observation", "value": "snow"}, {"from": "gpt", "value": "ok"}]}), 1,
     ["conversations[4]", "(id 'call_2_0') has no tool result"]),
    ("messages-not-list", "openai", lines(openai({"role": "user", "content": "hi"})), 1,
     ["messages: expected a non-empty list"]),
    ("content-a-number", "openai", lines(openai(), openai([{"role": "user", "content": 42}, OPENAI_OK[1]])), 2,
     ["messages[0].content: expected a string, got int"]),
    ("tools-not-list", "openai", lines(openai(tools={"type": "function", "function": WEATHER})), 1,
     ["tools: expected a list, got dict"]),
    ("tools-not-json-string", "openai", lines(openai(tools="[{oops")), 1, ["tools: not JSON"]),
    ("schema-unknown-type", "openai", lines(openai(tools=tool({"type": "strin"}))), 1,
     ["tools[0].function.parameters", "'get_weather'", "not a valid JSON Schema", "'strin' is not a JSON Schema type"]),
    ("schema-nested-unknown-type", "openai",
     lines(openai(tools=tool({"type": "object", "properties": {"city": {"type": "strng"}}}))), 1,
     ["properties/city/type", "'strng'"]),
    ("schema-bad-required", "openai", lines(openai(tools=tool({"type": "object", "required": "city"}))), 1,
     ["at required", "not of type 'array'"]),
    ("schema-remote-ref", "openai", lines(openai(tools=tool({"$ref": "https://example.com/evil.json"}))), 1,
     ["$ref", "does not resolve", "self-contained"]),
    ("schema-dangling-ref", "openai", lines(openai(tools=tool({"type": "object", "properties": {
        "city": {"$ref": "#/$defs/city"}}}))), 1, ["'#/$defs/city' does not resolve"]),
    ("schema-not-object-type", "openai", lines(openai(tools=tool({"type": "string"}))), 1,
     ["top-level type must be 'object'"]),
    ("schema-a-list", "openai", lines(openai(tools=tool(["city"]))), 1, ["expected a JSON Schema object, got list"]),
    ("duplicate-tool-name", "openai", lines(openai(tools=TOOLS + TOOLS)), 1, ["tools[1].function.name", "offered twice"]),
    ("unknown-role", "openai", lines(openai(), openai([{"role": "developer", "content": "x"}] + OPENAI_OK)), 2,
     ["messages[0].role: unknown role 'developer'"]),
    ("dangling-tool-call-id", "openai", lines(openai([OPENAI_OK[0], {"role": "assistant", "content": None,
                                                                     "tool_calls": [call()]},
                                                      {"role": "tool", "tool_call_id": "nope", "content": "sunny"},
                                                      {"role": "assistant", "content": "Sunny."}], TOOLS)), 1,
     ["messages[2].tool_call_id: 'nope' answers no pending tool call"]),
    ("tool-without-call", "openai", lines(openai([OPENAI_OK[0], {"role": "tool", "tool_call_id": "c1", "content": "x"},
                                                  OPENAI_OK[1]], TOOLS)), 1, ["messages[1].tool_call_id"]),
    ("call-never-answered", "openai", lines(openai([OPENAI_OK[0], {"role": "assistant", "content": "",
                                                                   "tool_calls": [call("a"), call("b")]},
                                                    {"role": "tool", "tool_call_id": "a", "content": "sunny"},
                                                    {"role": "assistant", "content": "Sunny."}], TOOLS)), 1,
     ["messages[3]", "(id 'b') has no tool result"]),
    ("duplicate-call-id", "openai", lines(openai([OPENAI_OK[0], {"role": "assistant", "content": "",
                                                                 "tool_calls": [call("a"), call("a")]}], TOOLS)), 1,
     ["tool_calls[1].id: 'a' is used twice"]),
    ("tool-calls-not-list", "openai", lines(openai([OPENAI_OK[0], {"role": "assistant", "content": "",
                                                                   "tool_calls": call()}], TOOLS)), 1,
     ["messages[1].tool_calls: expected a list, got dict"]),
    ("chatml-text-a-number", "chatml", lines(GOOD_CHATML, {"text": 7}), 2, ["text: expected a string, got int"]),
    ("chatml-unknown-role", "chatml", lines({"text": chatml(("user", "hi"), ("robot", "x"))}), 1, ["unknown role 'robot'"]),
    ("chatml-bad-schema-string", "chatml", lines({"text": chatml(("user", "hi"), ("assistant", "ok")),
                                                  "tools": json.dumps(tool({"type": "object", "properties": {
                                                      "n": {"type": "integer", "minimum": "zero"}}}))}), 1,
     ["'get_weather'", "properties/n/minimum"]),
    ("chatml-unanswered-call", "chatml", lines({"tools": TOOLS, "text": chatml(
        ("user", "Paris?"), ("assistant", TC), ("user", "and?"), ("assistant", "Sunny."))}), 1,
     ["turn 2", "has no tool result"]),
]


@pytest.mark.parametrize("case, fmt, content, lineno, fragments", CORPUS, ids=[c[0] for c in CORPUS])
def test_bad_input_is_one_line_exit_2_nothing_left(tmp_path, capsys, case, fmt, content, lineno, fragments):
    f = tmp_path / f"{case}.jsonl"
    if content == "DIR":
        f.mkdir()
        (f / "a.jsonl").write_text(lines(ALPACA))
    elif isinstance(content, bytes):
        f.write_bytes(content)
    elif content is not None:
        f.write_text(content, newline="")
    out = tmp_path / "out_ds"
    before = {p.name for p in tmp_path.iterdir()}
    rc = cli.main(["data", "import", str(f), "--format", fmt, "--out", str(out)])
    captured = capsys.readouterr()
    err = captured.err
    assert rc == 2, err
    assert err.endswith("\n") and len(err.splitlines()) == 1, err
    assert err.startswith("tunepilot: error: "), err
    assert "Traceback" not in err + captured.out
    assert f.name in err
    if lineno is not None:
        assert f"{f}:{lineno}: " in err, err
    else:
        assert f"{f}: " in err, err
    for fragment in fragments:
        assert fragment in err, err
    assert len(err) < 1000, "the error quotes too much of the input"
    assert not out.exists()
    assert {p.name for p in tmp_path.iterdir()} == before  # no .partial / hidden temp sibling either
    assert not list(tmp_path.glob("*.partial")) and not list(tmp_path.glob(".out_ds*"))


def test_corpus_is_large_enough():
    assert len(CORPUS) >= 20


# --- what is accepted ---------------------------------------------------------------------------

def test_json_array_file_is_accepted(tmp_path, capsys):
    f = tmp_path / "a.json"
    f.write_bytes(b"\xef\xbb\xbf" + json.dumps([{"instruction": f"Say {i}", "output": str(i)} for i in range(10)],
                                                indent=1).encode())
    out = tmp_path / "ds"
    assert cli.main(["data", "import", str(f), "--format", "alpaca", "--out", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["splits"] == {"train": 8, "val": 1, "test": 1}
    assert sum(1 for s in ("train", "val", "test") for _ in (out / f"{s}.jsonl").open()) == 10


def test_empty_json_array_has_no_records(tmp_path):
    f = tmp_path / "a.json"
    f.write_text("[ ]\n")
    with pytest.raises(Exception, match="no records"):
        import_file(f, "alpaca")


def test_trailing_unanswered_call_and_default_parameters(tmp_path):
    """A record may end on a call (the model learns to emit it); a tool without parameters takes none."""
    f = tmp_path / "o.jsonl"
    f.write_text(lines(openai([OPENAI_OK[0], {"role": "assistant", "content": None, "tool_calls": [
        call(name="now", arguments="{}")]}], [{"type": "function", "function": {"name": "now"}}])))
    (rec,) = import_file(f, "openai")
    assert rec["tools"] == [{"type": "function", "function": {"name": "now", "parameters": {"type": "object",
                                                                                             "properties": {}}}}]
    assert call_errors(rec) == [] and record_errors(rec) == []


def test_line_exactly_at_the_cap_is_accepted(tmp_path):
    row = {"instruction": "", "output": "y"}
    row["instruction"] = "x" * (MAX_RECORD_BYTES - len(json.dumps(row)))
    f = tmp_path / "a.jsonl"
    f.write_text(json.dumps(row) + "\n")
    assert len(json.dumps(row).encode()) == MAX_RECORD_BYTES
    assert len(import_file(f, "alpaca")) == 1


def test_valid_schemas_pass():
    assert schema_problem(WEATHER["parameters"]) is None
    assert schema_problem({"type": "object", "$defs": {"c": {"type": "string"}},
                           "properties": {"city": {"$ref": "#/$defs/c"}, "enum": {"enum": [{"$ref": "data"}]}}}) is None
    assert schema_problem({"type": ["object", "null"]}) is None
    assert schema_problem({}) is None


# --- the invalid schema at import and at generation ---------------------------------------------

def test_strin_schema_refused_at_import(tmp_path):
    f = tmp_path / "o.jsonl"
    f.write_text(lines(openai([OPENAI_OK[0], {"role": "assistant", "content": "", "tool_calls": [call()]},
                               {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
                               {"role": "assistant", "content": "Sunny."}], tool({"type": "strin"}))))
    with pytest.raises(Exception) as e:
        import_file(f, "openai")
    assert type(e.value).__name__ == "TunepilotError"
    assert str(e.value).startswith(f"{f}:1: tools[0].function.parameters: tool 'get_weather': not a valid JSON Schema")
    assert "strin" in str(e.value)


def _bad_record() -> dict:
    return {"tools": tool({"type": "strin"}), "messages": [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": "", "tool_calls": [call("call_0")]},
        {"role": "tool", "tool_call_id": "call_0", "name": "get_weather", "content": "sunny"},
        {"role": "assistant", "content": "Sunny."}]}


def test_generator_validator_drops_strin_schema():
    from tunepilot.tools.data.validate import ContaminationGuard, Deduper
    from tunepilot.tools.dataset import _check

    rec = _bad_record()
    errors = call_errors(rec)  # used by the teachers too: an error, never jsonschema's UnknownType
    assert errors and "get_weather" in errors[0] and "strin" in errors[0]
    assert tool_schema_errors(rec) == errors
    assert _check(rec, Deduper(), ContaminationGuard()) == "tool_schema_invalid"
    good = {**rec, "tools": TOOLS}
    assert call_errors(good) == [] and _check(good, Deduper(), ContaminationGuard()) != "tool_schema_invalid"


def test_generate_counts_dropped_schema_records(tmp_path, tiny_model, monkeypatch):
    from tunepilot.tools.data import teachers
    from tunepilot.tools.dataset import DatasetSpec, generate_dataset

    real = teachers.make
    broken = {"type": "function", "function": {"name": "broken_tool", "parameters": {"type": "strin"}}}

    class Breaking:
        def __init__(self, inner):
            self.inner, self.n = inner, 0

        def sample(self, sb, rng, role, kind):
            record, reason = self.inner.sample(sb, rng, role, kind)
            self.n += 1
            if record is not None and self.n % 3 == 0:
                record = {**record, "tools": [broken] + list(record.get("tools") or [])}
            return record, reason

    monkeypatch.setattr(teachers, "make", lambda spec: Breaking(real(spec)))
    card = generate_dataset(DatasetSpec(out=tmp_path / "d", n=12, seed=1, model=tiny_model))
    assert card.rejected.get("tool_schema_invalid", 0) >= 3
    rows = [json.loads(x) for s in ("train", "val", "test") for x in (tmp_path / "d" / f"{s}.jsonl").read_text().splitlines()]
    assert len(rows) == 12 and not any(t["function"]["name"] == "broken_tool" for r in rows for t in r["tools"])


# --- our own format, read back from a dataset folder --------------------------------------------

@pytest.mark.parametrize("record, fragment", [
    ([], "expected a JSON object"),
    ({"messages": "hi"}, "messages: expected a non-empty list"),
    ({"messages": [{"role": "robot", "content": "x"}]}, "unknown role"),
    ({"messages": [{"role": "user", "content": 3}]}, "content: expected a string"),
    ({"messages": [{"role": "user", "content": "x"}, {"role": "tool", "tool_call_id": "z", "content": "r"}]},
     "answers no pending tool call"),
    ({"tools": tool({"type": "strin"}), "messages": OPENAI_OK}, "not a valid JSON Schema"),
    ({"tools": {"a": 1}, "messages": OPENAI_OK}, "tools: expected a list"),
    ({"messages": [OPENAI_OK[0], {"role": "assistant", "content": "", "tool_calls": [call()]}, OPENAI_OK[0],
                   OPENAI_OK[1]], "tools": TOOLS}, "never answered"),
])
def test_record_errors(record, fragment):
    errors = record_errors(record)
    assert errors and fragment in errors[0], errors


def test_long_user_text_in_an_error_is_cut(tmp_path, capsys):
    f = tmp_path / "s.jsonl"
    f.write_text(lines({"conversations": SHAREGPT_OK + [{"from": "x" * 100_000, "value": "v"}]}))
    assert cli.main(["data", "import", str(f), "--format", "sharegpt", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert f"{f}:1: conversations[2].from: unknown speaker" in err and len(err) < 1000


def test_read_items_reads_back_a_dataset_folder(tmp_path):
    """Split files are written with ensure_ascii=False: U+2028 sits raw in a line and is not a line break."""
    import random

    from tunepilot.tools.data.importers import read_items
    from tunepilot.tools.data.io import split_by_role, write_splits

    recs = [{"id": str(i), "tools": TOOLS, "messages": [{"role": "user", "content": f"a\u2028b\x85{i}"},
                                                        {"role": "assistant", "content": "ok"}],
             "meta": {"agent_role": "imported"}} for i in range(10)]
    write_splits(tmp_path / "ds", split_by_role(recs, random.Random(0)), {})
    back = [obj for s in ("train", "val", "test") for _, obj in read_items(tmp_path / "ds" / f"{s}.jsonl")]
    assert sorted(r["id"] for r in back) == [str(i) for i in range(10)]
    assert all(record_errors(r) == [] for r in back)
    (tmp_path / "empty.jsonl").write_text("")
    assert list(read_items(tmp_path / "empty.jsonl")) == []


def test_a_dataset_with_u2028_reads_back(tmp_path):
    """load_split used splitlines(), which also breaks on U+2028: a record holding one was written
    and then failed to load as `train.jsonl:1: not JSON`."""
    from tunepilot.tools.data.io import load_split, write_splits

    rec = {"id": "0", "tools": [], "messages": [{"role": "user", "content": "a\u2028b\u0085c"},
                                                {"role": "assistant", "content": "ok"}],
           "meta": {"agent_role": "coder", "kind": "no_tool", "steps": 0}}
    write_splits(tmp_path / "d", {"train": [rec], "val": [], "test": []}, {})
    assert load_split(tmp_path / "d", "train")[0]["messages"][0]["content"] == "a\u2028b\u0085c"
    (tmp_path / "d" / "val.jsonl").write_bytes(b'{"messages": 5}\n')
    with pytest.raises(TunepilotError, match=r"val.jsonl:1: messages: expected a non-empty list"):
        load_split(tmp_path / "d", "val")
