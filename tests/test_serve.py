"""tools/serve.py: `tunepilot serve` as a real process on 127.0.0.1, spoken to with the real openai
client, over a tiny tuned model exported to GGUF by tools/export.py; and the request conversion."""

import json
from pathlib import Path

import pytest

from tunepilot.tools.llamacpp import LLAMA_CPP_PYTHON, binding_version
from tunepilot.tools.serve import InvalidRequest, Server, to_record

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather of a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string", "enum": ["Paris", "Oslo"]},
                                                    "unit": {"type": "string", "enum": ["c", "f"]}},
                   "required": ["city", "unit"], "additionalProperties": False}}}
ADD = {"type": "function", "function": {
    "name": "add", "description": "Add two numbers.",
    "parameters": {"type": "object", "properties": {"big": {"type": "boolean"}}, "required": ["big"]}}}
ASK = [{"role": "user", "content": "What's the weather in Paris, in celsius?"}]


# --- the request conversion (no model) --------------------------------------------------------------
def test_openai_messages_become_our_record():
    msgs = ASK + [{"role": "assistant", "content": None, "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris", "unit": "c"}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": [{"type": "text", "text": '{"temp": 21}'}]}]
    record, required = to_record([{"role": "developer", "content": "Be brief."}, *msgs], [WEATHER, ADD], None)
    assert not required and [t["function"]["name"] for t in record["tools"]] == ["get_weather", "add"]
    assert record["messages"][0] == {"role": "system", "content": "Be brief."}
    assert record["messages"][2]["content"] == "" and record["messages"][2]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert record["messages"][3] == {"role": "tool", "tool_call_id": "c1", "name": "get_weather", "content": '{"temp": 21}'}


def test_tool_choice_modes():
    assert to_record(ASK, [WEATHER, ADD], "none")[0]["tools"] == []  # not shown, so never called
    assert to_record(ASK, [WEATHER, ADD], "required")[1] is True
    record, required = to_record(ASK, [WEATHER, ADD], {"type": "function", "function": {"name": "add"}})
    assert required and [t["function"]["name"] for t in record["tools"]] == ["add"]
    assert to_record(ASK, None, None)[0]["tools"] == []


@pytest.mark.parametrize("messages, tools, choice, says", [
    (ASK, [WEATHER], {"type": "function", "function": {"name": "nope"}}, "tool_choice names function 'nope'"),
    (ASK, [], "required", "tool_choice 'required' needs tools"),
    (ASK, [WEATHER], "sometimes", "tool_choice: 'sometimes'"),
    (ASK + [{"role": "assistant", "content": "", "tool_calls": [{"id": "x", "type": "function", "function": {
        "name": "delete_all", "arguments": "{}"}}]}, {"role": "tool", "tool_call_id": "x", "content": "ok"}],
     [WEATHER], None, "messages[1].tool_calls[0]: function 'delete_all' is not among the request's tools"),
    (ASK + [{"role": "tool", "tool_call_id": "c9", "content": "{}"}], [WEATHER], None, "messages[1].tool_call_id: 'c9'"),
    ([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}], None, None, "messages[0].content"),
    (ASK, [{"type": "function", "function": {"name": "f", "parameters": {"type": 5}}}], None,
     "tools[0].function.parameters: not a JSON Schema"),
    (ASK, [WEATHER, WEATHER], None, "tools[1].function.name: 'get_weather' is offered twice"),
])
def test_bad_requests_name_the_field(messages, tools, choice, says):
    with pytest.raises(InvalidRequest, match=None) as e:
        to_record(messages, tools, choice)
    assert says in str(e.value)


def test_serve_refuses_a_missing_gguf_and_a_run_without_export(tmp_path):
    from tunepilot import TunepilotError
    from tunepilot.agent.approval import exported_gguf
    from tunepilot.tools.serve import serve

    with pytest.raises(TunepilotError, match="no such file"):
        serve(tmp_path / "gone.gguf")
    with pytest.raises(TunepilotError):
        exported_gguf("no-such-run", tmp_path / "runs")


# --- the real server ----------------------------------------------------------------------------------
needs_llama = pytest.mark.skipif(binding_version() != LLAMA_CPP_PYTHON,
                                 reason="llama-cpp-python not installed (scripts/bootstrap.sh installs it)")


@pytest.fixture(scope="module")
def served(tiny_model, tiny_data, tmp_path_factory):
    from tunepilot.tools.export import ExportSpec, export
    from tunepilot.tools.train import TrainSpec, train

    out = tmp_path_factory.mktemp("serve")
    train(TrainSpec(data=tiny_data, out=out / "train", model=tiny_model, max_steps=2, eval_steps=100))
    rep = export(ExportSpec(adapter=out / "train" / "adapter", model=tiny_model, out=out / "export", quants=["q8_0"],
                            verify=0, lora_gguf=False))
    with Server(Path(rep.files["q8_0"]["path"]), log=out / "serve.log") as url:
        from openai import OpenAI

        yield OpenAI(base_url=url, api_key="none", max_retries=0), url


def _schema_valid(call, tool):
    import jsonschema

    jsonschema.validate(json.loads(call.function.arguments), tool["function"]["parameters"])
    return call.function.name == tool["function"]["name"]


@needs_llama
def test_named_tool_choice_returns_a_schema_valid_call(served):
    client, _ = served
    r = client.chat.completions.create(model="m", messages=ASK, tools=[WEATHER, ADD], max_tokens=48,
                                       tool_choice={"type": "function", "function": {"name": "get_weather"}})
    (call,) = r.choices[0].message.tool_calls[:1]
    assert r.choices[0].finish_reason == "tool_calls" and _schema_valid(call, WEATHER) and call.id.startswith("call_")


@needs_llama
def test_required_calls_an_offered_tool_and_none_never_calls(served):
    client, _ = served
    r = client.chat.completions.create(model="m", messages=ASK, tools=[WEATHER, ADD], tool_choice="required", max_tokens=48)
    call = r.choices[0].message.tool_calls[0]
    assert _schema_valid(call, {"get_weather": WEATHER, "add": ADD}[call.function.name])
    r = client.chat.completions.create(model="m", messages=ASK, tools=[WEATHER, ADD], tool_choice="none", max_tokens=16)
    assert not r.choices[0].message.tool_calls and isinstance(r.choices[0].message.content, str)


@needs_llama
def test_no_tool_item_gets_plain_content(served):
    client, _ = served
    r = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "Say hi."}], max_tokens=12)
    m = r.choices[0].message
    assert m.role == "assistant" and isinstance(m.content, str) and not m.tool_calls
    assert r.usage.completion_tokens >= 1 and r.choices[0].finish_reason in ("stop", "length")


@needs_llama
def test_tool_result_follow_up_is_answered_with_the_result_in_the_prompt(served):
    client, _ = served
    turn = [{"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function", "function": {
        "name": "get_weather", "arguments": '{"city": "Paris", "unit": "c"}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": '{"temp_c": 21, "sky": "clear"}'}]
    before = client.chat.completions.create(model="m", messages=ASK, tools=[WEATHER], max_tokens=4)
    after = client.chat.completions.create(model="m", messages=ASK + turn, tools=[WEATHER], max_tokens=16)
    assert after.choices[0].message.role == "assistant"
    assert after.usage.prompt_tokens > before.usage.prompt_tokens + 10  # the call and its result were rendered


@needs_llama
def test_unknown_tool_is_a_400_with_a_message(served):
    import openai

    client, url = served
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="m", messages=ASK, tools=[WEATHER],
                                       tool_choice={"type": "function", "function": {"name": "launch"}})
    assert e.value.status_code == 400 and "'launch'" in e.value.body["message"]
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="m", messages=ASK, tools=[WEATHER], stream=True)
    assert client.models.list().data[0].id == "model-q8_0.gguf"
