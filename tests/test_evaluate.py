import json
import subprocess
import sys
from pathlib import Path

import pytest

from tunepilot.tools.evaluate import EvalSpec, mcnemar, same_value, score_turn

TOOLS = [{"type": "function", "function": {"name": "area", "description": "Area of a rectangle.", "parameters": {
    "type": "object", "properties": {"width": {"type": "number"}, "height": {"type": "number"},
                                     "round": {"type": "boolean"}},
    "required": ["width", "height"], "additionalProperties": False}}},
         {"type": "function", "function": {"name": "perimeter", "description": "Perimeter.", "parameters": {
             "type": "object", "properties": {"width": {"type": "number"}}, "required": ["width"]}}}]
EXPECTED = {"role": "assistant", "content": "", "tool_calls": [{"id": "c", "type": "function", "function": {
    "name": "area", "arguments": json.dumps({"width": 3, "height": 4.5, "round": False})}}]}


@pytest.mark.parametrize("output, kind", [
    ('<tool_call>{"name": "area", "arguments": {"width": 3, "height": 4.5, "round": false}}</tool_call>', ""),
    ('<tool_call>{"name":"area","arguments":{"height":4.5,"round":false,"width":3.0}}</tool_call>', ""),
    ("The area is 13.5.", "no_call"),
    ('<tool_call>{"name": "area", "arguments": {"width": 3,</tool_call>', "bad_format"),
    ('<tool_call>{"name": "area"', "bad_format"),
    ('<tool_call>{"name": "perimeter", "arguments": {"width": 3}}</tool_call>', "wrong_tool"),
    ('<tool_call>{"name": "area", "arguments": {"width": 3, "height": 4.5, "round": false, "unit": "m"}}</tool_call>', "extra_arg"),
    ('<tool_call>{"name": "area", "arguments": {"width": 3, "height": 4.5}}</tool_call>', "missing_arg"),
    ('<tool_call>{"name": "area", "arguments": {"width": 3, "height": 4.5, "round": 0}}</tool_call>', "schema_invalid"),
    ('<tool_call>{"name": "area", "arguments": {"width": 3, "height": 5, "round": false}}</tool_call>', "wrong_arg_value"),
    ('<tool_call>{"name": "area", "arguments": {"width": 3, "height": 4.5, "round": true}}</tool_call>', "wrong_arg_value"),
    ('<tool_call>{"name": "area", "arguments": {"width": 3, "height": 4.5, "round": false}}</tool_call>'
     '<tool_call>{"name": "area", "arguments": {"width": 3, "height": 4.5, "round": false}}</tool_call>', "wrong_count"),
])
def test_score_tool_call_turn(output, kind):
    assert score_turn(EXPECTED, output, TOOLS, [], final=False) == kind


def test_score_text_turns():
    answer = {"role": "assistant", "content": "The area is 13.5."}
    assert score_turn(answer, "It is 13.5 square units.", TOOLS, ["13.5"], final=True) == ""
    assert score_turn(answer, "It is 12.", TOOLS, ["13.5"], final=True) == "wrong_answer"
    assert score_turn(answer, '<tool_call>{"name": "area", "arguments": {}}</tool_call>', TOOLS, ["13.5"], True) == "unexpected_call"


def test_same_value_keeps_booleans_apart():
    assert same_value(1, 1.0) and same_value([1, {"a": 2}], [1.0, {"a": 2}])
    assert not same_value(True, 1) and not same_value(0, False) and not same_value("1", 1)


def test_mcnemar():
    base = [False] * 20 + [True] * 10
    tuned = [True] * 15 + [False] * 5 + [True] * 10
    c = mcnemar(base, tuned)
    assert (c["base_only"], c["tuned_only"]) == (0, 15)
    assert c["mcnemar_p"] == pytest.approx(2 / 2**15, rel=1e-4)
    assert c["diff"] == 0.5 and c["diff_ci95"][0] > 0.2
    assert mcnemar([True, False], [True, False])["mcnemar_p"] == 1.0


def test_spec_errors():
    with pytest.raises(ValueError, match="exactly one of --data or --suite"):
        EvalSpec()
    with pytest.raises(ValueError, match="--compare-base needs --adapter"):
        EvalSpec(suite="bfcl:simple_python", compare_base=True)


def test_cli_eval_compare_base_json(tiny_model, tiny_data, tmp_path):
    """The real CLI on the tiny model: base vs a freshly trained adapter, JSON contract."""
    from tunepilot.tools.train import TrainSpec, train

    r = train(TrainSpec(data=tiny_data, out=tmp_path / "t", model=tiny_model, max_steps=2, eval_steps=2, max_length=512))
    cmd = [sys.executable, "-m", "tunepilot.cli", "eval", "--data", str(tiny_data), "--model", tiny_model,
           "--adapter", str(r.adapter), "--compare-base", "--limit", "4", "--max-new-tokens", "12", "--json",
           "--out", str(tmp_path / "report.json")]
    p = subprocess.run(cmd, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr[-2000:]
    out = json.loads(p.stdout)
    assert out["n"] == 4 and 0 <= out["success_rate"] <= 1
    assert out["base"]["success_rate"] is not None and "tuned" not in out  # one shape: the tuned model's report on top
    assert out["latency_s"]["avg"] > 0 and out["latency_s"]["p95"] >= out["latency_s"]["p50"]
    assert out["latency_s"]["n"] == 4 and out["batch_latency_s"]["avg"] > 0  # probe: 4 single-request answers
    assert "mcnemar_p" in out["comparison"] and out["base"]["val_loss"] > 0
    full = json.loads((tmp_path / "report.json").read_text())
    assert len(full["items"]) == 4 and all("output" in t for t in full["items"][0]["turns"])
    assert len(full["base"]["items"]) == 4 and "items" not in out and "items" not in out["base"]


def test_cli_eval_bfcl_suite(tiny_model):
    p = subprocess.run([sys.executable, "-m", "tunepilot.cli", "eval", "--suite", "bfcl:simple_python", "--model",
                        tiny_model, "--limit", "2", "--max-new-tokens", "8", "--json"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr[-2000:]
    out = json.loads(p.stdout)
    assert out["n"] == 2 and out["source"] == "bfcl:simple_python"
    assert sum(out["failures"].values()) + round(out["success_rate"] * 2) == 2


def test_cli_bad_input_one_line_errors(tmp_path):
    for args, needle in [(["eval", "--suite", "nope:x"], "--suite nope:x"),
                         (["eval", "--suite", "bfcl:nope"], "BFCL category 'nope'"),
                         (["train", "--data", str(tmp_path), "--out", str(tmp_path / "o"), "--rank", "0"], "--rank"),
                         (["train", "--data", str(tmp_path), "--out", str(tmp_path / "o"), "--model", "no-such/model-xyz"],
                          "HF_HUB_OFFLINE")]:
        p = subprocess.run([sys.executable, "-m", "tunepilot.cli", *args], capture_output=True, text=True,
                           env={**__import__("os").environ, "HF_HUB_OFFLINE": "1"})
        assert p.returncode == 2, (args, p.stderr)
        lines = [l for l in p.stderr.strip().splitlines() if l.startswith("tunepilot: error")]
        assert len(lines) == 1 and needle in lines[0], (args, p.stderr)


def _prompts(gen, n=4):
    words = "list the files in the repository and then read the first one please".split()
    recs = [{"messages": [{"role": "user", "content": " ".join(words[: 3 + 3 * i])}]} for i in range(n)]
    return gen.tok([gen.prompt(r) for r in recs], return_tensors="pt", padding=True, add_special_tokens=False)


def test_greedy_drops_finished_rows_and_matches_generate(tiny_model):
    """Rows leave the batch at their stop token (the batch shrinks), and every row's tokens are
    exactly what transformers' own greedy `generate` makes."""
    import torch

    from tunepilot.tools.evaluate import Generator

    gen = Generator(tiny_model, precision="fp32")
    torch.manual_seed(0)
    with torch.no_grad():  # the random tiny model repeats one token; louder weights make rows differ
        for p in gen.model.parameters():
            if p.dim() > 1:
                p.normal_(0, 0.3)
    enc = _prompts(gen)
    with torch.inference_mode():
        free = gen.model.generate(**enc, max_new_tokens=12, do_sample=False, pad_token_id=gen.tok.pad_token_id)
    free = free[:, enc["input_ids"].shape[1]:].tolist()
    gen.stop = [free[0][2], free[3][6]]  # row 0 stops at its 3rd token, row 3 by its 7th: the batch must shrink
    sizes = []
    hook = gen.model.register_forward_pre_hook(lambda m, a, kw: sizes.append(tuple(kw["input_ids"].shape)), with_kwargs=True)
    mine = gen.greedy(enc["input_ids"], enc["attention_mask"], 12)
    hook.remove()
    with torch.inference_mode():
        ref = gen.model.generate(**enc, max_new_tokens=12, do_sample=False, eos_token_id=gen.stop,
                                 pad_token_id=gen.tok.pad_token_id)[:, enc["input_ids"].shape[1]:].tolist()
    for row, r in zip(mine, ref):
        end = next((i for i, t in enumerate(r) if t in gen.stop), None)
        assert row == (r if end is None else r[: end + 1])
    assert len(mine[0]) == 3 and len(mine[3]) <= 7 and max(len(r) for r in mine) == 12
    # on CPU each prompt's forward runs alone, without its padding; then the batched decode steps shrink
    assert sizes[:4] == [(1, int(k)) for k in enc["attention_mask"].sum(-1)]
    steps = [b for b, width in sizes[4:]]
    assert {w for _, w in sizes[4:]} == {1} and steps[0] == 4 and min(steps) < 4 and steps == sorted(steps, reverse=True)


def test_padded_prefill_equals_the_rows_alone(tiny_model):
    """The batch prefilled in one padded forward (what a GPU runs) decodes the same tokens as the rows
    prefilled alone (what the CPU runs), and each row the same as with no other row beside it."""
    import torch

    from tunepilot.tools.evaluate import Generator

    gen = Generator(tiny_model, precision="fp32")
    torch.manual_seed(1)
    with torch.no_grad():
        for p in gen.model.parameters():
            if p.dim() > 1:
                p.normal_(0, 0.3)
    enc = _prompts(gen)
    rows = gen.greedy(enc["input_ids"], enc["attention_mask"], 10)
    gen._prefill_rows = lambda ids, mask, cache: None  # the padded forward
    assert gen.greedy(enc["input_ids"], enc["attention_mask"], 10) == rows
    for i, k in enumerate(enc["attention_mask"].sum(-1).tolist()):
        alone = enc["input_ids"][i:i + 1, -k:]
        assert gen.greedy(alone, torch.ones_like(alone), 10) == [rows[i]]
    assert len({tuple(r) for r in rows}) > 1  # rows differ: the placement per row is checked


def test_base_evaluation_is_reused_until_model_data_or_settings_change(tiny_model, tiny_data, tmp_path, monkeypatch):
    from tunepilot.tools import evaluate as E
    from tunepilot.tools.train import TrainSpec, train

    monkeypatch.setenv("TUNEPILOT_HOME", str(tmp_path / "home"))
    adapter = train(TrainSpec(data=tiny_data, out=tmp_path / "t", model=tiny_model, max_steps=1, eval_steps=100,
                              max_length=512)).adapter
    spec = EvalSpec(data=tiny_data, model=tiny_model, adapter=adapter, compare_base=True, limit=3, max_new_tokens=8,
                    latency_probe=1, general_probe=False)
    scored = []
    real = E.score_items
    monkeypatch.setattr(E, "score_items", lambda gen, items, sp: scored.append(sp) or real(gen, items, sp))
    first = E.evaluate(spec)
    assert first.base.reused_from is None and len(scored) == 2  # base and tuned
    second = E.evaluate(spec)
    assert len(scored) == 3  # only the tuned model was scored again
    assert second.base.reused_from and Path(second.base.reused_from).exists()
    assert second.base.items == first.base.items and second.base.latency_s == first.base.latency_s
    assert second.comparison["mcnemar_p"] == first.comparison["mcnemar_p"]
    for change in ({"max_new_tokens": 9}, {"limit": 2}, {"reuse_base": False}):
        again = E.evaluate(spec.model_copy(update=change))
        assert again.base.reused_from is None, change
    assert len(scored) == 3 + 3 * 2  # each change scored base and tuned


def test_batched_val_loss_equals_the_per_record_loss(tiny_model, tiny_data):
    """Right-padded batches with the LM head at scored positions only give the token-weighted mean of
    each record's own full-logits loss."""
    import torch

    from tunepilot.tools.data.io import load_split
    from tunepilot.tools.evaluate import Generator, val_loss
    from tunepilot.tools.train import conversations, training_template

    gen = Generator(tiny_model, precision="fp32")
    records = load_split(tiny_data, "val")
    total = count = 0
    for row in conversations(records, gen.tok):
        enc = gen.tok.apply_chat_template(row["messages"], tools=row.get("tools"), chat_template=training_template(gen.tok),
                                          tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
        ids = torch.tensor([enc["input_ids"][:1024]])
        labels = ids.masked_fill(torch.tensor([enc["assistant_masks"][:1024]]) == 0, -100)
        n = int((labels[0, 1:] != -100).sum())
        with torch.inference_mode():
            total += float(gen.model(input_ids=ids, labels=labels).loss) * n
        count += n
    assert len(records) > 3 and val_loss(gen, records, batch_size=3) == pytest.approx(total / count, rel=1e-4)


def test_a_child_evaluation_reports_answers_done(tiny_model, tiny_data, tmp_path):
    """Issue 15: long evaluations show items done and ETA; the child's progress reaches the parent."""
    from tunepilot.tools.child import call
    from tunepilot.tools.evaluate import EvalResult, EvalSpec

    seen = []
    spec = EvalSpec(model=tiny_model, data=tiny_data, limit=4, batch_size=2, general_probe=False, latency_probe=0,
                    max_new_tokens=8)
    call("tunepilot.tools.evaluate:evaluate", spec, EvalResult, out=tmp_path / "eval.json", progress=seen.append)
    phases = [e for e in seen if e.get("phase") == "evaluating base"]
    assert phases and phases[-1]["step"] == phases[-1]["max_steps"] >= 4  # every answer counted, in order
    assert [e["step"] for e in phases] == sorted(e["step"] for e in phases)
