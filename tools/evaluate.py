"""Tool: evaluate a model (and optional adapter) on a dataset's test split or a BFCL suite.

    tunepilot eval --data data/agentic --adapter out/a1/adapter --compare-base --limit 30
    tunepilot eval --suite bfcl:simple_python --adapter out/a1/adapter --limit 50 --compare-base

Greedy, batched generation of every assistant turn (multi-step items are teacher-forced on the
reference history), scored turn by turn: a tool-call turn must parse, name the right tool and
give arguments that validate against the schema and equal the expected ones; a text turn must
call nothing and contain the expected keywords. An item succeeds when all its turns do.
"""

from __future__ import annotations

import json
import math
import random
import re
import resource
from pathlib import Path
from statistics import median
from typing import Literal

import jsonschema
from pydantic import BaseModel, ConfigDict, Field, model_validator

from tunepilot import TunepilotError
from tunepilot.models import DEFAULT_MODEL
from tunepilot.tools.generator import Generator  # noqa: F401 (what tests and benchmarks import from here)
from tunepilot.chat import assistant_turns, parse_tool_calls


class EvalSpec(BaseModel):
    """One evaluation. Fields map to `tunepilot eval` flags."""

    model_config = ConfigDict(extra="forbid")

    data: Path | None = None  # --data: dataset folder (scores test.jsonl, val loss on val.jsonl)
    suite: str | None = None  # --suite: e.g. bfcl:simple_python
    model: str = DEFAULT_MODEL  # --model
    adapter: Path | None = None  # --adapter: LoRA adapter folder to evaluate on top of --model
    gguf: Path | None = None  # --gguf: evaluate this GGUF in llama.cpp instead (an exported model)
    endpoint: str | None = None  # --endpoint: an OpenAI-compatible server (tunepilot serve), over HTTP, as is
    limit: int | None = Field(None, ge=1, le=100_000)  # --limit: the first N items of a split; N spread evenly over a suite
    compare_base: bool = False  # --compare-base: also score the base model, paired test
    split: str = "test"
    batch_size: int = Field(32, ge=1, le=1024)  # --batch-size: generation batch; rows leave it as they finish (Generator.greedy),
    # so a wide batch costs little: SmolLM2 fp32 on 2 cores scored 59 rows in 168 s at 8, 119 s at 32
    max_new_tokens: int = Field(192, ge=8, le=32_768)
    latency_probe: int = Field(5, ge=0, le=1000)  # --latency-probe: answers timed one request at a time (0: off)
    general_probe: bool = True  # --no-general-probe: skip the 20 general questions (catastrophic forgetting check)
    constrained: bool = True  # --no-constrained: score raw decoding; default: schema-constrained tool calls
    # (tools/constrained.py), as llama.cpp and vLLM serve them
    precision: Literal["auto", "bf16", "fp16", "fp32"] = "auto"  # --precision: by what the device can do
    # (tunepilot/precision.py); ignored with --gguf (llama.cpp runs the GGUF's own types)
    reuse_base: bool = True  # --no-reuse-base: with --compare-base, score the base model again instead of reusing
    # its report from an earlier evaluation with the same model, data, settings and machine (tools/eval_cache.py)
    trust_remote_code: bool = False

    @model_validator(mode="after")
    def _one_source(self):
        if (self.data is None) == (self.suite is None):
            raise ValueError("give exactly one of --data or --suite")
        if self.compare_base and self.adapter is None:
            raise ValueError("--compare-base needs --adapter (the tuned model)")
        if self.gguf is not None and (self.adapter is not None or self.compare_base):
            raise ValueError("--gguf evaluates an exported model as is: no --adapter or --compare-base")
        if self.endpoint and (self.gguf or self.adapter or self.compare_base):
            raise ValueError("--endpoint evaluates the server's model as is: no --gguf, --adapter or --compare-base")
        return self


class EvalReport(BaseModel):
    model: str
    adapter: str | None
    runtime: str = "transformers"  # or llama.cpp (--gguf)
    constrained: bool = False  # tool calls decoded under their schemas (tools/constrained.py)
    precision: str | None = None  # the dtype generated in and why (transformers runtime)
    reused_from: str | None = None  # the base report came from this cache file (same model, data, settings, machine)
    source: str
    n: int
    success_rate: float  # items whose every turn is right
    tool_call_accuracy: float | None  # over turns that expect a call
    multi_step_match: float | None  # success over multi-step items
    direct_answer_accuracy: float | None  # over no-tool and ask items
    tag_wellformed_rate: float | None  # outputs with <tool_call> tags that parse
    per_role: dict[str, float]
    failures: dict[str, int]  # no_call, wrong_tool, wrong_arg_value, extra_arg, missing_arg, ...
    latency_s: dict[str, float]  # avg, p50, p95 seconds per answer, one request at a time (latency probe)
    batch_latency_s: dict[str, float] = {}  # per item inside the scoring batches (throughput, not latency)
    general_probe: float | None = None  # share of 20 general questions answered right (forgetting check)
    tokens_per_s: float
    peak_rss_mb: float
    peak_vram_mb: float | None = None
    model_memory_mb: float | None = None  # --gguf: memory the model itself added in llama.cpp (what a server needs
    # on top of its own small footprint); peak_rss_mb also counts this Python process
    val_loss: float | None = None
    perplexity: float | None = None
    items: list[dict] = []


class EvalResult(EvalReport):
    """What `evaluate` returns, one shape: the evaluated model's report (the tuned one with an adapter);
    with compare_base also the base model's report on the same items and the paired test."""

    base: EvalReport | None = None
    comparison: dict | None = None  # mcnemar(): base_only, tuned_only, mcnemar_p, ...


# --- scoring ---------------------------------------------------------------------------------
def same_value(a, b) -> bool:
    """JSON equality with int/float unified but booleans kept apart from numbers."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    return a == b


def score_turn(expected: dict, text: str, tools: list[dict], keywords: list[str], final: bool) -> str:
    """'' when the predicted turn is right, else the failure kind."""
    calls, errors = parse_tool_calls(text)
    want = expected.get("tool_calls") or []
    if not want:
        if calls or errors:
            return "unexpected_call"
        if final and not all(k.lower() in text.lower() for k in keywords[:3]):
            return "wrong_answer"
        return ""
    if not calls:
        return "bad_format" if errors or "<tool_call" in text else "no_call"
    if len(calls) != len(want):
        return "wrong_count"
    schemas = {t["function"]["name"]: t["function"]["parameters"] for t in tools}
    for got, exp in zip(calls, want):
        name = exp["function"]["name"]
        args = json.loads(exp["function"]["arguments"])
        if got["name"] != name:
            return "wrong_tool"
        extra = set(got["arguments"]) - set(args)
        missing = set(args) - set(got["arguments"])
        if extra:
            return "extra_arg"
        if missing:
            return "missing_arg"
        if not jsonschema.Draft202012Validator(schemas[name]).is_valid(got["arguments"]):
            return "schema_invalid"
        if not all(same_value(got["arguments"][k], v) for k, v in args.items()):
            return "wrong_arg_value"
    return ""


BFCL_KINDS = {"wrong_func_name": "wrong_tool", "unexpected_param": "extra_arg", "missing_required": "missing_arg",
              "value_error": "wrong_arg_value", "type_error": "wrong_arg_value", "wrong_count": "wrong_count",
              "no_call": "no_call", "irrelevance_error": "unexpected_call", "relevance_error": "no_call"}


def _bfcl_kind(err: str) -> str:
    for k, v in BFCL_KINDS.items():
        if k in err:
            return v
    return "wrong_arg_value" if err else ""


def score_items(gen: Generator, items: list[dict], spec: EvalSpec) -> list[dict]:
    """Generate every assistant turn of every item (one batch pass per turn depth) and score."""
    bfcl = spec.suite is not None and spec.suite.startswith("bfcl:")
    code = spec.suite == "humaneval"  # the reply's code runs against the problem's tests, in the sandbox
    prefixes = []  # (item index, turn index)
    for i, item in enumerate(items):
        turns = [len(item["messages"])] if bfcl or code else assistant_turns(item)
        prefixes += [(i, t) for t in turns]
    prompts = [{"tools": items[i].get("tools", []), "messages": items[i]["messages"][:t]} for i, t in prefixes]
    from tunepilot.tools.humaneval import MAX_NEW_TOKENS

    gens = gen.generate(prompts, max(spec.max_new_tokens, MAX_NEW_TOKENS) if code else spec.max_new_tokens,
                        spec.batch_size)
    results = [{"id": it.get("id"), "role": it.get("meta", {}).get("agent_role", "unknown"),
                "kind": it.get("meta", {}).get("kind"), "turns": [], "latency_s": 0.0, "new_tokens": 0} for it in items]
    for (i, t), g in zip(prefixes, gens):
        item, res = items[i], results[i]
        if code:
            from tunepilot.tools.humaneval import score

            kind = score(item, g.text)
        elif bfcl:
            from tunepilot.tools.bfcl import score_bfcl

            ok, err = score_bfcl(item, parse_tool_calls(g.text)[0])
            kind = "" if ok else _bfcl_kind(err)
            res["bfcl_error"] = err
        else:
            final = t == assistant_turns(item)[-1]
            kind = score_turn(item["messages"][t], g.text, item.get("tools", []),
                              item.get("meta", {}).get("answer_keywords", []), final)
        res["turns"].append({"turn": t, "output": g.text, "failure": kind,
                             "expects_call": bfcl and item["meta"]["kind"] != "no_tool"
                             or bool(not bfcl and not code and item["messages"][t].get("tool_calls"))})
        res["latency_s"] += g.latency_s
        res["new_tokens"] += g.new_tokens
    for r in results:
        r["success"] = all(not t["failure"] for t in r["turns"])
    return results


def summarise(results: list[dict], spec: EvalSpec, adapter, source: str, val_loss=None,
              precision: str | None = None) -> EvalReport:
    import torch

    def rate(rows):
        return round(sum(rows) / len(rows), 4) if rows else None

    turns = [t for r in results for t in r["turns"]]
    lat = sorted(r["latency_s"] for r in results)
    failures: dict[str, int] = {}
    for t in turns:
        if t["failure"]:
            failures[t["failure"]] = failures.get(t["failure"], 0) + 1
    tagged = [t for t in turns if "<tool_call" in t["output"] or "</tool_call>" in t["output"]]
    roles = sorted({r["role"] for r in results})
    return EvalReport(
        model=spec.endpoint or (str(spec.gguf) if spec.gguf else spec.model), adapter=str(adapter) if adapter else None,
        runtime="http" if spec.endpoint else "llama.cpp" if spec.gguf else "transformers", constrained=spec.constrained, source=source, n=len(results),
        precision=precision,
        success_rate=rate([r["success"] for r in results]) or 0.0,
        tool_call_accuracy=rate([not t["failure"] for t in turns if t["expects_call"]]),
        multi_step_match=rate([r["success"] for r in results if r["kind"] == "multi"]),
        direct_answer_accuracy=rate([r["success"] for r in results if r["kind"] in ("no_tool", "ask")]),
        tag_wellformed_rate=rate([not parse_tool_calls(t["output"])[1] for t in tagged]),
        per_role={role: rate([r["success"] for r in results if r["role"] == role]) for role in roles},
        failures=dict(sorted(failures.items())),
        latency_s={"avg": round(sum(lat) / len(lat), 3), "p50": round(median(lat), 3),
                   "p95": round(lat[min(len(lat) - 1, math.ceil(0.95 * len(lat)) - 1)], 3)} if lat else {},
        tokens_per_s=round(sum(r["new_tokens"] for r in results) / max(1e-9, sum(lat)), 2),
        peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        peak_vram_mb=torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None,
        val_loss=val_loss, perplexity=round(math.exp(val_loss), 4) if val_loss is not None else None, items=results)


def val_loss(gen: Generator, records: list[dict], max_length: int = 1024, batch_size: int = 8) -> float:
    """Mean loss over assistant tokens of the val split (the training template's mask). Rows go in
    right-padded batches of similar length, and the LM head runs only at positions whose next token
    is scored (as the CPU trainer does): the same number, without 49k-wide logits for every prompt token."""
    import torch

    from tunepilot.tools.train import conversations, training_template
    from tunepilot.tools.cpu_trainer import scored_loss

    tmpl = training_template(gen.tok) or gen.tok.chat_template
    rows = []
    for row in conversations(records, gen.tok):
        enc = gen.tok.apply_chat_template(row["messages"], tools=row.get("tools"), chat_template=tmpl, tokenize=True,
                                          return_dict=True, return_assistant_tokens_mask=True)
        ids, mask = enc["input_ids"][:max_length], enc["assistant_masks"][:max_length]
        if sum(mask[1:]):
            rows.append((ids, mask))
    rows.sort(key=lambda r: len(r[0]))
    total, count = 0.0, 0
    pad = gen.tok.pad_token_id
    for s in range(0, len(rows), batch_size):
        batch = rows[s:s + batch_size]
        width = max(len(ids) for ids, _ in batch)
        ids = torch.tensor([i + [pad] * (width - len(i)) for i, _ in batch], device=gen.model.device)
        attn = torch.tensor([[1] * len(i) + [0] * (width - len(i)) for i, _ in batch], device=gen.model.device)
        labels = torch.tensor([[t if m else -100 for t, m in zip(i, mk)] + [-100] * (width - len(i)) for i, mk in batch],
                              device=gen.model.device)
        with torch.inference_mode():
            loss, scored, _ = scored_loss(gen.model, labels, input_ids=ids, attention_mask=attn)
        total += float(loss)
        count += int(scored)
    return round(total / count, 5) if count else float("nan")


def latency_probe(gen: Generator, items: list[dict], spec: EvalSpec) -> dict[str, float]:
    """What a user waits for one answer: the first assistant turn of the first N items, generated
    one request at a time (batched scoring shares each batch's wall time across 8 answers)."""
    prompts = []
    for it in items[: spec.latency_probe]:
        turns = [len(it["messages"])] if spec.suite else assistant_turns(it)[:1]
        prompts += [{"tools": it.get("tools", []), "messages": it["messages"][:t]} for t in turns]
    lat = sorted(g.latency_s for g in gen.generate(prompts, spec.max_new_tokens, batch_size=1))
    return _stats(lat)


def general_probe(gen: Generator) -> float:
    """Catastrophic-forgetting check: 20 general questions (no tools offered), scored by keyword.
    Run on base and tuned; a fall beyond the criteria's max_general_drop blocks deployment."""
    rows = [json.loads(line) for line in (Path(__file__).parent / "data" / "general_probe.jsonl").read_text().splitlines()
            if line.strip()]
    outs = gen.generate([{"messages": [{"role": "user", "content": r["q"] + " Answer in one short sentence."}]}
                         for r in rows], max_new_tokens=32, batch_size=10)
    right = [any(re.search(rf"\b{re.escape(k)}\b", o.text.lower()) for k in r["any"]) for r, o in zip(rows, outs)]
    return round(sum(right) / len(right), 4)


def _stats(lat: list[float]) -> dict[str, float]:
    if not lat:
        return {}
    return {"avg": round(sum(lat) / len(lat), 3), "p50": round(median(lat), 3),
            "p95": round(lat[min(len(lat) - 1, math.ceil(0.95 * len(lat)) - 1)], 3), "n": len(lat)}


def mcnemar(base: list[bool], tuned: list[bool], seed: int = 0) -> dict:
    """Exact McNemar test on paired outcomes, plus a bootstrap 95 % CI of the success difference."""
    b = sum(x and not y for x, y in zip(base, tuned))  # base right, tuned wrong
    c = sum(y and not x for x, y in zip(base, tuned))  # tuned right, base wrong
    n = b + c
    p = min(1.0, 2 * sum(math.comb(n, k) for k in range(min(b, c) + 1)) / 2**n) if n else 1.0
    rng = random.Random(seed)
    diffs = []
    for _ in range(2000):
        idx = [rng.randrange(len(base)) for _ in base]
        diffs.append(sum(tuned[i] - base[i] for i in idx) / len(base))
    diffs.sort()
    return {"base_only": b, "tuned_only": c, "mcnemar_p": float(f"{p:.6g}"),
            "diff": round((sum(tuned) - sum(base)) / len(base), 4),
            "diff_ci95": [round(diffs[49], 4), round(diffs[1949], 4)]}


def load_items(spec: EvalSpec) -> tuple[list[dict], str]:
    if spec.suite:
        from tunepilot.tools.bfcl import load_suite
        from tunepilot.tools.humaneval import load_humaneval
        from tunepilot.tools.sampling import spread

        if spec.suite == "humaneval":
            return spread(load_humaneval(), spec.limit), "humaneval"
        if not spec.suite.startswith("bfcl:"):
            raise TunepilotError(f"--suite {spec.suite}: unknown suite; use humaneval or bfcl:<category>, "
                                 "e.g. bfcl:simple_python")
        return spread(load_suite(spec.suite.split(":", 1)[1]), spec.limit), spec.suite
    from tunepilot.tools.data.io import load_split

    items = load_split(spec.data, spec.split)
    return items[: spec.limit] if spec.limit else items, f"{spec.data}:{spec.split}"


def evaluate(spec: EvalSpec, progress=None) -> EvalResult:
    """Score a model (optionally with a LoRA adapter) on tool-call success, multi-step match, direct
    answers, tag well-formedness, latency and memory; with compare_base, also the base model and a
    paired significance test."""
    items, source = load_items(spec)
    if not items:
        raise TunepilotError(f"{source}: no items to evaluate")
    val = None
    if spec.data is not None and (Path(spec.data) / "val.jsonl").exists():
        from tunepilot.tools.data.io import load_split

        val = load_split(spec.data, "val")
    if spec.endpoint is not None:  # answers only (no val loss), as with --gguf
        from tunepilot.tools.endpoint import EndpointGenerator

        gen, val = EndpointGenerator(spec.endpoint), None
    elif spec.gguf is not None:
        from tunepilot.tools.llamacpp import LlamaCppGenerator

        if not Path(spec.gguf).is_file():
            raise TunepilotError(f"--gguf {spec.gguf}: no such file")
        gen, val = LlamaCppGenerator(spec.gguf, constrained=spec.constrained), None  # val loss needs the HF model
    else:
        gen = Generator(spec.model, None, spec.trust_remote_code, constrained=spec.constrained, precision=spec.precision)
    reports = {}
    phases = [("base", None), ("tuned", spec.adapter)] if spec.compare_base else [("tuned" if spec.adapter else "base", spec.adapter)]
    cache_key = None
    if spec.compare_base and spec.reuse_base and spec.gguf is None:
        from tunepilot.tools import eval_cache
        from tunepilot.models import resolve_model

        cache_key = eval_cache.base_key(resolve_model(spec.model), items, val, spec, gen.precision.dtype)
        cached = eval_cache.load_base(cache_key)
        if cached is not None:
            reports["base"] = EvalReport(**cached)
            reports["base"].reused_from = str(eval_cache.cache_dir() / f"{cache_key}.json")
            phases = phases[1:]
    for name, adapter in phases:
        if progress and hasattr(gen, "progress"):  # {"phase", "step", "max_steps"}: what the terminal bar shows
            gen.progress = lambda done, total, name=name: progress({"phase": f"evaluating {name}", "step": done,
                                                                    "max_steps": total})
        if adapter:
            gen.attach(adapter)
        results = score_items(gen, items, spec)
        reports[name] = summarise(results, spec, adapter, source, val_loss(gen, val) if val else None,
                                  None if spec.gguf or spec.endpoint else gen.precision.reason)
        if spec.latency_probe:
            reports[name].batch_latency_s = reports[name].latency_s
            reports[name].latency_s = latency_probe(gen, items, spec)
        if spec.general_probe and spec.data is not None:
            reports[name].general_probe = general_probe(gen)
        if spec.gguf is not None:
            reports[name].model_memory_mb = round(gen.model_memory_mb, 1)
        if name == "base" and cache_key is not None:
            eval_cache.save_base(cache_key, reports[name].model_dump(mode="json"))
    if not spec.compare_base:
        return EvalResult(**reports[phases[0][0]].model_dump())
    base, tuned = reports["base"], reports["tuned"]
    return EvalResult(**tuned.model_dump(), base=base,
                      comparison=mcnemar([r["success"] for r in base.items], [r["success"] for r in tuned.items]))
