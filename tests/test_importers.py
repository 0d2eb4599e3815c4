import hashlib
import json

import pytest

from tunepilot.tools.data.importers import import_file
from tunepilot import TunepilotError

WEATHER = {"name": "get_weather", "description": "Weather for a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}
TOOLS = [{"type": "function", "function": WEATHER}]


def jsonl(tmp_path, name, rows):
    path = tmp_path / name
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def expect_error(path, fmt, lineno, *fragments):
    with pytest.raises(TunepilotError) as e:
        import_file(path, fmt)
    msg = str(e.value)
    assert msg.startswith(f"{path}:{lineno}: "), msg
    assert path.name in msg
    for fragment in fragments:
        assert fragment in msg, msg
    return msg


# --- alpaca -------------------------------------------------------------------------------------

def test_alpaca_jsonl(tmp_path):
    path = jsonl(tmp_path, "a.jsonl", [
        {"instruction": "Reverse a string", "input": "abc", "output": "s[::-1]"},
        "",
        {"instruction": "Say hi", "output": "hi", "system": "Be brief.", "role": "tester"},
    ])
    first, second = import_file(path, "alpaca")
    assert first["messages"] == [{"role": "user", "content": "Reverse a string\n\nabc"},
                                 {"role": "assistant", "content": "s[::-1]"}]
    assert first["tools"] == []
    assert first["meta"] == {"agent_role": "imported", "kind": "no_tool", "steps": 1, "source": "import:alpaca"}
    canonical = json.dumps(first["messages"], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert first["id"] == hashlib.sha1(canonical.encode()).hexdigest()[:12]
    assert second["messages"] == [{"role": "system", "content": "Be brief."},
                                  {"role": "user", "content": "Say hi"},
                                  {"role": "assistant", "content": "hi"}]
    assert second["meta"]["agent_role"] == "tester"
    assert import_file(path, "alpaca")[0]["id"] == first["id"]  # stable


def test_alpaca_json_array(tmp_path):
    path = tmp_path / "a.json"
    rows = [{"instruction": "One", "input": "", "output": "1"}, {"instruction": "Two", "output": "2"}]
    path.write_text(json.dumps(rows, indent=2))
    records = import_file(path, "alpaca")
    assert [r["messages"] for r in records] == [
        [{"role": "user", "content": "One"}, {"role": "assistant", "content": "1"}],
        [{"role": "user", "content": "Two"}, {"role": "assistant", "content": "2"}],
    ]


def test_alpaca_json_array_error_names_the_element_line(tmp_path):
    path = tmp_path / "a.json"
    path.write_text('[\n  {"instruction": "One", "output": "1"},\n  {"instruction": "Two"}\n]\n')
    expect_error(path, "alpaca", 3, "output: missing")


@pytest.mark.parametrize("bad, fragment", [
    ({"input": "x", "output": "y"}, "instruction: missing"),
    ({"instruction": "x", "output": 3}, "output: expected a string, got int"),
    ({"instruction": "  ", "output": "y"}, "instruction: empty"),
    ({"instruction": "x", "output": "y", "role": "pirate"}, "role: 'pirate' is not one of"),
    ('{"instruction": "x", ', "not JSON"),
    ('["instruction"]', "expected a JSON object, got list"),
])
def test_alpaca_malformed_line(tmp_path, bad, fragment):
    path = jsonl(tmp_path, "bad.jsonl", [{"instruction": "ok", "output": "ok"}, "", bad])
    expect_error(path, "alpaca", 3, fragment)


# --- sharegpt -----------------------------------------------------------------------------------

def test_sharegpt_with_tool_calls(tmp_path):
    row = {
        "conversations": [
            {"from": "system", "value": "You are helpful."},
            {"from": "human", "value": "Weather in Paris and Rome?"},
            {"from": "function_call", "value": json.dumps({"name": "get_weather", "arguments": {"city": "Paris"}})},
            {"from": "observation", "value": "sunny"},
            {"from": "function_call", "value": {"name": "get_weather", "arguments": "{\"city\": \"Rome\"}"}},
            {"from": "observation", "value": "rain"},
            {"from": "gpt", "value": "Paris is sunny, Rome is rainy."},
        ],
        "tools": json.dumps([WEATHER]),
    }
    (record,) = import_file(jsonl(tmp_path, "s.jsonl", [row]), "sharegpt")
    assert record["tools"] == TOOLS
    assert record["messages"] == [
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "call_2_0", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}]},
        {"role": "tool", "tool_call_id": "call_2_0", "name": "get_weather", "content": "sunny"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "call_4_0", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'}}]},
        {"role": "tool", "tool_call_id": "call_4_0", "name": "get_weather", "content": "rain"},
        {"role": "assistant", "content": "Paris is sunny, Rome is rainy."},
    ]
    assert record["meta"] == {"agent_role": "imported", "kind": "multi", "steps": 3, "source": "import:sharegpt"}


def test_sharegpt_text_then_call_is_one_turn(tmp_path):
    row = {"conversations": [
        {"from": "human", "value": "Paris?"},
        {"from": "gpt", "value": "Checking."},
        {"from": "function_call", "value": {"name": "get_weather", "arguments": {"city": "Paris"}}},
        {"from": "observation", "value": "sunny"},
        {"from": "gpt", "value": "Sunny."},
    ], "agent_role": "researcher"}
    (record,) = import_file(jsonl(tmp_path, "s.jsonl", [row]), "sharegpt")
    assert record["messages"][1] == {"role": "assistant", "content": "Checking.", "tool_calls": [
        {"id": "call_2_0", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}]}
    assert record["meta"] == {"agent_role": "researcher", "kind": "single", "steps": 2, "source": "import:sharegpt"}


GOOD_SHAREGPT = {"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}]}


@pytest.mark.parametrize("conversations, fragment", [
    ([{"from": "human", "value": "hi"}, {"from": "gpt", "value": "a"}, {"from": "bot", "value": "b"}],
     "conversations[2].from: unknown speaker 'bot'"),
    ([], "conversations: expected a non-empty list"),
    (None, "conversations: missing"),
    ([{"from": "human", "value": "hi"}, {"from": "gpt", "value": 5}], "conversations[1].value: expected a string"),
    ([{"from": "human", "value": "hi"}, {"from": "observation", "value": "x"}, {"from": "gpt", "value": "a"}],
     "conversations[1].from: tool result without a preceding tool call"),
    ([{"from": "human", "value": "hi"}, {"from": "function_call", "value": '{"name": "f", "arguments": [1]}'},
      {"from": "observation", "value": "x"}, {"from": "gpt", "value": "a"}],
     "conversations[1].value.arguments: expected a JSON object, got list"),
    ([{"from": "human", "value": "hi"}, {"from": "function_call", "value": "{not json"}],
     "conversations[1].value: not JSON"),
    ([{"from": "human", "value": "hi"}], "conversations: must end with an assistant message"),
    ([{"from": "gpt", "value": "hi"}], "conversations: no user message"),
])
def test_sharegpt_malformed_line(tmp_path, conversations, fragment):
    bad = {} if conversations is None else {"conversations": conversations}
    path = jsonl(tmp_path, "bad.jsonl", [GOOD_SHAREGPT, GOOD_SHAREGPT, bad])
    expect_error(path, "sharegpt", 3, fragment)


def test_sharegpt_call_to_unknown_tool(tmp_path):
    row = {"tools": [WEATHER], "conversations": [
        {"from": "human", "value": "hi"},
        {"from": "function_call", "value": {"name": "delete_all", "arguments": {}}},
        {"from": "observation", "value": "done"}, {"from": "gpt", "value": "ok"}]}
    expect_error(jsonl(tmp_path, "t.jsonl", [row]), "sharegpt", 1,
                 "conversations[1].value.name: 'delete_all' is not in tools")


# --- openai -------------------------------------------------------------------------------------

def test_openai_with_tool_calls(tmp_path):
    row = {"tools": TOOLS, "messages": [
        {"role": "user", "content": "Paris and Rome?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "a", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}},
            {"id": "b", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'}}]},
        {"role": "tool", "tool_call_id": "b", "content": "rain"},
        {"role": "tool", "tool_call_id": "a", "name": "get_weather", "content": "sunny"},
        {"role": "assistant", "content": "Sunny and rainy.", "weight": 1},
    ]}
    (record,) = import_file(jsonl(tmp_path, "o.jsonl", [row]), "openai")
    assert record["tools"] == TOOLS
    assert record["messages"] == [
        {"role": "user", "content": "Paris and Rome?"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "a", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}},
            {"id": "b", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'}}]},
        {"role": "tool", "tool_call_id": "b", "name": "get_weather", "content": "rain"},
        {"role": "tool", "tool_call_id": "a", "name": "get_weather", "content": "sunny"},
        {"role": "assistant", "content": "Sunny and rainy."},
    ]
    assert record["meta"] == {"agent_role": "imported", "kind": "single", "steps": 2, "source": "import:openai"}


GOOD_OPENAI = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}


def _call(**fn):
    return {"role": "assistant", "content": None,
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "get_weather", **fn}}]}


@pytest.mark.parametrize("messages, fragment", [
    ([{"role": "robot", "content": "x"}], "messages[0].role: unknown role 'robot'"),
    ([{"role": "user", "content": "x"}, _call(arguments="[1, 2]")],
     "messages[1].tool_calls[0].function.arguments: expected a JSON object, got list"),
    ([{"role": "user", "content": "x"}, _call(arguments="{oops")],
     "messages[1].tool_calls[0].function.arguments: not JSON"),
    ([{"role": "user", "content": "x"}, _call(arguments={}, name="rm_rf")],
     "messages[1].tool_calls[0].function.name: 'rm_rf' is not in tools"),
    ([{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [{"id": "c", "type": "code"}]}],
     "messages[1].tool_calls[0].function: expected an object"),
    ([{"role": "user", "content": "x"}, _call(arguments={}),
      {"role": "tool", "tool_call_id": "zz", "content": "r"}, {"role": "assistant", "content": "a"}],
     "messages[2].tool_call_id: 'zz' answers no pending tool call"),
    ([{"role": "user", "content": "x"}, {"role": "assistant"}], "messages[1].content: missing"),
    ([{"role": "user", "content": "x"}, _call(arguments={}), {"role": "tool", "tool_call_id": "c1", "content": "r"}],
     "messages: must end with an assistant message, ends with 'tool'"),
])
def test_openai_malformed_line(tmp_path, messages, fragment):
    path = jsonl(tmp_path, "bad.jsonl", [GOOD_OPENAI, {"messages": messages, "tools": TOOLS}])
    expect_error(path, "openai", 2, fragment)


def test_openai_bad_tools_field(tmp_path):
    path = jsonl(tmp_path, "t.jsonl", [{**GOOD_OPENAI, "tools": [{"type": "function", "function": {}}]}])
    expect_error(path, "openai", 1, "tools[0].function.name: missing")


# --- chatml -------------------------------------------------------------------------------------

def chatml(*turns):
    return "".join(f"<|im_start|>{role}\n{content}<|im_end|>\n" for role, content in turns)


def test_chatml_with_tool_calls(tmp_path):
    text = chatml(
        ("system", "You are helpful."),
        ("user", "Paris?"),
        ("assistant", 'Let me check.\n<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>'),
        ("user", '<tool_response>{"name": "get_weather", "content": "sunny"}</tool_response>'),
        ("assistant", "It is sunny."),
        ("user", "<tool_response>not a reply to any call</tool_response>"),
        ("assistant", "Odd."),
    )
    (record,) = import_file(jsonl(tmp_path, "c.jsonl", [{"text": text, "tools": TOOLS}]), "chatml")
    assert record["messages"] == [
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": "Paris?"},
        {"role": "assistant", "content": "Let me check.", "tool_calls": [
            {"id": "call_2_0", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}]},
        {"role": "tool", "tool_call_id": "call_2_0", "name": "get_weather", "content": "sunny"},
        {"role": "assistant", "content": "It is sunny."},
        {"role": "user", "content": "<tool_response>not a reply to any call</tool_response>"},
        {"role": "assistant", "content": "Odd."},
    ]
    assert record["meta"] == {"agent_role": "imported", "kind": "single", "steps": 3, "source": "import:chatml"}


def test_chatml_plain_text_tool_response(tmp_path):
    text = chatml(("user", "Go"), ("assistant", '<tool_call>{"name": "ls", "arguments": {}}</tool_call>'),
                  ("user", "<tool_response>a.txt</tool_response>"), ("assistant", "One file."))
    (record,) = import_file(jsonl(tmp_path, "c.jsonl", [{"text": text}]), "chatml")
    assert record["messages"][1:3] == [
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "call_1_0", "type": "function", "function": {"name": "ls", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_1_0", "name": "ls", "content": "a.txt"},
    ]


GOOD_CHATML = {"text": chatml(("user", "hi"), ("assistant", "hello"))}


@pytest.mark.parametrize("text, fragment", [
    (chatml(("user", "hi"), ("assistant", "<tool_call>{bad json}</tool_call>")), "text: turn 1: bad <tool_call>"),
    (chatml(("user", "hi"), ("assistant", '<tool_call>{"name": "f", "arguments": 3}</tool_call>')),
     "text: turn 1: bad <tool_call>: arguments is not an object"),
    (chatml(("user", "hi"), ("bot", "x")), "text: turn 1: unknown role 'bot'"),
    (chatml(("user", "hi")) + "<|im_start|>assistant\n", "text: unexpected text after the last <|im_end|>"),
    (chatml(("user", "hi"), ("assistant", '<tool_call>{"name": "f", "arguments": {}}</tool_call>'),
            ("user", "<tool_response>r</tool_response>")), "text: must end with an assistant message, ends with 'tool'"),
    ("", "text: empty"),
])
def test_chatml_malformed_line(tmp_path, text, fragment):
    path = jsonl(tmp_path, "bad.jsonl", [GOOD_CHATML, "   ", GOOD_CHATML, {"text": text}])
    expect_error(path, "chatml", 4, fragment)


# --- files --------------------------------------------------------------------------------------

def test_unknown_format_missing_file_and_empty_file(tmp_path):
    with pytest.raises(TunepilotError, match="unknown dataset format"):
        import_file(tmp_path / "x.jsonl", "csv")
    with pytest.raises(TunepilotError, match="cannot read"):
        import_file(tmp_path / "missing.jsonl", "alpaca")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    with pytest.raises(TunepilotError, match="no records"):
        import_file(empty, "alpaca")
