"""Benchmark: our train tool vs the peers a user would pick, same model, same data, same dtype, one epoch.

    .venv/bin/python benchmarks/train_throughput.py            # SmolLM2-135M, 80 generated examples
    .venv/bin/python benchmarks/train_throughput.py --n 200 --model path/or/id

Peers, each in its own process: TRL's `SFTTrainer` with `packing=True` (benchmarks/trl_packed.py:
best-fit packing into padding-free rows of 1024 tokens, batch 1 row, assistant-only loss on the same
rendered conversations) and a plain Trainer+PEFT that pads every batch (benchmarks/baseline_trainer.py,
--baseline-batch-size). Prints non-pad tokens/s and peak RSS of each training process, the ratios
of ours against each, the peak RSS per phase (model load, data, forward, backward, optimizer step,
evaluation, checkpoint save) of ours and TRL's, then the evaluator's speed (answers/s). The CPU kind
and the dtype chosen for it head the table: numbers from one kind of CPU say nothing of another.
Targets (issues 2 and 19): >= 2x tokens/s and <= 0.7x peak RSS against each peer. Not a test:
timings depend on the machine.

Throughput is non-pad tokens over the time spent in training steps: our tool's evaluations and
checkpoint saves inside `train()` are left out (the peers do neither); the wall-clock rate with
them is printed too.
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tunepilot.config import CPU_CHUNK_TOKENS  # noqa: E402
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
    p.add_argument("--gradient-checkpointing", action="store_true", help="ours with gradient checkpointing too")
    p.add_argument("--chunk-tokens", type=int, help=f"ours: tokens per backward on CPU (default {CPU_CHUNK_TOKENS})")
    a = p.parse_args()
    model = resolve_model(a.model)
    prec = choose_precision(a.precision)
    print(f"CPU: {cpu_info().kind}, {cpu_info().cores} cores; {prec.reason}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        generate_dataset(DatasetSpec(out=data, n=a.n, seed=0, model=model))
        ours = train(TrainSpec(data=data, out=Path(tmp) / "ours", model=model, epochs=1, eval_steps=10_000,
                               precision=a.precision, gradient_checkpointing=a.gradient_checkpointing,
                               chunk_tokens=a.chunk_tokens))
        answers = eval_speed(data, model, ours.adapter, a.precision)
        rows = {"tunepilot": {"tokens_per_s": ours.train_tokens_per_s, "wall_tokens_per_s": ours.tokens_per_s,
                              "peak_rss_mb": ours.peak_rss_mb, "wall_s": ours.wall_s, "eval_save_s": ours.eval_save_s},
                "evaluation": answers, "cpu": cpu_info().model_dump(), "precision": prec.model_dump()}
        peer = _run([str(ROOT / "benchmarks" / "trl_packed.py"), "--data", str(data), "--model", model,
                     "--dtype", prec.dtype, "--out", str(Path(tmp) / "trl")], "TRL packed")
        rows["TRL packed b1x1024"] = peer  # TRL's defaults, gradient checkpointing included
        for bs in [int(x) for x in a.baseline_batch_size.split(",") if x]:
            base = _run([str(ROOT / "benchmarks" / "baseline_trainer.py"), "--data", str(data), "--model", model,
                         "--batch-size", str(bs), "--out", str(Path(tmp) / f"base{bs}"), "--dtype", prec.dtype],
                        "baseline")
            rows[f"padded b{bs}"] = {k: base[k] for k in ("tokens_per_s", "peak_rss_mb", "wall_s")}
    ours_row = rows["tunepilot"]
    print(f"\n{cpu_info().kind}, {prec.dtype}; {a.n} examples, LoRA r16 attention+MLP, one epoch; gradient "
          f"checkpointing: ours {'on' if a.gradient_checkpointing else 'off'}, "
          f"TRL {'on' if peer.get('gradient_checkpointing') else 'off'}; both: padding-free rows of 1024 tokens, "
          f"accumulation 2")
    if prec.device == "cpu":  # what our CPU trainer does differently (tools/cpu_trainer.py)
        print(f"ours on CPU: LoRA update added in place, each row's backward in conversation-aligned chunks of "
              f"<= {a.chunk_tokens or CPU_CHUNK_TOKENS} tokens, LM head at trained positions only")
    print(f"{'':20s} {'tokens/s':>10s} {'peak RSS MB':>12s} {'wall s':>8s}")
    print(f"{'tunepilot':20s} {ours_row['tokens_per_s']:10.1f} {ours_row['peak_rss_mb']:12.0f} "
          f"{ours_row['wall_s']:8.0f}   ({ours_row['wall_tokens_per_s']:.1f} tokens/s with its "
          f"{ours_row['eval_save_s']:.0f} s of evaluation and saving)")
    for name in [k for k in rows if k.startswith(("TRL", "padded"))]:
        b = rows[name]
        b["ratio"] = {"tokens_per_s": ours_row["tokens_per_s"] / b["tokens_per_s"],
                      "wall_tokens_per_s": ours_row["wall_tokens_per_s"] / b["tokens_per_s"],
                      "peak_rss_mb": ours_row["peak_rss_mb"] / b["peak_rss_mb"]}
        print(f"{name:20s} {b['tokens_per_s']:10.1f} {b['peak_rss_mb']:12.0f} {b['wall_s']:8.0f}")
        print(f"{'  ours / it':20s} {b['ratio']['tokens_per_s']:9.2f}x {b['ratio']['peak_rss_mb']:11.2f}x"
              f"   (wall-clock {b['ratio']['wall_tokens_per_s']:.2f}x; target: >= 2x tokens/s, <= 0.7x RSS)")
    print(f"{'evaluation':20s} {answers['answers_per_s']:10.2f} answers/s ({answers['answers']} answers, "
          f"{answers['new_tokens']} tokens in {answers['s']:.0f} s, batch {answers['batch_size']}, constrained)")
    print_phases({"tunepilot": ours.memory_phases, "TRL packed": peer.get("memory_phases")})
    rows["tunepilot"]["memory_phases"] = ours.memory_phases
    if a.out:
        a.out.write_text(json.dumps(rows, indent=2) + "\n")


def _run(cmd: list[str], name: str) -> dict:
    r = subprocess.run([sys.executable, *cmd], capture_output=True, text=True, cwd=ROOT)
    if r.returncode != 0:
        sys.exit(f"{name} failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def print_phases(runs: dict) -> None:
    """Peak RSS (MB) per phase, one column per trainer; a phase's peak counts from what was resident
    when it began (tools/memory_phases.py), so the largest row is the process's peak."""
    runs = {k: v for k, v in runs.items() if v}
    if not runs:
        return
    phases = list(dict.fromkeys(p for v in runs.values() for p in v["phases"]))
    print(f"\npeak RSS per phase, MB{'' if all(v['per_phase'] for v in runs.values()) else ' (cumulative: reset refused)'}")
    print(f"{'':48s}" + "".join(f"{k:>14s}" for k in runs))
    for ph in phases:
        cells = [v["phases"].get(ph) for v in runs.values()]
        print(f"{ph:48s}" + "".join(f"{c['peak_mb']:14.0f}" if c else f"{'-':>14s}" for c in cells))
    print(f"{'whole process':48s}" + "".join(f"{v['peak_mb']:14.0f}" for v in runs.values()))


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
