"""JSON as Ollama writes it into a prompt: Go's `encoding/json.Marshal` of Ollama's own structs.

Ollama renders tools and tool calls in a Modelfile TEMPLATE through Go (`{{ json .Function }}`,
`{{ json .Function.Arguments }}`), so a model that is to be served by Ollama is trained on exactly
that text (tunepilot.chat), and the round trip in tools/modelfile.py checks it byte for byte:

    go_json({"a": "x<y", "b": 2.0})      -> '{"a":"x\\u003cy","b":2}'
    ollama_function(tool["function"])    -> the function as api.ToolFunction holds it

What Go does that Python's json.dumps does not: compact output; `<`, `>`, `&`, U+2028 and U+2029
escaped; numbers held as float64 (2.0 -> 2, 1e-07 -> 1e-7, integers beyond 2**53 rounded); keys of
a plain `map[string]any` (anything Ollama decodes into `any`) in sorted order, while the structs and
ordered maps Ollama declares keep their field / insertion order. Modelled on Ollama's api/types.go
with ordered `ToolPropertiesMap` and `ToolCallFunctionArguments` (older Ollama sorts those too).
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

_ESCAPE = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def _go_float(x: float) -> str:
    """strconv.AppendFloat(x, 'f' or 'e', -1, 64) as encoding/json chooses and cleans it up."""
    if not math.isfinite(x):
        raise ValueError(f"JSON cannot hold {x!r} (Go's json.Marshal refuses it)")
    if x == 0:
        return "-0" if math.copysign(1, x) < 0 else "0"
    if 1e-6 <= abs(x) < 1e21:
        return format(Decimal(repr(x)).normalize(), "f")
    digits, _, exp = format(Decimal(repr(x)).normalize(), "e").partition("e")  # shortest digits, as Go's -1
    sign, exp = ("-" if exp.startswith("-") else "+"), exp.lstrip("+-")
    return f"{digits}e{sign}{exp.zfill(2) if sign == '+' else exp}"


def go_json(value: Any, html: bool = True) -> str:
    """json.Marshal(value) for a value already in Ollama's shape (dict order = Go's field/key order);
    `html=False`: `<`, `>`, `&` written raw (as a json.Encoder with SetEscapeHTML(false))."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return _go_float(float(value))
    if isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
        return "".join(_ESCAPE.get(c, c) if html or c in "\u2028\u2029" else c for c in text)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(go_json(v, html) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(go_json(str(k), html) + ":" + go_json(v, html) for k, v in value.items()) + "}"
    raise TypeError(f"not JSON: {type(value).__name__}")


def as_any(value: Any) -> Any:
    """A value as Go decodes it into `any`: objects become map[string]any, marshalled in sorted key order."""
    if isinstance(value, dict):
        return {k: as_any(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [as_any(v) for v in value]
    return value


def ordered_arguments(arguments: dict) -> dict:
    """api.ToolCallFunctionArguments: the top level keeps the order it arrived in, nested objects are `any`."""
    return {k: as_any(v) for k, v in arguments.items()}


def _property(p: Any) -> dict:
    """api.ToolProperty: anyOf, type, items, description, enum, properties, required (empty ones omitted)."""
    p = p if isinstance(p, dict) else {}
    out: dict = {}
    if p.get("anyOf"):
        out["anyOf"] = [_property(x) for x in p["anyOf"]]
    if p.get("type"):
        t = p["type"]
        out["type"] = t[0] if isinstance(t, list) and len(t) == 1 else t
    if p.get("items") is not None:
        out["items"] = as_any(p["items"])
    for key in ("description", "enum"):
        if p.get(key):
            out[key] = p[key] if key == "description" else as_any(p[key])
    if isinstance(p.get("properties"), dict):
        out["properties"] = {k: _property(v) for k, v in p["properties"].items()}
    if p.get("required"):
        out["required"] = list(p["required"])
    return out


def ollama_function(fn: dict) -> dict:
    """api.ToolFunction{name, description, parameters{type, $defs, items, required, properties}}:
    what Ollama keeps of an OpenAI function (other schema keywords, e.g. `default` or
    `additionalProperties`, have no field there and are dropped)."""
    params = fn.get("parameters") if isinstance(fn.get("parameters"), dict) else {}
    out: dict = {"name": fn.get("name", "")}
    if fn.get("description"):
        out["description"] = fn["description"]
    p: dict = {"type": params.get("type") or ""}
    for key in ("$defs", "items"):
        if params.get(key) is not None:
            p[key] = as_any(params[key])
    if params.get("required"):
        p["required"] = list(params["required"])
    props = params.get("properties")
    p["properties"] = {k: _property(v) for k, v in props.items()} if isinstance(props, dict) else None
    out["parameters"] = p
    return out
