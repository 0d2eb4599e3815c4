"""Benchmark: our train tool vs a plain Trainer+PEFT baseline, same model, same data, one epoch.

    .venv/bin/python benchmarks/train_throughput.py            # SmolLM2-135M, 80 generated examples
    .venv/bin/python benchmarks/train_throughput.py --n 200 --model path/or/id

Prints effective (non-pad) tokens/s and peak RSS of each training process and their ratios, then the
evaluator's speed (answers/s: test-split turns generated per second by the trained adapter, batched
and schema-constrained as `tunepilot eval` does). The CPU kind and the dtype chosen for it head the
table: numbers from one kind of CPU say nothing of another.
Target (issue 2): >= 2x tokens/s and <= 0.7x peak RSS. Not a test: timings depend on the machine.

Throughput is non-pad tokens over the time spent in training steps: our tool's evaluations and
checkpoint saves inside `train()` are left out (the baseline does neither); the wall-clock rate
with them is printed too. The baseline runs at batch 4 and, with --baseline-batch-size 4,8, also at
batch 8 (Trainer's default); the ratio is taken against each.
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tunepilot.tools.dataset import DatasetSpec, generate_dataset  # noqa: E402
from tunepilot.tools.train import TrainSpec, train  # noqa: E402
from tunepilot.models import resolve_model  # noqa: E402
from tunepilot.precision import choose_precision, cpu_info  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="smollm2-135m-instruct")
    p.add_argument("--n", type=int, default=80, help="examples generated (80 %% train)")
    p.add_argument("--baseline-batch-size", default="4", help="comma-separated batch sizes for the baseline")
    p.add_argument("--out", type=Path, help="write the numbers as JSON here")
    p.add_argument("--precision", default="auto", choices=["auto", "bf16", "fp32"])
    a = p.parse_args()
    model = resolve_model(a.model)
    prec = choose_precision(a.precision)
    print(f"CPU: {cpu_info().kind}, {cpu_info().cores} cores; {prec.reason}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        generate_dataset(DatasetSpec(out=data, n=a.n, seed=0, model=model))
        ours = train(TrainSpec(data=data, out=Path(tmp) / "ours", model=model, epochs=1, eval_steps=10_000,
                               precision=a.precision))
        answers = eval_speed(data, model, ours.adapter, a.precision)
        rows = {"tunepilot": {"tokens_per_s": ours.train_tokens_per_s, "wall_tokens_per_s": ours.tokens_per_s,
                              "peak_rss_mb": ours.peak_rss_mb, "wall_s": ours.wall_s, "eval_save_s": ours.eval_save_s},
                "evaluation": answers, "cpu": cpu_info().model_dump(), "precision": prec.model_dump()}
        for bs in [int(x) for x in a.baseline_batch_size.split(",")]:
            r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "baseline_trainer.py"), "--data", str(data),
                                "--model", model, "--batch-size", str(bs), "--out", str(Path(tmp) / f"base{bs}"),
                                "--dtype", prec.dtype],
                               capture_output=True, text=True, cwd=ROOT)
            if r.returncode != 0:
                sys.exit(f"baseline failed:\n{r.stderr[-3000:]}")
            base = json.loads(r.stdout.strip().splitlines()[-1])
            rows[f"baseline b{bs}"] = {k: base[k] for k in ("tokens_per_s", "peak_rss_mb", "wall_s")}
    ours_row = rows["tunepilot"]
    print(f"{'':14s} {'tokens/s':>10s} {'peak RSS MB':>12s} {'wall s':>8s}")
    print(f"{'tunepilot':14s} {ours_row['tokens_per_s']:10.1f} {ours_row['peak_rss_mb']:12.0f} "
          f"{ours_row['wall_s']:8.0f}   ({ours_row['wall_tokens_per_s']:.1f} tokens/s with its "
          f"{ours_row['eval_save_s']:.0f} s of evaluation and saving)")
    print(f"{'evaluation':14s} {answers['answers_per_s']:10.2f} answers/s ({answers['answers']} answers, "
          f"{answers['new_tokens']} tokens in {answers['s']:.0f} s, batch {answers['batch_size']}, constrained)")
    for name in [k for k in rows if k.startswith("baseline")]:
        b = rows[name]
        b["ratio"] = {"tokens_per_s": ours_row["tokens_per_s"] / b["tokens_per_s"],
                      "wall_tokens_per_s": ours_row["wall_tokens_per_s"] / b["tokens_per_s"],
                      "peak_rss_mb": ours_row["peak_rss_mb"] / b["peak_rss_mb"]}
        print(f"{name:14s} {b['tokens_per_s']:10.1f} {b['peak_rss_mb']:12.0f} {b['wall_s']:8.0f}")
        print(f"{'  ratio':14s} {b['ratio']['tokens_per_s']:9.2f}x {b['ratio']['peak_rss_mb']:11.2f}x"
              f"   (wall-clock {b['ratio']['wall_tokens_per_s']:.2f}x; target: >= 2x tokens/s, <= 0.7x RSS)")
    if a.out:
        a.out.write_text(json.dumps(rows, indent=2) + "\n")


def eval_speed(data: Path, model: str, adapter: Path, precision: str) -> dict:
    """Answers per second of the evaluator on the test split (every assistant turn, as scoring does)."""
    import time

    from tunepilot.tools.evaluate import EvalSpec, Generator, load_items, score_items

    spec = EvalSpec(data=data, model=model, adapter=adapter, precision=precision)
    items, _ = load_items(spec)
    gen = Generator(model, adapter, constrained=True, precision=precision)
    t0 = time.perf_counter()
    results = score_items(gen, items, spec)
    s = time.perf_counter() - t0
    answers = sum(len(r["turns"]) for r in results)
    return {"answers": answers, "s": s, "answers_per_s": answers / s, "batch_size": spec.batch_size,
            "new_tokens": sum(r["new_tokens"] for r in results)}


if __name__ == "__main__":
    main()
