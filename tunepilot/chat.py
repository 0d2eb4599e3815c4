"""The record format and the `<tool_call>` convention (see prompts/README.md).

A record is one conversation in OpenAI format:

    {"id": "...",
     "tools": [{"type": "function", "function": {"name", "description", "parameters"}}],
     "messages": [{"role": "system"|"user"|"assistant"|"tool", ...}],
     "meta": {"agent_role": "coder"|"tester"|"researcher"|"coordinator",
              "kind": "single"|"multi"|"no_tool"|"ask", "steps": int, "source": str,
              "answer_keywords": [str]}}

Assistant messages carry `tool_calls` ([{"id", "type": "function", "function": {"name",
"arguments": JSON string}}]); tool messages carry `tool_call_id`, `name` and `content`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from tunepilot.gojson import go_json, ollama_function, ordered_arguments
from tunepilot.paths import prompts_dir


@dataclass
class Generation:
    """One generated answer, from any runtime (transformers in tools/evaluate.py, llama.cpp in tools/llamacpp.py)."""

    text: str
    latency_s: float
    new_tokens: int

TOOL_CALL_RE = re.compile(r"<tool_call>\s*(.*?)\s*</tool_call>", re.S)


def compact(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def native_tool_support(chat_template: str | None) -> bool:
    return bool(chat_template) and "tools" in chat_template and "tool_calls" in chat_template


def tools_prompt_parts() -> tuple[str, str]:
    """prompts/tool_calling.md around its tool list: (text before, text after)."""
    marker = "\x00tools\x00"
    before, after = (prompts_dir() / "tool_calling.md").read_text().strip().format(tools=marker).split(marker)
    return before, after


def tools_system_prompt(tools: list[dict]) -> str:
    """The tool list, one function a line, as Ollama's `{{ json .Function }}` writes it (tunepilot.gojson)."""
    before, after = tools_prompt_parts()
    return before + "\n".join(go_json(ollama_function(t["function"])) for t in tools) + after


def call_text(name: str, arguments: dict) -> str:
    """A call as the Modelfile writes `.ToolCalls` (arguments compact, in the order given), except that
    `<`, `>`, `&` stay raw: the schema-constrained decoder cannot write JSON's \\u escapes, and the
    model must be able to write what it was trained on (Ollama re-renders such a past call escaped)."""
    args = go_json(ordered_arguments(arguments), html=False)
    return f'<tool_call>{{"name": {go_json(name)}, "arguments": {args}}}</tool_call>'


def tool_response_text(name: str | None, content: str) -> str:
    return f"<tool_response>{go_json({'name': name or '', 'content': content})}</tool_response>"


def schema_order(arguments: dict, tool: dict | None) -> dict:
    """`arguments` with the keys in the order the tool's schema declares them (unknown keys last).

    One canonical order, the one the model reads in the schema, is what it learns to write; the
    constrained decoder (tools/constrained.py) also emits properties in declared order."""
    props = list(((tool or {}).get("parameters") or {}).get("properties") or {})
    rank = {k: i for i, k in enumerate(props)}
    return dict(sorted(arguments.items(), key=lambda kv: rank.get(kv[0], len(rank))))


def _call_arguments(fn: dict, by_name: dict[str, dict]) -> dict:
    """A call's arguments (JSON string or object) as an object in its tool's schema order."""
    args = fn["arguments"] if isinstance(fn["arguments"], dict) else json.loads(fn["arguments"])
    return schema_order(args, by_name.get(fn["name"]))


def _ordered_calls(calls: list[dict], by_name: dict[str, dict]) -> list[dict]:
    return [{**c, "function": {**c["function"], "arguments": json.dumps(_call_arguments(c["function"], by_name),
                                                                        ensure_ascii=False)}} for c in calls]


def render_messages(record: dict, native: bool = False) -> list[dict]:
    """Messages ready for `apply_chat_template`. Non-native: tools as text, per the convention.
    Either way, call arguments are written in their schema's declared order."""
    messages = record["messages"]
    by_name = {t["function"]["name"]: t["function"] for t in record.get("tools") or []}
    if native:
        return [{**m, "tool_calls": _ordered_calls(m["tool_calls"], by_name)} if m.get("tool_calls") else dict(m)
                for m in messages]
    out: list[dict] = []
    system = tools_system_prompt(record["tools"]) if record.get("tools") else None
    for m in messages:
        role = m["role"]
        if role == "system":
            system = f"{system}\n\n{m['content']}" if system else m["content"]
            continue
        if role == "assistant":
            parts = [m.get("content") or ""]
            for c in m.get("tool_calls") or []:
                parts.append(call_text(c["function"]["name"], _call_arguments(c["function"], by_name)))
            out.append({"role": "assistant", "content": "".join(p for p in parts if p)})
        elif role == "tool":
            out.append({"role": "user", "content": tool_response_text(m.get("name"), m["content"])})
        else:
            out.append({"role": role, "content": m["content"]})
    if system is not None:
        out.insert(0, {"role": "system", "content": system})
    return out


def parse_tool_calls(text: str) -> tuple[list[dict], list[str]]:
    """Parse `<tool_call>` blocks from a model reply.

    Returns (calls, errors): each call is {"name": str, "arguments": dict}; each error says why a
    block (or a dangling tag) was not a well-formed call.
    """
    calls, errors = [], []
    for body in TOOL_CALL_RE.findall(text):
        try:
            obj = json.loads(body)
        except json.JSONDecodeError as e:
            errors.append(f"not JSON: {e.msg}")
            continue
        if not isinstance(obj, dict) or not isinstance(obj.get("name"), str):
            errors.append("no string 'name'")
            continue
        args = obj.get("arguments", {})
        if isinstance(args, str):
            try:
                args = json.loads(args)
            except json.JSONDecodeError:
                errors.append("arguments is a string that is not JSON")
                continue
        if not isinstance(args, dict):
            errors.append("arguments is not an object")
            continue
        calls.append({"name": obj["name"], "arguments": args})
    stripped = TOOL_CALL_RE.sub("", text)
    if "<tool_call>" in stripped or "</tool_call>" in stripped:
        errors.append("unbalanced <tool_call> tag")
    return calls, errors


def assistant_turns(record: dict) -> list[int]:
    """Indices of assistant messages: each is one prediction target in evaluation."""
    return [i for i, m in enumerate(record["messages"]) if m["role"] == "assistant"]
