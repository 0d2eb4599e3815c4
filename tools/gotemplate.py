"""The Go text/template subset that Ollama Modelfile TEMPLATEs use, evaluated in Python: exactly what
tools/modelfile.py emits (range over .Messages / .Tools / .ToolCalls with optional `$i, $x :=`,
if/else, eq/ne/not/or/index, Ollama's `json`, variables, trim markers) over the values Ollama's
template.Execute passes (.System, collated .Messages, .Tools), so the template round trip is
checked without an ollama binary. Anything outside the subset is refused with a clear error, never
rendered approximately.
"""

from __future__ import annotations

import json
import re
from typing import Callable

from tunepilot.gojson import go_json, ollama_function, ordered_arguments

_WS = " \t\r\n"  # what Go's trim markers remove


_TOKEN = re.compile(r'\s*(?:(?P<str>"(?:[^"\\\n]|\\.)*")|(?P<num>-?\d+)|(?P<op>:=|=|\()|\)(?P<close>(?:\.\w+)*)'
                    r'|(?P<var>\$\w*)(?P<vf>(?:\.\w+)*)|(?P<field>(?:\.\w+)+|\.)|(?P<ident>[A-Za-z_]\w*))')
_ACTION = re.compile(r'(?:"(?:[^"\\\n]|\\.)*"|[^"}]|}(?!}))*')  # an action's body, up to its }} (strings skipped)
_FUNCS = {"eq": (2, 9), "ne": (2, 2), "not": (1, 1), "or": (1, 9), "index": (1, 9), "json": (1, 1)}  # (min, max) args
_RANGE_VARS = re.compile(r"(\$\w*)\s*(?:,\s*(\$\w*)\s*)?:=\s*(.*)", re.S)


class GoValue(dict):
    """A Go struct as a template sees it: fields by Go name; Ollama's `json` marshals `wire`, its JSON form."""

    def __init__(self, fields: dict, wire):
        super().__init__(fields)
        self.wire = wire


def _unsupported(src: str, why: str = "") -> ValueError:
    return ValueError(f"unsupported Go template action {{{{ {src} }}}}" + (f": {why}" if why else ""))


def _frame(scope: list[dict], var: str) -> dict:
    frame = next((f for f in reversed(scope) if var in f), None)
    if frame is None:
        raise ValueError(f"undefined variable {var}")
    return frame


def _fields(get: Callable, chain: str) -> Callable:
    """`get` followed by .Field access; a missing field is an error (Ollama's messages are structs)."""
    def value(dot, scope):
        v = get(dot, scope)
        for f in filter(None, chain.split(".")):
            if not isinstance(v, dict) or f not in v:
                raise ValueError(f"can't evaluate field .{f}")
            v = v[f]
        return v
    return value


def _call(name: str, args: list[Callable]):
    """A builtin; args are thunks so that `or` short-circuits as in Go >= 1.18."""
    if name == "or":
        for a in args:
            if v := a():
                return v
        return v
    vals = [a() for a in args]
    if name == "json":
        return go_json(vals[0].wire if isinstance(vals[0], GoValue) else vals[0])
    if name in ("eq", "ne"):
        if any(type(v) is not type(vals[0]) for v in vals):
            raise ValueError(f"incompatible types for comparison in {name}")
        return vals[0] in vals[1:] if name == "eq" else vals[0] != vals[1]
    if name == "index":
        v = vals[0]
        for k in vals[1:]:
            if not isinstance(v, list) or not isinstance(k, int) or not 0 <= k < len(v):
                raise ValueError(f"error calling index: index {k} out of range")
            v = v[k]
        return v
    return not vals[0]


def _compile(src: str) -> tuple[str, Callable]:
    """One action -> ("print" | "set", fn(dot, scope)); ValueError for anything outside the subset."""
    toks, pos = [], 0
    while pos < len(src):
        if not (m := _TOKEN.match(src, pos)) or m.end() == pos:
            raise _unsupported(src, f"at {src[pos:]!r}")
        toks.append(m)
        pos = m.end()

    def command(i: int) -> tuple[Callable, int]:  # from toks[i] to a ")" or the end
        args: list = []
        while i < len(toks) and toks[i]["close"] is None:
            m, i = toks[i], i + 1
            if m["op"] == "(":
                inner, i = command(i)
                if i == len(toks):
                    raise _unsupported(src, "unbalanced parentheses")
                args.append(_fields(inner, toks[i]["close"]))
                i += 1
            elif m["str"] or m["num"]:
                lit = json.loads(m["str"], strict=False) if m["str"] else int(m["num"])
                args.append(lambda dot, scope, lit=lit: lit)
            elif m["field"]:
                args.append(_fields(lambda dot, scope: dot, m["field"]))
            elif m["var"]:
                args.append(_fields(lambda dot, scope, v=m["var"]: _frame(scope, v)[v], m["vf"]))
            elif m["ident"] in _FUNCS:
                args.append(m["ident"])
            else:
                raise _unsupported(src, repr(m.group().strip()))
        fn, rest = (args[0], args[1:]) if args and isinstance(args[0], str) else (None, args)
        if any(isinstance(a, str) for a in rest) or (fn is None and len(rest) != 1):
            raise _unsupported(src)
        if fn is None:
            return rest[0], i
        if not _FUNCS[fn][0] <= len(rest) <= _FUNCS[fn][1]:
            raise _unsupported(src, f"wrong number of arguments for {fn}")
        return (lambda dot, scope: _call(fn, [lambda a=a: a(dot, scope) for a in rest])), i

    decl = len(toks) > 2 and toks[0]["var"] and not toks[0]["vf"] and toks[1]["op"] in (":=", "=")
    get, i = command(2 if decl else 0)
    if i != len(toks):
        raise _unsupported(src, "unbalanced parentheses")
    if not decl:
        return "print", get
    var, op = toks[0]["var"], toks[1]["op"]

    def assign(dot, scope):  # := declares in the innermost scope, = sets the nearest declared one
        value = (scope[-1] if op == ":=" else _frame(scope, var))[var] = get(dot, scope)
        return value
    return "set", assign


def _lex(src: str) -> list[tuple[str, str]]:
    """("text", s) and ("action", body), with `{{- ` / ` -}}` trimming the adjacent text like Go."""
    out, i = [], 0
    while (j := src.find("{{", i)) >= 0:
        k, text = j + 2, src[i:j]
        if src[k:k + 1] == "-" and src[k + 1:k + 2] and src[k + 1] in _WS:
            text, k = text.rstrip(_WS), k + 1
        m = _ACTION.match(src, k)
        if not src.startswith("}}", m.end()):
            raise ValueError(f"unclosed action at char {j}")
        body, i = m.group(), m.end() + 2
        if body.endswith("-") and body[-2:-1] and body[-2] in _WS:
            body = body[:-1]
            while i < len(src) and src[i] in _WS:
                i += 1
        out += [("text", text), ("action", body.strip())]
    return out + [("text", src[i:])]


def _parse(it, nested: bool) -> tuple[list, str | None]:
    """Nodes until {{ end }} / {{ else ... }} (returned) when nested; the whole template otherwise."""
    nodes: list = []
    for kind, v in it:
        word = v.split(None, 1)[0] if kind == "action" and v else ""
        if kind == "text":
            nodes.append(("text", v))
        elif word in ("end", "else") and nested:
            return nodes, v
        elif word == "if":
            branches, cond, other = [], _compile(v[2:].strip())[1], []
            while True:
                body, term = _parse(it, True)
                branches.append((cond, body))
                if not term.startswith("else if "):
                    break
                cond = _compile(term[8:].strip())[1]
            if term == "else":
                other, term = _parse(it, True)
            if term != "end":
                raise _unsupported(term)
            nodes.append(("if", branches, other))
        elif word == "range":
            body, term = _parse(it, True)
            if term != "end":
                raise _unsupported(term, "in range")
            pipe, names = v[5:].strip(), []
            if m := _RANGE_VARS.fullmatch(pipe):  # range $x := p  /  range $i, $x := p
                names, pipe = [n for n in m.group(1, 2) if n], m.group(3)
            nodes.append(("range", _compile(pipe)[1], body, names))
        elif word in ("end", "else", "with", "define", "template", "block", "break", "continue") or v[:2] == "/*":
            raise _unsupported(v)
        else:
            nodes.append(_compile(v))
    if nested:
        raise ValueError("missing {{ end }}")
    return nodes, None


def _exec(nodes: list, dot, scope: list[dict], out: list[str]) -> None:
    for n in nodes:
        if n[0] == "text":
            out.append(n[1])
        elif n[0] == "set":
            n[1](dot, scope)
        elif n[0] == "print":
            if not isinstance(v := n[1](dot, scope), (str, int)):
                raise ValueError(f"cannot print a {type(v).__name__}")
            out.append(str(v).lower() if isinstance(v, bool) else str(v))
        elif n[0] == "if":  # a scope for the conditions and the taken branch, as Go's
            scope.append({})
            _exec(next((body for cond, body in n[1] if cond(dot, scope)), n[2]), dot, scope, out)
            scope.pop()
        else:
            if not isinstance(items := n[1](dot, scope), list):
                raise ValueError("range over a non-list")
            for i, item in enumerate(items):  # dot = the item; a fresh scope each iteration
                names = n[3]
                scope.append(dict(zip(names, [i, item] if len(names) == 2 else [item])))
                _exec(n[2], item, scope, out)
                scope.pop()


def _tool_call(c: dict) -> GoValue:
    fn = c.get("function", c)
    args = fn.get("arguments") or {}
    args = ordered_arguments(json.loads(args) if isinstance(args, str) else args)  # the order it arrived in
    return GoValue({"Function": GoValue({"Name": fn["name"], "Arguments": GoValue({}, args)},
                                        {"index": 0, "name": fn["name"], "arguments": args})}, None)


def ollama_values(messages: list[dict], tools: list[dict] | None = None) -> dict:
    """What Ollama's template.Execute gives a TEMPLATE for an /api/chat (or /v1) request in OpenAI
    format: .System (every system message, joined by a blank line), .Messages collated (consecutive
    messages of one role, except tool, merged), each with .Role, .Content, .ToolCalls, .ToolName, and
    .Tools (.Type, .Function as api.ToolFunction)."""
    merged: list[dict] = []
    for m in messages:
        if merged and merged[-1]["Role"] == m["role"] != "tool":
            merged[-1]["Content"] += "\n\n" + (m.get("content") or "")
            continue
        merged.append({"Role": m["role"], "Content": m.get("content") or "",
                       "ToolCalls": [_tool_call(c) for c in m.get("tool_calls") or []],
                       "ToolName": m.get("tool_name") or m.get("name") or ""})
    system = "\n\n".join(m.get("content") or "" for m in messages if m["role"] == "system")
    tool_values = [GoValue({"Type": t.get("type", "function"),
                            "Function": GoValue({"Name": t["function"].get("name", "")}, ollama_function(t["function"]))},
                           None) for t in tools or []]
    return {"System": system, "Messages": merged, "Tools": tool_values}


def render_go_template(template: str, messages: list[dict], tools: list[dict] | None = None) -> str:
    """Render a TEMPLATE as Ollama would for these messages and tools; ValueError on any action
    outside the subset."""
    root = ollama_values(messages, tools)
    out: list[str] = []
    _exec(_parse(iter(_lex(template)), False)[0], root, [{"$": root}], out)
    return "".join(out)


# --- the GGUF's embedded template -----------------------------------------------------------------
