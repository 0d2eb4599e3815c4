"""tools/modelfile.py: wrappers probed from real templates, the Go subset evaluator, the three-way
round trip on the golden conversations (SmolLM2's real tokenizer and GGUF), and the Modelfile text."""

from __future__ import annotations

import json

import pytest

from tests.conftest import _smollm2_dir
from tunepilot.tools.modelfile import (
    Wrappers,
    embedded_template,
    load_golden,
    modelfile_template,
    render_go_template,
    render_jinja,
    role_wrappers,
    roundtrip_check,
    write_modelfile,
)

GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
LLAMA3 = (  # Llama-3 layout, written inline: bos_token, a default system block, headers instead of ChatML
    "{{ bos_token }}{% for m in messages %}{% if loop.first and m['role'] != 'system' %}"
    "<|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023<|eot_id|>{% endif %}"
    "<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n{{ m['content'] }}<|eot_id|>{% endfor %}"
    "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}")
LLAMA2 = (  # the system prompt lives inside the first [INST]: wrappers depend on position, not role
    "{% for m in messages %}{% if m['role'] == 'system' %}<s>[INST] <<SYS>>\n{{ m['content'] }}\n<</SYS>>\n\n"
    "{% elif m['role'] == 'user' %}{% if loop.index0 > 1 or messages[0]['role'] != 'system' %}<s>[INST] {% endif %}"
    "{{ m['content'] }} [/INST]{% else %} {{ m['content'] }} </s>{% endif %}{% endfor %}")
TRIMMING = "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] | trim }}</{{ m['role'] }}>{% endfor %}"


def _msgs(*pairs: str) -> list[dict]:
    return [{"role": r, "content": c} for r, c in zip(pairs[::2], pairs[1::2])]


@pytest.fixture(scope="session")
def smollm2():
    """SmolLM2's real tokenizer, the render used in training (tools.train.training_template), and the
    chat template embedded in its real GGUF (read once: GGUFReader takes ~5 s on its 49k-token vocab)."""
    from transformers import AutoTokenizer

    from tunepilot.tools.train import training_template

    tok = AutoTokenizer.from_pretrained(_smollm2_dir(), gguf_file=GGUF)
    template = training_template(tok) or tok.chat_template

    def render(messages: list[dict], add_generation_prompt: bool) -> str:
        return tok.apply_chat_template(messages, chat_template=template, tokenize=False,
                                       add_generation_prompt=add_generation_prompt)

    return tok, render, embedded_template(_smollm2_dir() / GGUF)


# --- probing ------------------------------------------------------------------------------------
def test_smollm2_wrappers_and_template(smollm2):
    w = role_wrappers(smollm2[1])
    assert (w.user_prefix, w.user_suffix) == ("<|im_start|>user\n", "<|im_end|>\n")
    assert (w.assistant_prefix, w.assistant_suffix) == ("<|im_start|>assistant\n", "<|im_end|>\n")
    assert w.generation_prompt == "<|im_start|>assistant\n"
    assert w.default_system == ("<|im_start|>system\nYou are a helpful AI assistant named SmolLM, "
                                "trained by Hugging Face<|im_end|>\n")
    t = modelfile_template(w)
    assert '{{- if eq .Role "user" }}<|im_start|>user\n{{ .Content }}<|im_end|>\n' in t
    assert "{{ if .ToolCalls }}{{ range .ToolCalls }}<tool_call>" in t  # where Ollama's parser finds the call tag
    assert t.endswith('{{- if ne $last "assistant" }}<|im_start|>assistant\n{{ end }}')


def test_golden_round_trip_smollm2(smollm2):
    tok, render, gguf_template = smollm2
    assert gguf_template == tok.chat_template  # the converter copied the tokenizer's template
    records = load_golden()
    assert 6 <= len(records) <= 10 and len({r["id"] for r in records}) == len(records)
    check = roundtrip_check(render, gguf_template, modelfile_template(role_wrappers(render)), records)
    assert check.ok and not check.missing, [c.first_difference for c in check.cases if not c.equal]
    by_name = {c.name: c for c in check.cases}
    assert by_name["no-system"].training.startswith("<|im_start|>system\nYou are a helpful AI assistant")
    assert by_name["ends-on-user"].modelfile.endswith("<|im_start|>user\nAnd the ones in tests/test_app.py?"
                                                      "<|im_end|>\n<|im_start|>assistant\n")
    assert "<tool_call>" in by_name["two-calls"].training and "« {{ name }} »" in by_name["unicode-braces"].gguf
    assert all(c.training.endswith("<|im_end|>\n") for n, c in by_name.items() if n not in ("ends-on-user", "whole-numbers"))
    # tools, parallel calls and their results, as Ollama writes them into the prompt (Go's json of its structs)
    par = by_name["parallel-calls"].modelfile
    assert par.startswith("<|im_start|>system\nYou are a coding agent with these tools:\n<tools>\n"
                          '{"name":"run_tests","description":"Run the test suite, or one file of it.",'
                          '"parameters":{"type":"object","required":["path"],"properties":{"path":{"type":"string",')
    assert '"timeout_s":{"type":"number","description":"Give up after this many seconds."}' in par  # default, minimum dropped
    assert "additionalProperties" not in par and "Check style \\u0026 types of a file (flake8 \\u003crules\\u003e)." in par
    assert "</tools>\nTo call a tool" in par and "\n\nWork in the repository at /src.<|im_end|>" in par
    assert ('<tool_call>{"name": "run_tests", "arguments": {"path":"tests/test_io.py","timeout_s":2.5,"markers":["fast"]}}'
            '</tool_call><tool_call>{"name": "lint", "arguments": {"path":"io.py","level":"warning"}}</tool_call>') in par
    assert par.count("<|im_start|>user\n<tool_response>") == 2
    assert '{"name":"lint","content":"io.py:7: W605 invalid escape \'\\\\d\' in \\"\\u003cre\\u003e\\" \\u0026\\u0026 co."}' in par
    whole = by_name["whole-numbers"].modelfile
    assert '"arguments": {"width":640,"height":480,"scale":1}' in whole and '"scale":{"type":"number"' in whole
    assert "Resizing.<tool_call>" in whole and whole.endswith("Thanks<|im_end|>\n<|im_start|>assistant\n")


def test_round_trip_reports_what_ollama_renders_differently(smollm2):
    """The known differences, stated rather than hidden: Ollama escapes <, >, & in a past call's
    arguments (training writes them raw, as the constrained decoder can), and keeps a client's
    argument order (training writes schema order)."""
    _, render, gguf_template = smollm2
    rec = next(r for r in load_golden() if r["id"] == "parallel-calls")
    call = rec["messages"][2]["tool_calls"][1]["function"]
    tmpl = modelfile_template(role_wrappers(render))
    for args, seen in (({"path": "a<b.py"}, "a\\u003cb.py"), ({"level": "error", "path": "io.py"}, '{"level":"error"')):
        call["arguments"] = json.dumps(args)
        case = roundtrip_check(render, gguf_template, tmpl, [rec]).cases[0]
        assert not case.equal and case.first_difference.renderer == "modelfile" and seen in case.modelfile


def test_broken_modelfile_template_is_caught_where_it_differs(smollm2):
    _, render, gguf_template = smollm2
    broken = modelfile_template(role_wrappers(render)).replace("<|im_start|>user\n", "<|im_start|>user")
    check = roundtrip_check(render, gguf_template, broken, load_golden())
    assert not check.ok
    case = check.cases[0]
    d = case.first_difference
    assert not case.equal and d.renderer == "modelfile"
    assert d.index == case.training.index("<|im_start|>user\n") + len("<|im_start|>user")
    assert d.training.endswith("<|im_start|>user\n" + case.training[d.index + 1:d.index + 30])


def test_missing_gguf_template_fails_the_check(smollm2):
    render = smollm2[1]
    check = roundtrip_check(render, None, modelfile_template(role_wrappers(render)), load_golden()[:2])
    assert not check.ok and check.missing == ["gguf"]
    assert all(c.gguf is None and not c.equal and c.first_difference is None for c in check.cases)


def test_llama3_style_template_round_trips():
    def render(messages, gen):
        return render_jinja(LLAMA3, messages, gen, bos_token="<|begin_of_text|>")

    w = role_wrappers(render)
    assert w.user_prefix == "<|start_header_id|>user<|end_header_id|>\n\n" and w.assistant_suffix == "<|eot_id|>"
    assert w.default_system.startswith("<|begin_of_text|><|start_header_id|>system")
    check = roundtrip_check(render, LLAMA3, modelfile_template(w), load_golden(), bos_token="<|begin_of_text|>")
    assert check.ok, [c.first_difference for c in check.cases if not c.equal]


@pytest.mark.parametrize("template, why", [(LLAMA2, "first user turn after the system turn"),
                                           (TRIMMING, "content kept verbatim")])
def test_template_that_is_not_role_constant_is_refused(template, why):
    with pytest.raises(ValueError, match="cannot be expressed as a Modelfile") as e:
        role_wrappers(lambda messages, gen: render_jinja(template, messages, gen))
    assert why in str(e.value)


# --- the Go template subset ------------------------------------------------------------------------
def test_go_trim_markers_trim_all_adjacent_whitespace():
    m = _msgs("user", "a", "assistant", "b")
    assert render_go_template("x \n\t{{- range .Messages -}} \n [{{ .Content }}] \n{{- end }}", m) == "x[a][b]"
    assert render_go_template("{{ range .Messages }} {{ .Content }}\n{{ end }}", m) == " a\n b\n"
    assert render_go_template('{{ "{{" }} }} {{ "\\"" }}', m) == '{{ }} "'


def test_go_nested_if_else_if_else():
    t = ('{{ range .Messages }}{{ if eq .Role "user" }}U{{ if eq .Content "hi" }}!{{ else }}?{{ end }}'
         '{{ else if eq .Role "system" }}S{{ else }}O{{ end }}{{ end }}')
    assert render_go_template(t, _msgs("system", "s", "user", "hi", "assistant", "x", "user", "yo")) == "SU!OU?"


def test_go_variables_and_builtins():
    t = '{{- $last := "" }}{{ range .Messages }}{{ $last = .Role }}{{ end }}{{ $last }}'
    assert render_go_template(t, _msgs("user", "a", "assistant", "b")) == "assistant"  # assigned in range, seen after
    with pytest.raises(ValueError, match="undefined variable"):  # declared in range: gone after it, as in Go
        render_go_template("{{ range .Messages }}{{ $x := .Role }}{{ end }}{{ $x }}", _msgs("user", "a"))
    t = '{{ if or (not .Messages) (ne (index .Messages 0).Role "system") }}D{{ end }}{{ range .Messages }}.{{ end }}'
    assert render_go_template(t, []) == "D"  # `or` short-circuits: index is never evaluated
    assert render_go_template(t, _msgs("system", "s")) == "."
    assert render_go_template(t, _msgs("user", "u", "assistant", "a")) == "D.."


def test_go_messages_are_collated_as_ollama_does():
    t = "{{ range .Messages }}[{{ .Role }}: {{ .Content }}]{{ end }}"
    assert render_go_template(t, _msgs("user", "a", "user", "b", "assistant", "c")) == "[user: a\n\nb][assistant: c]"


@pytest.mark.parametrize("template", [
    "{{ .Content | upper }}", '{{ printf "%s" .Messages }}', "{{ with .Messages }}x{{ end }}",
    '{{ template "x" }}', "{{/* note */}}", "{{ range .Messages }}{{ break }}{{ end }}", "{{ .Tools }}",
    "{{ len .Messages }}", "{{ if .Messages }}x", "{{ end }}", "{{ .Messages", '{{ eq .Messages "x" }}', "{{ index .Messages 3 }}",
])
def test_go_outside_the_subset_raises(template):
    with pytest.raises(ValueError):
        render_go_template(template, _msgs("user", "a"))


def test_literal_braces_and_quotes_in_wrappers_survive_the_template():
    w = Wrappers(system_prefix='{{sys}} """', system_suffix="}\n", user_prefix="{", user_suffix='"', assistant_prefix=">",
                 assistant_suffix="<\n", generation_prompt='"""', default_system="{{ d }}")
    t = modelfile_template(w)
    assert '"""' not in t
    assert render_go_template(t, _msgs("system", "S", "user", "U")) == '{{sys}} """S}\n{U""""'
    assert render_go_template(t, _msgs("user", "U", "assistant", "A")) == '{{ d }}{U">A<\n'


# --- the Modelfile ---------------------------------------------------------------------------------
def test_write_modelfile(tmp_path, smollm2):
    template = modelfile_template(role_wrappers(smollm2[1]))
    system = 'Be brief. Say "done" when done.\nNever guess a {{ path }}.'
    path = write_modelfile(tmp_path / "Modelfile", str(tmp_path / "out" / "model-q8_0.gguf"), template,
                           ["<|im_end|>", "<|endoftext|>"], system, {"temperature": 0, "num_ctx": 2048})
    text = (tmp_path / "Modelfile").read_text()
    assert path == str(tmp_path / "Modelfile") and not list(tmp_path.glob("*.tmp"))
    assert text.startswith("FROM ./model-q8_0.gguf\nTEMPLATE \"\"\"")
    assert text.split('TEMPLATE """', 1)[1].split('"""\n', 1)[0] == template  # the parser's block is the template
    assert 'PARAMETER stop "<|im_end|>"\nPARAMETER stop "<|endoftext|>"\n' in text
    assert "PARAMETER temperature 0\nPARAMETER num_ctx 2048\n" in text
    assert text.endswith(f'SYSTEM """{system}"""\n')
    write_modelfile(tmp_path / "Modelfile", "m.gguf", template, ["<|im_end|>"], None, {})
    assert "SYSTEM" not in (tmp_path / "Modelfile").read_text()


def test_modelfile_refuses_what_it_cannot_quote(tmp_path):
    with pytest.raises(ValueError, match='"""'):
        write_modelfile(tmp_path / "Modelfile", "m.gguf", "{{ .Prompt }}", ["x"], 'say """hi"""', {})
    with pytest.raises(ValueError, match="non-printable"):
        write_modelfile(tmp_path / "Modelfile", "m.gguf", "{{ .Prompt }}", ["\x00"], None, {})
    assert not (tmp_path / "Modelfile").exists()
