"""Convert user datasets (Alpaca, ShareGPT, OpenAI messages, ChatML text) to our record format.

`import_file(path, fmt)` reads JSONL (or a file that is one JSON array of records) and returns
records as described in `tunepilot.chat`. It is all-or-nothing: the first problem raises
`TunepilotError` with `"{path}:{lineno}: {field}: {reason}"` (or `"{path}: {reason}"` for the file
as a whole: missing, a folder, empty) before anything is returned. The file is UTF-8 (a BOM is
allowed), each line or array element at most `MAX_RECORD_BYTES`, strict JSON (no NaN/Infinity),
and every tool's `parameters` valid JSON Schema (tools/data/validate.py `schema_problem`).
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any, Literal

from tunepilot import TunepilotError
from tunepilot.chat import TOOL_CALL_RE, compact, parse_tool_calls
from tunepilot.tools.data.jsonfile import MAX_RECORD_BYTES, read_file, read_items  # noqa: F401 (MAX_RECORD_BYTES: re-exported)
from tunepilot.tools.data.validate import schema_problem

Format = Literal["alpaca", "sharegpt", "openai", "chatml"]
AGENT_ROLES = {"coder", "tester", "researcher", "coordinator"}
ROLES = ("system", "user", "assistant", "tool")
SPEAKERS = {"system": "system", "human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
            "function_call": "call", "observation": "tool", "tool": "tool"}
CHATML_TURN_RE = re.compile(r"<\|im_start\|>(\w+)\n(.*?)<\|im_end\|>", re.S)
TOOL_RESPONSE_RE = re.compile(r"<tool_response>\s*(.*?)\s*</tool_response>", re.S)


class _Bad(Exception):
    """A malformed record; the message is `field: reason`."""


def _kind(value: Any) -> str:
    return type(value).__name__


def _str(obj: dict, key: str, field: str, required: bool = True, empty_ok: bool = True) -> str | None:
    value = obj.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise _Bad(f"{field}: missing" if value is None else f"{field}: expected a string, got {_kind(value)}")
    if not empty_ok and not value.strip():
        raise _Bad(f"{field}: empty")
    return value


def _parse(value: Any, field: str) -> Any:
    """`value`, decoded first if it is a JSON string."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError as e:
        raise _Bad(f"{field}: not JSON ({e.msg})") from None


def _list(obj: dict, key: str) -> list:
    value = obj.get(key)
    if not isinstance(value, list) or not value:
        raise _Bad(f"{key}: missing" if value is None else f"{key}: expected a non-empty list")
    return value


def _tools(raw: Any) -> list[dict]:
    """OpenAI tool specs (a list or a JSON string of one); bare function specs are wrapped."""
    if raw is None or raw == "":
        return []
    raw = _parse(raw, "tools")
    if not isinstance(raw, list):
        raise _Bad(f"tools: expected a list, got {_kind(raw)}")
    out, seen = [], {}
    for i, t in enumerate(raw):
        f = f"tools[{i}]"
        if isinstance(t, dict) and "function" in t:
            if t.get("type", "function") != "function":
                raise _Bad(f"{f}.type: expected 'function', got {t.get('type')!r}")
            t, f = t["function"], f + ".function"
        if not isinstance(t, dict):
            raise _Bad(f"{f}: expected an object, got {_kind(t)}")
        name = _str(t, "name", f"{f}.name", empty_ok=False)
        if name in seen:
            raise _Bad(f"{f}.name: {name!r} is offered twice (also {seen[name]})")
        seen[name] = f
        _str(t, "description", f"{f}.description", required=False)
        params = t.get("parameters")  # omitted (OpenAI): the tool takes no arguments
        params = {"type": "object", "properties": {}} if params is None else _parse(params, f"{f}.parameters")
        problem = schema_problem(params)
        if problem:
            raise _Bad(f"{f}.parameters: tool {name!r}: not a valid JSON Schema: {problem}")
        out.append({"type": "function", "function": {**t, "parameters": params}})
    return out


def _call(name: Any, args: Any, tools: list[dict], field: str, call_id: str) -> dict:
    """A normalized tool call, after checking its name against `tools` and that arguments is an object."""
    if not isinstance(name, str) or not name:
        raise _Bad(f"{field}.name: expected a non-empty string")
    args = _parse({} if args is None else args, f"{field}.arguments")
    if not isinstance(args, dict):
        raise _Bad(f"{field}.arguments: expected a JSON object, got {_kind(args)}")
    if tools and name not in {t["function"]["name"] for t in tools}:
        raise _Bad(f"{field}.name: {name!r} is not in tools")
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": compact(args)}}


def _unanswered(pending: list[dict], field: str) -> None:
    """A turn that is not a tool result may not follow a call that has none: every call is answered
    before the conversation goes on (only the record's last message may be a call left open)."""
    if pending:
        c = pending[0]
        raise _Bad(f"{field}: tool call {c['function']['name']!r} (id {c['id']!r}) has no tool result before this turn")


def _answer(pending: list[dict], content: str, field: str, name: str | None = None) -> dict:
    """A tool message answering the first unanswered call of the last assistant turn."""
    if not pending:
        raise _Bad(f"{field}: tool result without a preceding tool call")
    call = pending.pop(0)
    if name is not None and name != call["function"]["name"]:
        raise _Bad(f"{field}: answers {call['function']['name']!r} but is named {name!r}")
    return {"role": "tool", "tool_call_id": call["id"], "name": call["function"]["name"], "content": content}


def _alpaca(obj: dict) -> tuple[list[dict], list[dict]]:
    instruction = _str(obj, "instruction", "instruction", empty_ok=False)
    extra = _str(obj, "input", "input", required=False)
    output = _str(obj, "output", "output", empty_ok=False)
    system = _str(obj, "system", "system", required=False)
    messages = [{"role": "system", "content": system}] if system else []
    user = f"{instruction}\n\n{extra}" if extra and extra.strip() else instruction
    return messages + [{"role": "user", "content": user}, {"role": "assistant", "content": output}], []


def _sharegpt(obj: dict) -> tuple[list[dict], list[dict]]:
    tools, messages, pending = _tools(obj.get("tools")), [], []
    for i, turn in enumerate(_list(obj, "conversations")):
        f = f"conversations[{i}]"
        if not isinstance(turn, dict):
            raise _Bad(f"{f}: expected an object, got {_kind(turn)}")
        speaker = _str(turn, "from", f"{f}.from")
        role = SPEAKERS.get(speaker)
        if role is None:
            raise _Bad(f"{f}.from: unknown speaker {speaker!r}")
        value = turn.get("value")
        if role == "call":  # {name, arguments} or a list of them; joins a directly preceding assistant turn
            value = _parse(value, f"{f}.value")
            many = isinstance(value, list)
            if not messages or messages[-1]["role"] != "assistant":
                _unanswered(pending, f)  # a new turn; one that joins the turn before adds to its calls
                messages.append({"role": "assistant", "content": ""})
            for k, c in enumerate(value if many else [value]):
                cf = f"{f}.value" + (f"[{k}]" if many else "")
                if not isinstance(c, dict):
                    raise _Bad(f"{cf}: expected a JSON object, got {_kind(c)}")
                call = _call(c.get("name"), c.get("arguments"), tools, cf, f"call_{i}_{k}")
                messages[-1].setdefault("tool_calls", []).append(call)
                pending.append(call)
        elif not isinstance(value, str):
            raise _Bad(f"{f}.value: expected a string, got {_kind(value)}")
        elif role == "tool":
            messages.append(_answer(pending, value, f"{f}.from"))
        else:
            _unanswered(pending, f)
            messages.append({"role": role, "content": value})
    return messages, tools


def _openai(obj: dict) -> tuple[list[dict], list[dict]]:
    tools, messages, pending = _tools(obj.get("tools")), [], []
    for i, m in enumerate(_list(obj, "messages")):
        f = f"messages[{i}]"
        if not isinstance(m, dict):
            raise _Bad(f"{f}: expected an object, got {_kind(m)}")
        role = _str(m, "role", f"{f}.role")
        if role not in ROLES:
            raise _Bad(f"{f}.role: unknown role {role!r}")
        if role == "tool":
            call_id = _str(m, "tool_call_id", f"{f}.tool_call_id")
            k = next((k for k, c in enumerate(pending) if c["id"] == call_id), None)
            if k is None:
                raise _Bad(f"{f}.tool_call_id: {call_id!r} answers no pending tool call")
            pending.insert(0, pending.pop(k))
            content = _str(m, "content", f"{f}.content")
            messages.append(_answer(pending, content, f, _str(m, "name", f"{f}.name", required=False)))
            continue
        _unanswered(pending, f)
        calls = m.get("tool_calls") if role == "assistant" else None
        if calls is not None and not isinstance(calls, list):
            raise _Bad(f"{f}.tool_calls: expected a list, got {_kind(calls)}")
        msg = {"role": role, "content": _str(m, "content", f"{f}.content", required=not calls) or ""}
        for k, c in enumerate(calls or []):
            cf = f"{f}.tool_calls[{k}]"
            if not isinstance(c, dict) or not isinstance(c.get("function"), dict):
                raise _Bad(f"{cf}.function: expected an object")
            if c.get("type", "function") != "function":
                raise _Bad(f"{cf}.type: expected 'function', got {c.get('type')!r}")
            call_id = _str(c, "id", f"{cf}.id", empty_ok=False)
            if any(call_id == other["id"] for other in msg.get("tool_calls", [])):
                raise _Bad(f"{cf}.id: {call_id!r} is used twice in one turn")
            fn = c["function"]
            msg.setdefault("tool_calls", []).append(_call(fn.get("name"), fn.get("arguments"), tools,
                                                          f"{cf}.function", call_id))
        pending = list(msg.get("tool_calls", []))
        messages.append(msg)
    return messages, tools


def _tool_response(body: str) -> tuple[str, str | None]:
    """(content, name) of a `<tool_response>` body: {"name", "content"} JSON, or plain text."""
    try:
        obj = json.loads(body)
    except json.JSONDecodeError:
        return body, None
    if not isinstance(obj, dict) or "content" not in obj:
        return body, None
    content, name = obj["content"], obj.get("name")
    return (content if isinstance(content, str) else compact(content)), (name if isinstance(name, str) else None)


def _chatml(obj: dict) -> tuple[list[dict], list[dict]]:
    tools, messages, pending = _tools(obj.get("tools")), [], []
    text, pos = _str(obj, "text", "text", empty_ok=False), 0
    for n, turn in enumerate(CHATML_TURN_RE.finditer(text)):
        f, (role, content) = f"text: turn {n}", turn.groups()
        if text[pos:turn.start()].strip():
            raise _Bad(f"{f}: unexpected text before <|im_start|>")
        pos = turn.end()
        if role not in ROLES:
            raise _Bad(f"{f}: unknown role {role!r}")
        if role == "tool" or role == "user" and pending and not TOOL_RESPONSE_RE.sub("", content).strip():
            for body in [content] if role == "tool" else TOOL_RESPONSE_RE.findall(content):
                result, name = _tool_response(body)
                messages.append(_answer(pending, result, f, name))
            continue
        _unanswered(pending, f)
        if role != "assistant":
            messages.append({"role": role, "content": content})
            continue
        parsed, errors = parse_tool_calls(content)
        if errors:
            raise _Bad(f"{f}: bad <tool_call>: {errors[0]}")
        msg = {"role": "assistant", "content": TOOL_CALL_RE.sub("", content).strip() if parsed else content}
        if parsed:
            msg["tool_calls"] = [_call(c["name"], c["arguments"], tools, f"{f} <tool_call> {k}", f"call_{n}_{k}")
                                 for k, c in enumerate(parsed)]
            pending = list(msg["tool_calls"])
        messages.append(msg)
    if text[pos:].strip():
        raise _Bad("text: unexpected text after the last <|im_end|>")
    if not messages:
        raise _Bad("text: no <|im_start|>role ... <|im_end|> turns")
    return messages, tools


CONVERTERS = {"alpaca": _alpaca, "sharegpt": _sharegpt, "openai": _openai, "chatml": _chatml}
CONTAINER = {"alpaca": "record", "sharegpt": "conversations", "openai": "messages", "chatml": "text"}


def _record(obj: Any, fmt: str) -> dict:
    if not isinstance(obj, dict):
        raise _Bad(f"expected a JSON object, got {_kind(obj)}")
    messages, tools = CONVERTERS[fmt](obj)
    roles, where = [m["role"] for m in messages], CONTAINER[fmt]
    if "user" not in roles:
        raise _Bad(f"{where}: no user message")
    if roles[-1] != "assistant":
        raise _Bad(f"{where}: must end with an assistant message, ends with {roles[-1]!r}")
    key = "agent_role" if "agent_role" in obj else "role"
    agent_role = obj.get(key)
    if agent_role is not None and (not isinstance(agent_role, str) or agent_role not in AGENT_ROLES):
        raise _Bad(f"{key}: {agent_role!r} is not one of {sorted(AGENT_ROLES)}")
    steps = roles.count("assistant")
    calling = sum(1 for m in messages if m.get("tool_calls"))
    canonical = json.dumps(messages, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return {"id": hashlib.sha1(canonical.encode()).hexdigest()[:12], "tools": tools, "messages": messages,
            "meta": {"agent_role": agent_role or "imported",
                     "kind": "multi" if calling > 1 else "single" if calling == 1 else "no_tool",
                     "steps": steps, "source": f"import:{fmt}"}}


def _unicode(obj: Any) -> None:
    """Strings are real Unicode: a lone surrogate escape (\\ud800) cannot be written back as UTF-8."""
    try:
        json.dumps(obj, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as e:
        code = ord(e.object[e.start])
        raise _Bad(f"a string holds a lone surrogate \\u{code:04x}, which is not valid Unicode") from None


def import_file(path: str | Path, fmt: Format) -> list[dict]:
    """Read a dataset file in `fmt` and return our records; any bad record raises `TunepilotError`."""
    if fmt not in CONVERTERS:
        raise TunepilotError(f"unknown dataset format {fmt!r}: expected one of {sorted(CONVERTERS)}")
    data = read_file(Path(path))
    if not data.strip(b" \t\r\n"):
        raise TunepilotError(f"{path}: no records (the file is empty)")
    records = []
    for lineno, obj in read_items(path, data):
        try:
            _unicode(obj)
            records.append(_record(obj, fmt))
        except _Bad as e:
            msg = str(e)  # it may quote the user's text: one short line
            raise TunepilotError(f"{path}:{lineno}: {msg if len(msg) <= 500 else msg[:497] + '...'}") from None
        except RecursionError:
            raise TunepilotError(f"{path}:{lineno}: nested too deeply") from None
    if not records:
        raise TunepilotError(f"{path}: no records (only blank lines, or an empty JSON array)")
    return records
