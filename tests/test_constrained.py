"""tools/constrained.py: the lazy tool-call grammar, and decoding under it with a random tiny model in
transformers and in llama.cpp (a random model cannot write a valid call by itself)."""

import json
from pathlib import Path

import jsonschema
import pytest
from llguidance import LLMatcher

from tunepilot.tools.constrained import Constraint, hf_lltokenizer, tool_call_grammar
from tunepilot.chat import parse_tool_calls, render_messages, schema_order

SCHEMA = {"type": "object", "additionalProperties": False, "required": ["mode", "strict"],
          "properties": {"mode": {"type": "string", "enum": ["fast", "slow"]}, "retries": {"type": "integer"},
                         "strict": {"type": "boolean"}}}
TOOLS = [{"type": "function", "function": {"name": "configure", "description": "Set the mode.", "parameters": SCHEMA}},
         {"type": "function", "function": {"name": "toggle", "description": "Flip it.",
                                           "parameters": {"type": "object", "properties": {"on": {"type": "boolean"}},
                                                          "required": ["on"]}}}]


@pytest.fixture(scope="module")
def hf(tiny_model):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model)
    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    return tok, model, hf_lltokenizer(tok, model.config.vocab_size, [tok.eos_token_id])


def accepts(lltok, tok, text: str, native: bool = False) -> bool:
    m = LLMatcher(lltok, tool_call_grammar(TOOLS, native=native), log_level=0)
    return m.consume_tokens(tok.encode(text)) and not m.is_error()


def test_grammar_allows_text_and_valid_calls_only(hf):
    tok, _, lltok = hf
    call = '<tool_call>{{"name": "{}", "arguments": {}}}</tool_call>'.format
    good = ["Port 443.", "Calling. " + call("configure", '{"mode":"fast","strict":true}') + " done",
            call("configure", '{"mode":"slow","retries":3,"strict":false}') + call("toggle", '{"on":true}'),
            '<tool_call>\n{"name": "toggle", "arguments": {"on":false}}\n</tool_call>']  # native templates' newlines
    bad = {"unknown tool": call("delete_all", '{"on":true}'),
           "missing required": call("configure", '{"mode":"fast"}'),
           "undeclared argument": call("configure", '{"mode":"fast","strict":true,"force":1}'),
           "closed by default": call("toggle", '{"on":true,"x":1}'),
           "enum": call("configure", '{"mode":"medium","strict":true}'),
           "type": call("configure", '{"mode":"fast","retries":"3","strict":true}'),
           "boolean as string": call("toggle", '{"on":"true"}'),
           "undeclared order": call("configure", '{"strict":true,"mode":"fast"}'),
           "spaced as json.dumps, not as trained": call("configure", '{"mode": "fast", "strict": true}'),
           "not JSON": call("toggle", '{"on":tru}')}
    for text in good:
        assert accepts(lltok, tok, text), text
    for why, text in bad.items():
        assert not accepts(lltok, tok, text), why
    # a model whose own template renders tools writes arguments as Jinja's tojson spaces them
    assert accepts(lltok, tok, call("configure", '{"mode": "fast", "strict": true}'), native=True)
    assert not accepts(lltok, tok, call("configure", '{"mode":"fast","strict":true}'), native=True)
    assert tool_call_grammar([]) is None


def test_render_writes_arguments_in_schema_order():
    rec = {"tools": TOOLS, "messages": [{"role": "user", "content": "go"}, {"role": "assistant", "content": "",
           "tool_calls": [{"id": "c", "type": "function", "function": {
               "name": "configure", "arguments": json.dumps({"strict": True, "zzz": 1, "mode": "fast"})}}]}]}
    assert render_messages(rec)[-1]["content"] == \
        '<tool_call>{"name": "configure", "arguments": {"mode":"fast","strict":true,"zzz":1}}</tool_call>'
    native = render_messages(rec, native=True)[-1]["tool_calls"][0]["function"]["arguments"]
    assert list(json.loads(native)) == ["mode", "strict", "zzz"]
    assert list(schema_order({"b": 1, "a": 2}, None)) == ["b", "a"]  # no schema: order kept


def _prompts(tok, records):
    return [tok.apply_chat_template(render_messages(r), tokenize=False, add_generation_prompt=True) + "<tool_call>"
            for r in records]


def test_hf_generate_random_model_writes_valid_calls_only_under_constraint(hf):
    """A batch of two rows with different tools, left-padded; the reply is pre-filled up to
    `<tool_call>` so the random model must write a call. Unconstrained it writes garbage."""
    import torch

    tok, model, lltok = hf
    tok.padding_side = "left"
    records = [{"tools": TOOLS, "messages": [{"role": "user", "content": "Set it up."}]},
               {"tools": TOOLS[1:], "messages": [{"role": "user", "content": "Flip the switch, please."}]}]
    enc = tok(_prompts(tok, records), return_tensors="pt", padding=True, add_special_tokens=False)
    outs = {}
    for constrained in (False, True):
        procs = None
        if constrained:
            c = Constraint(lltok, [r["tools"] for r in records])
            for m in c.matchers:  # the pre-filled trigger, as if the model had written it
                assert m.consume_tokens(tok.encode("<tool_call>"))
            procs = [c]
        with torch.inference_mode():
            gen = model.generate(**enc, max_new_tokens=48, do_sample=False, logits_processor=procs,
                                 eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
        outs[constrained] = ["<tool_call>" + tok.decode(row[enc["input_ids"].shape[1]:], skip_special_tokens=True)
                             for row in gen]
    assert all(parse_tool_calls(t)[1] or not parse_tool_calls(t)[0] for t in outs[False])  # no valid call
    offered = [{t["function"]["name"]: t["function"]["parameters"] for t in r["tools"]} for r in records]
    for text, names in zip(outs[True], offered):
        calls, errors = parse_tool_calls(text)
        assert calls and not errors, text
        for call in calls:
            assert call["name"] in names, text
            jsonschema.validate(call["arguments"], {**names[call["name"]], "additionalProperties": False})


def test_llama_cpp_logits_processor_constrains_too(tiny_model, tmp_path):
    from tunepilot.tools.llamacpp import LLAMA_CPP_PYTHON, LlamaCppGenerator, binding_version, convert_hf

    if binding_version() != LLAMA_CPP_PYTHON:
        pytest.skip("llama-cpp-python not installed (scripts/bootstrap.sh installs it)")
    gguf = convert_hf(Path(tiny_model), tmp_path / "tiny.gguf")
    gen = LlamaCppGenerator(gguf, n_ctx=512, constrained=True)
    record = {"tools": TOOLS, "messages": [{"role": "user", "content": "Set it up."}]}
    assert gen._constraint(record) is not None and gen._constraint({"messages": record["messages"]}) is None
    constraint = Constraint(gen._lltok, [TOOLS])
    assert constraint.matchers[0].consume_tokens(gen.llm.tokenize(b"<tool_call>", add_bos=False))
    import llama_cpp

    res = gen.llm.create_completion(gen.prompt(record) + "<tool_call>", max_tokens=48, temperature=0.0, top_k=1,
                                    logits_processor=llama_cpp.LogitsProcessorList([constraint.llama_cpp()]))
    text = "<tool_call>" + res["choices"][0]["text"]
    calls, errors = parse_tool_calls(text)
    assert calls and not errors, text
    assert calls[0]["name"] in {"configure", "toggle"}


def test_every_bfcl_items_tools_compile_to_a_grammar(hf):
    # 2 of 3,491 items' grammars failed to compile (an enum on an array, an integer enum of strings)
    # and were decoded unconstrained; items with no tools have no grammar
    from tunepilot.tools.bfcl import CATEGORIES, load_suite

    _, _, lltok = hf
    bad = []
    for category in CATEGORIES:
        for item in load_suite(category):
            grammar = tool_call_grammar(item["tools"])
            if grammar is not None and LLMatcher(lltok, grammar, log_level=0).is_error():
                bad.append(item["id"])
    assert bad == []

