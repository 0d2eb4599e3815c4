"""Benchmark: does the model decide *whether* to call from the request, or from a prior?

    .venv/bin/python benchmarks/call_decision.py --adapter A --data DATASET [--split val] [--limit 30]
    .venv/bin/python benchmarks/call_decision.py --data DATASET            # the base model

For each item the probability the model gives to opening a tool call (`<`, the first token of
`<tool_call>`) as the first token of its reply, on BFCL items where a call is right
(simple_python, multiple) and where no call is right (irrelevance, live_irrelevance), and on the
dataset's own split (records with tools offered: call vs no call). Greedy decoding calls when that
probability wins, so a model that separates the two groups can be taught irrelevance; one whose
groups overlap only has a prior, and more no-call data moves the prior, not the decision. The
CPU kind and dtype are printed. Not a test: the numbers depend on the adapter and the machine.
"""

import argparse
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tunepilot.chat import assistant_turns  # noqa: E402
from tunepilot.precision import cpu_info  # noqa: E402
from tunepilot.tools.bfcl import load_suite  # noqa: E402
from tunepilot.tools.data.io import load_split  # noqa: E402
from tunepilot.tools.generator import Generator  # noqa: E402
from tunepilot.tools.sampling import spread  # noqa: E402

CATEGORIES = ("simple_python", "multiple", "irrelevance", "live_irrelevance")


def _prompt_part(record: dict) -> dict:
    """The record up to its first assistant turn (all of a BFCL item): what the model sees when it decides."""
    return {**record, "messages": record["messages"][:next(iter(assistant_turns(record)), len(record["messages"]))]}


def p_open_call(g: Generator, records: list[dict]) -> list[float]:
    import torch

    first = g.tok("<tool_call>", add_special_tokens=False)["input_ids"][0]
    out = []
    for r in records:
        enc = g.tok([g.prompt(_prompt_part(r))], return_tensors="pt", add_special_tokens=False).to(g.model.device)
        with torch.inference_mode():
            probs = g.model(**enc, logits_to_keep=1).logits[0, -1].float().softmax(-1)
        out.append(probs[first].item())
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="smollm2-135m-instruct")
    p.add_argument("--adapter", type=Path)
    p.add_argument("--data", type=Path, required=True, help="a dataset folder (its split: call vs no-call records)")
    p.add_argument("--split", default="val")
    p.add_argument("--limit", type=int, default=30)
    a = p.parse_args()
    g = Generator(a.model, adapter=a.adapter)
    groups = {c: spread(load_suite(c), a.limit) for c in CATEGORIES}  # spread over the file, as the evaluator samples
    own = [r for r in load_split(a.data, a.split) if r.get("tools")]
    groups[f"{a.split}: call"] = [r for r in own if r["meta"].get("kind") not in ("no_tool", "ask", "code")][: a.limit]
    groups[f"{a.split}: no call"] = [r for r in own if r["meta"].get("kind") == "no_tool"][: a.limit]
    print(f"{cpu_info()} · {g.precision.torch_dtype} · adapter {a.adapter or '(base)'}")
    print(f"{'group':22s} {'n':>3s}  {'min':>5s} {'q25':>5s} {'median':>6s} {'q75':>5s} {'max':>5s}  calls (p>0.5)")
    rows = {}
    for name, items in groups.items():
        ps = sorted(p_open_call(g, items))
        if not ps:
            continue
        q = lambda f: ps[min(len(ps) - 1, int(f * len(ps)))]  # noqa: E731
        rows[name] = {"n": len(ps), "median": statistics.median(ps), "q25": q(0.25), "q75": q(0.75),
                      "calls": sum(x > 0.5 for x in ps) / len(ps)}
        print(f"{name:22s} {len(ps):3d}  {ps[0]:5.3f} {q(0.25):5.3f} {statistics.median(ps):6.3f} {q(0.75):5.3f} "
              f"{ps[-1]:5.3f}  {100 * rows[name]['calls']:.0f} %")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
