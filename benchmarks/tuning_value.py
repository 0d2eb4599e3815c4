"""Benchmark: what tuning bought, on third-party suites nobody here wrote, base vs tuned.

    .venv/bin/python benchmarks/tuning_value.py --adapter runs/RUN/artifacts/iter-1/train/adapter
    .venv/bin/python benchmarks/tuning_value.py --adapter A --limit 50 --suites bfcl:simple_python,humaneval

Every BFCL category tools/bfcl.py scores (the official AST checker; irrelevance categories scored
as BFCL scores them: no call is right) and HumanEval pass@1 (code run only in the sandbox). One row
a suite: items, base, tuned, the paired difference with its 95 % interval and McNemar's p. Full
categories by default (no --limit): that is what the README quotes; the CPU kind and dtype are
printed with the table. Not a test: the numbers depend on the adapter and the machine.
"""

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tunepilot.precision import choose_precision, cpu_info  # noqa: E402
from tunepilot.tools.evaluate import EvalSpec  # noqa: E402
from tunepilot.tools.suites import compare_suites, suites  # noqa: E402


def _pct(v):
    return "—" if v is None else f"{100 * v:.1f} %"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="smollm2-135m-instruct")
    p.add_argument("--adapter", required=True, type=Path)
    p.add_argument("--suites", default="all", help="all, bfcl:all, or a comma-separated list")
    p.add_argument("--limit", type=int, help="items per suite (default: the whole suite)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--out", type=Path, help="also write the rows as JSON")
    a = p.parse_args()
    names = [n for part in a.suites.split(",") for n in suites(part.strip())]
    spec = EvalSpec(model=a.model, adapter=a.adapter, limit=a.limit, batch_size=a.batch_size, suite=names[0],
                    general_probe=False, latency_probe=0)
    cpu, prec = cpu_info(), choose_precision("auto")
    t0 = time.monotonic()
    rows = compare_suites(spec, names)
    print(f"machine: {cpu.kind}; dtype {prec.dtype} ({prec.reason}); {time.monotonic() - t0:.0f} s\n")
    print("| suite | items | base | tuned | diff (95 % CI) | McNemar p |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        ci = r["diff_ci95"] or [None, None]
        diff = "—" if r["diff"] is None else f"{100 * r['diff']:+.1f} ({100 * ci[0]:+.1f} … {100 * ci[1]:+.1f})"
        print(f"| {r['suite']} | {r['items']} | {_pct(r['base'])} | {_pct(r['tuned'])} | {diff} | {r['mcnemar_p']} |")
    if a.out:
        a.out.write_text(json.dumps({"machine": cpu.kind, "dtype": prec.dtype, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
