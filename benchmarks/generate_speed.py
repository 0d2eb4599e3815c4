"""Benchmark: the evaluator's greedy batched generation, padded prefill vs each prompt alone.

    .venv/bin/python benchmarks/generate_speed.py --suite live_multiple --items 32 --steps 64

The same batch of BFCL prompts (the first N of a category, as the evaluator batches them: sorted by
length, left-padded), decoded `--steps` tokens greedily under the tool-call constraint, twice: with
one padded forward over the whole batch as prefill (what a GPU runs), and with each prompt's prefill
alone, its keys and values placed in the batch's cache (what the CPU runs, tools/generator.py). Prints
seconds, real and padded prompt tokens, whether both made the same tokens, and the CPU kind. Not a
test: the numbers depend on the machine.
"""

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tunepilot.precision import cpu_info  # noqa: E402
from tunepilot.tools.bfcl import load_suite  # noqa: E402
from tunepilot.tools.generator import Generator  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="smollm2-135m-instruct")
    p.add_argument("--suite", default="live_multiple", help="a BFCL category")
    p.add_argument("--items", type=int, default=32)
    p.add_argument("--steps", type=int, default=64)
    a = p.parse_args()
    g = Generator(a.model, constrained=True)
    items = sorted(load_suite(a.suite, limit=a.items), key=lambda r: len(g.prompt(r)))
    prompts = [g.prompt(r) for r in items]
    enc = g.tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    real, padded = int(enc["attention_mask"].sum()), enc["input_ids"].numel()
    print(f"{cpu_info()} · {g.precision.torch_dtype}")
    print(f"{a.suite}: {len(items)} prompts, {real:,} tokens ({padded:,} padded), {a.steps} decode steps")
    out = {}
    for mode in ("alone", "padded"):
        if mode == "padded":
            g._prefill_rows = lambda ids, mask, cache: None  # one padded forward over the batch
        t = time.perf_counter()
        out[mode] = g.greedy(enc["input_ids"], enc["attention_mask"], a.steps, g._constraint(items))
        print(f"  prefill {mode:6s}: {time.perf_counter() - t:6.1f} s")
    print(f"  same tokens: {out['alone'] == out['padded']}")


if __name__ == "__main__":
    main()
