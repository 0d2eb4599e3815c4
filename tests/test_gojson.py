"""tunepilot/gojson.py: Go's encoding/json as Ollama uses it, on values whose Go output is known."""

from __future__ import annotations

import math

import pytest

from tunepilot.chat import call_text, tools_system_prompt
from tunepilot.gojson import as_any, go_json, ollama_function, ordered_arguments


@pytest.mark.parametrize("value,go", [
    (1.0, "1"), (2.5, "2.5"), (-3, "-3"), (0.1, "0.1"), (1e20, "100000000000000000000"), (1e21, "1e+21"),
    (1e-6, "0.000001"), (1e-7, "1e-7"), (1.5e-10, "1.5e-10"), (-0.0, "-0"), (12345678901234567890, "12345678901234567000"),
    (True, "true"), (None, "null"), ("a<b&c>", '"a\\u003cb\\u0026c\\u003e"'), ("\u2028x\u2029", '"\\u2028x\\u2029"'),
    ('q"\\\n\t\x1b', '"q\\"\\\\\\n\\t\\u001b"'), ("é ✓", '"é ✓"'), ([1, "x", {"b": 1, "a": 2}], '[1,"x",{"b":1,"a":2}]'),
])
def test_go_json_matches_encoding_json(value, go):
    assert go_json(value) == go


def test_go_json_refuses_what_go_refuses_and_html_off_keeps_angle_brackets():
    with pytest.raises(ValueError, match="nan"):
        go_json(math.nan)
    assert go_json({"s": "a<b && c"}, html=False) == '{"s":"a<b && c"}'


def test_any_values_sort_their_keys_but_arguments_keep_their_top_level_order():
    assert list(as_any({"b": 1, "a": {"d": 1, "c": 2}})) == ["a", "b"]
    args = ordered_arguments({"z": 1, "a": {"y": 1, "x": 2}})
    assert go_json(args) == '{"z":1,"a":{"x":2,"y":1}}'


def test_ollama_function_is_api_toolfunction():
    fn = {"parameters": {"additionalProperties": False, "properties": {
              "q": {"description": "Query.", "default": "x", "type": "string", "minLength": 1},
              "tags": {"items": {"type": "string", "enum": ["b", "a"]}, "type": ["array"]},
              "opt": {"type": ["string", "null"]}},
          "required": ["q"], "type": "object"}, "description": "", "name": "search"}
    assert go_json(ollama_function(fn)) == (
        '{"name":"search","parameters":{"type":"object","required":["q"],"properties":{'
        '"q":{"type":"string","description":"Query."},'
        '"tags":{"type":"array","items":{"enum":["b","a"],"type":"string"}},'
        '"opt":{"type":["string","null"]}}}}')
    assert go_json(ollama_function({"name": "ping"})) == '{"name":"ping","parameters":{"type":"","properties":null}}'


def test_training_text_uses_the_ollama_form():
    tool = {"type": "function", "function": {"name": "f", "parameters": {
        "type": "object", "properties": {"a": {"type": "number"}}, "required": ["a"]}}}
    assert '\n{"name":"f","parameters":{"type":"object","required":["a"],"properties":{"a":{"type":"number"}}}}\n' \
        in tools_system_prompt([tool])
    assert call_text("f", {"a": 2.0, "s": "x<y"}) == '<tool_call>{"name": "f", "arguments": {"a":2,"s":"x<y"}}</tool_call>'
