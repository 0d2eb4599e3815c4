"""Chat-template round trip for export, and the Ollama Modelfile: training render = GGUF = Modelfile.

    w = role_wrappers(render)        # render(messages, add_generation_prompt) -> str, as in training
    check = roundtrip_check(render, embedded_template("model-f16.gguf"), modelfile_template(w), load_golden())
    write_modelfile("out/Modelfile", "model-q8_0.gguf", modelfile_template(w), ["<|im_end|>"], None, {"temperature": 0})

A Modelfile TEMPLATE is Go text/template, not Jinja, so it is derived, not translated: the training
template is probed with placeholder contents for the literal text around each role's content.
`render_go_template` evaluates exactly the Go subset emitted here, so no ollama binary is needed.
"""

from __future__ import annotations

import json
import os
import re
from datetime import datetime
from pathlib import Path
from typing import Callable, Literal

from pydantic import BaseModel

from tunepilot.chat import tools_prompt_parts
from tunepilot.tools.gotemplate import render_go_template  # noqa: F401 (part of this module's interface)

Render = Callable[[list[dict], bool], str]
GOLDEN = Path(__file__).parent / "data" / "golden_conversations.jsonl"


class Wrappers(BaseModel):
    """The literal text a template puts around each role's content."""
    system_prefix: str
    system_suffix: str
    user_prefix: str
    user_suffix: str
    assistant_prefix: str
    assistant_suffix: str
    generation_prompt: str  # what add_generation_prompt=True appends
    default_system: str  # the whole block inserted when the first message is not a system one ("" if none)


# --- probing the training template --------------------------------------------------------------
def _msgs(*pairs: tuple[str, str]) -> list[dict]:
    return [{"role": r, "content": c} for r, c in pairs]


def _split(text: str, contents: list[str], what: str) -> list[str]:
    """The text between consecutive contents: len(contents) + 1 pieces."""
    pieces, pos = [], 0
    for c in contents:
        i = text.find(c, pos)
        if i < 0:
            raise ValueError(f"chat template drops, alters or reorders message content ({what}): "
                             "it cannot be expressed as a Modelfile TEMPLATE")
        pieces.append(text[pos:i])
        pos = i + len(c)
    return pieces + [text[pos:]]


def _cut(text: str, part: str, end: bool, what: str) -> str:
    if not (text.endswith(part) if end else text.startswith(part)):
        raise ValueError(f"chat template is not role-constant: {what}; it cannot be expressed as a Modelfile TEMPLATE")
    return text[: len(text) - len(part)] if end else text[len(part):]


def _render_wrappers(w: Wrappers, messages: list[dict], add_generation_prompt: bool) -> str:
    out = [w.default_system] if not messages or messages[0]["role"] != "system" else []
    for m in messages:
        role = m["role"]
        out += [getattr(w, f"{role}_prefix"), m["content"], getattr(w, f"{role}_suffix")]
    return "".join(out) + (w.generation_prompt if add_generation_prompt else "")


def role_wrappers(render: Render) -> Wrappers:
    """Derive each role's wrapper text by rendering placeholder conversations; ValueError if the
    template's wrappers depend on more than the role (position, neighbours, content)."""
    S, U1, A1, U2, A2, U3 = [(r, f"@@{r}-{i}@@") for r, i in (("system", 1), ("user", 1), ("assistant", 1),
                                                              ("user", 2), ("assistant", 2), ("user", 3))]
    head, s_u, u_a, a_u, _, a_suffix = _split(render(_msgs(S, U1, A1, U2, A2), False),
                                              [S[1], U1[1], A1[1], U2[1], A2[1]], "system, user, assistant turns")
    base = render(_msgs(S, U1), False)
    u_suffix = _split(base, [S[1], U1[1]], "system + user")[-1]
    u_prefix = _cut(a_u, a_suffix, False, "the text after an assistant turn does not start with its end text")
    no_system = _split(render(_msgs(U1, A1), False), [U1[1], A1[1]], "user + assistant, no system")[0]
    w = Wrappers(
        system_prefix=head,
        system_suffix=_cut(s_u, u_prefix, True, "the first user turn after the system turn is wrapped differently"),
        user_prefix=u_prefix, user_suffix=u_suffix,
        assistant_prefix=_cut(u_a, u_suffix, False, "the text after a user turn does not start with its end text"),
        assistant_suffix=a_suffix,
        generation_prompt=_cut(render(_msgs(S, U1), True), base, False, "add_generation_prompt changes earlier text"),
        default_system=_cut(no_system, u_prefix, True, "the first user turn without a system turn is wrapped differently"))
    pad = [(r, f" \n{c}\t\n ") for r, c in (S, U1, A1)]
    probes = {"later turns wrapped like earlier ones": (_msgs(S, U1, A1, U2, A2, U3), True),
              "no system message": (_msgs(U1, A1, U2), True), "a lone user turn": (_msgs(U1), True),
              "content kept verbatim (whitespace)": (_msgs(*pad), False)}
    for name, (msgs, gen) in probes.items():
        got, want = render(msgs, gen), _render_wrappers(w, msgs, gen)
        if got != want:
            i = _first_diff(got, want)
            raise ValueError(f"chat template is not role-constant ({name}): at char {i} it renders "
                             f"{got[i:i + 40]!r}, fixed role wrappers give {want[i:i + 40]!r}; "
                             "it cannot be expressed as a Modelfile TEMPLATE")
    return w


# --- the Go template ------------------------------------------------------------------------------
def _go_text(text: str) -> str:
    """Literal text for a Go template: `{` and `"` become string actions, so no `{{` and no triple
    quote (which would end the Modelfile's TEMPLATE block) survives."""
    return re.sub(r'[{"]', lambda m: '{{ "\\"" }}' if m.group() == '"' else '{{ "{" }}', text)


def modelfile_template(w: Wrappers) -> str:
    """An Ollama TEMPLATE (Go text/template over .System, .Messages and .Tools) that renders exactly
    like training: the tool list of prompts/tool_calling.md in the system turn, calls as
    `<tool_call>` text after the assistant's content, tool results as user turns (tunepilot.chat).
    `{{ if .ToolCalls }}` around the calls is what Ollama's parser looks in for the call tag."""
    before, after = tools_prompt_parts()
    tool_list = (_go_text(before) + "{{ range $i, $t := .Tools }}{{ if $i }}\n{{ end }}{{ json .Function }}{{ end }}"
                 + _go_text(after) + "{{ if .System }}\n\n{{ end }}")
    t = ("{{- if or .System .Tools }}" + _go_text(w.system_prefix) + "{{ if .Tools }}" + tool_list + "{{ end }}"
         + "{{ .System }}" + _go_text(w.system_suffix)
         + ("{{ else }}" + _go_text(w.default_system) if w.default_system else "") + "{{ end }}\n")
    call = (_go_text('<tool_call>{"name": ') + "{{ json .Function.Name }}" + _go_text(', "arguments": ')
            + "{{ json .Function.Arguments }}" + _go_text("}</tool_call>"))
    result = (_go_text('<tool_response>{"name":') + "{{ json .ToolName }}" + _go_text(',"content":')
              + "{{ json .Content }}" + _go_text("}</tool_response>"))
    user, assistant = (lambda body: _go_text(w.user_prefix) + body + _go_text(w.user_suffix),
                       lambda body: _go_text(w.assistant_prefix) + body + _go_text(w.assistant_suffix))
    t += ('{{- $last := "" }}\n'
          '{{- range .Messages }}{{ $last = .Role }}\n'
          '{{- if eq .Role "user" }}' + user("{{ .Content }}")
          + '{{ else if eq .Role "assistant" }}'
          + assistant("{{ .Content }}{{ if .ToolCalls }}{{ range .ToolCalls }}" + call + "{{ end }}{{ end }}")
          + '{{ else if eq .Role "tool" }}' + user(result) + "{{ end }}\n"
          "{{- end }}")
    if w.generation_prompt:
        t += '\n{{- if ne $last "assistant" }}' + _go_text(w.generation_prompt) + "{{ end }}"
    return t


def embedded_template(gguf_path: str | Path) -> str | None:
    """The `tokenizer.chat_template` string that llama.cpp's converter copied into the GGUF."""
    from gguf import GGUFReader

    field = GGUFReader(str(gguf_path)).fields.get("tokenizer.chat_template")
    return bytes(field.parts[field.data[0]]).decode("utf-8") if field else None


def render_jinja(template: str, messages: list[dict], add_generation_prompt: bool, bos_token: str = "",
                 eos_token: str = "") -> str:
    """Render a chat template as llama.cpp, llama-cpp-python and HF do (sandboxed jinja2)."""
    from jinja2.exceptions import TemplateError
    from jinja2.ext import loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str):
        raise TemplateError(message)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = lambda x, ensure_ascii=False, indent=None, separators=None, sort_keys=False: json.dumps(
        x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)  # as HF's
    env.globals.update(raise_exception=raise_exception, strftime_now=lambda f: datetime.now().strftime(f))
    return env.from_string(template).render(messages=messages, add_generation_prompt=add_generation_prompt,
                                            bos_token=bos_token, eos_token=eos_token)


# --- the round trip ---------------------------------------------------------------------------------
class Difference(BaseModel):
    renderer: Literal["gguf", "modelfile"]  # which one disagrees with the training render
    index: int  # first differing character
    training: str  # the training render around index
    other: str  # that renderer's output around index


class Case(BaseModel):
    name: str
    equal: bool  # all three renders identical
    training: str
    gguf: str | None  # None: no embedded template, or it failed (see error)
    modelfile: str | None
    error: str | None = None
    first_difference: Difference | None = None


class TemplateCheck(BaseModel):
    ok: bool
    missing: list[str]  # renderers that could not run at all ("gguf": the GGUF has no chat template)
    cases: list[Case]


def _first_diff(a: str, b: str) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


def roundtrip_check(training_render: Render, gguf_template: str | None, modelfile_tmpl: str,
                    conversations: list[dict] | list[list[dict]], bos_token: str = "",
                    eos_token: str = "") -> TemplateCheck:
    """Render each conversation three ways and compare byte for byte. Records (dicts with "messages")
    go through tunepilot.chat.render_messages first; plain message lists are used as they are."""
    from jinja2.exceptions import TemplateError

    from tunepilot.chat import render_messages

    cases = []
    for n, conv in enumerate(conversations):
        if isinstance(conv, dict):
            name, msgs = conv.get("id") or f"case-{n}", render_messages(conv)
        else:
            name, msgs = f"case-{n}", conv
        gen = msgs[-1]["role"] != "assistant"
        case = Case(name=name, equal=False, training=training_render(msgs, gen), gguf=None, modelfile=None)
        errors = []
        try:
            case.gguf = render_jinja(gguf_template, msgs, gen, bos_token, eos_token) if gguf_template else None
        except TemplateError as e:
            errors.append(f"gguf template: {e}")
        try:
            case.modelfile = (render_go_template(modelfile_tmpl, conv["messages"], conv.get("tools"))
                              if isinstance(conv, dict) else render_go_template(modelfile_tmpl, msgs))
        except ValueError as e:
            errors.append(f"modelfile template: {e}")
        case.error = "; ".join(errors) or None
        diffs = [Difference(renderer=r, index=(i := _first_diff(case.training, out)),
                            training=case.training[max(0, i - 30):i + 30], other=out[max(0, i - 30):i + 30])
                 for r, out in (("gguf", case.gguf), ("modelfile", case.modelfile))
                 if out is not None and out != case.training]
        case.first_difference = min(diffs, key=lambda d: d.index, default=None)
        case.equal = case.gguf == case.modelfile == case.training
        cases.append(case)
    missing = [] if gguf_template else ["gguf"]
    return TemplateCheck(ok=bool(cases) and not missing and all(c.equal for c in cases), missing=missing, cases=cases)


# --- the Modelfile ----------------------------------------------------------------------------------
def _quote(text: str, what: str, block: bool) -> str:
    """Quote a Modelfile value: Ollama's parser has no escapes and drops non-printable characters."""
    if any(not (c.isprintable() or c in "\t\r\n") for c in text):
        raise ValueError(f"{what} has a non-printable character, which Ollama's Modelfile parser drops")
    if '"""' in text or not text:
        raise ValueError(f'{what} is empty or contains """, which a Modelfile cannot quote: {text[:60]!r}')
    return f'"""{text}"""' if block or any(c in text for c in '"\n') else f'"{text}"'


def write_modelfile(path: str | Path, gguf_file: str, template: str, stop: list[str], system: str | None,
                    params: dict) -> str:
    """Write an Ollama Modelfile next to the GGUF (atomically); returns its path."""
    lines = [f"FROM ./{Path(gguf_file).name}", f"TEMPLATE {_quote(template, 'TEMPLATE', True)}"]
    lines += [f"PARAMETER stop {_quote(s, 'stop string', False)}" for s in stop]
    for key, value in params.items():
        for v in value if isinstance(value, list) else [value]:
            lines.append(f"PARAMETER {key} {str(v).lower() if isinstance(v, bool) else v}")
    if system:
        lines.append(f"SYSTEM {_quote(system, 'SYSTEM', True)}")
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return str(path)


def load_golden(path: str | Path | None = None) -> list[dict]:
    """The golden conversations (records in our OpenAI format) the round trip is checked on."""
    return [json.loads(line) for line in Path(path or GOLDEN).read_text(encoding="utf-8").splitlines() if line.strip()]
