import json

from tunepilot.chat import parse_tool_calls, render_messages

RECORD = {
    "tools": [{"type": "function", "function": {"name": "read_file", "description": "Read a file.",
                                                 "parameters": {"type": "object", "properties": {"path": {"type": "string"}},
                                                                "required": ["path"]}}}],
    "messages": [
        {"role": "user", "content": "Open a.py"},
        {"role": "assistant", "content": "", "tool_calls": [{"id": "call_0", "type": "function", "function": {
            "name": "read_file", "arguments": json.dumps({"path": "a.py"})}}]},
        {"role": "tool", "tool_call_id": "call_0", "name": "read_file", "content": "1: x = 1"},
        {"role": "assistant", "content": "a.py sets x to 1."},
    ],
}


def test_render_puts_tools_in_system_and_calls_in_tags():
    msgs = render_messages(RECORD)
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user", "assistant"]
    assert '{"name":"read_file"' in msgs[0]["content"] and "<tool_call>" in msgs[0]["content"]
    assert msgs[2]["content"] == '<tool_call>{"name": "read_file", "arguments": {"path":"a.py"}}</tool_call>'
    assert msgs[3]["content"] == '<tool_response>{"name":"read_file","content":"1: x = 1"}</tool_response>'


def test_render_native_keeps_openai_format():
    assert render_messages(RECORD, native=True) == RECORD["messages"]


def test_parse_good_calls():
    calls, errors = parse_tool_calls('<tool_call>{"name": "f", "arguments": {"a": 1}}</tool_call>'
                                     '<tool_call>\n{"name": "g", "arguments": "{\\"b\\": true}"}\n</tool_call>')
    assert errors == []
    assert calls == [{"name": "f", "arguments": {"a": 1}}, {"name": "g", "arguments": {"b": True}}]


def test_parse_bad_calls():
    assert parse_tool_calls("no call here") == ([], [])
    assert parse_tool_calls('<tool_call>{"name": "f", "arguments": {"a": }</tool_call>')[1][0].startswith("not JSON")
    assert parse_tool_calls('<tool_call>{"arguments": {}}</tool_call>')[1] == ["no string 'name'"]
    assert parse_tool_calls('<tool_call>{"name": "f", "arguments": [1]}</tool_call>')[1] == ["arguments is not an object"]
    assert "unbalanced <tool_call> tag" in parse_tool_calls('<tool_call>{"name": "f"}')[1]


def test_training_template_renders_like_the_model_template(tiny_model):
    from transformers import AutoTokenizer

    from tunepilot.tools.train import training_template

    tok = AutoTokenizer.from_pretrained(tiny_model)
    tmpl = training_template(tok)
    msgs = render_messages(RECORD)
    for convo in (msgs, msgs[1:], msgs[:2]):
        assert tok.apply_chat_template(convo, tokenize=False, chat_template=tmpl) == tok.apply_chat_template(convo, tokenize=False)
        assert tok.apply_chat_template(convo, tokenize=False, add_generation_prompt=True, chat_template=tmpl) == \
            tok.apply_chat_template(convo, tokenize=False, add_generation_prompt=True)
    enc = tok.apply_chat_template(msgs, chat_template=tmpl, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
    trained = tok.decode([t for t, m in zip(enc["input_ids"], enc["assistant_masks"]) if m])
    assert trained == msgs[2]["content"] + "<|im_end|>" + msgs[4]["content"] + "<|im_end|>"
