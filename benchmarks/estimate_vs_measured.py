"""Benchmark: the resource estimator against what training really used, at several configurations.

    .venv/bin/python benchmarks/estimate_vs_measured.py                 # SmolLM2-135M, 2 configs, 10 steps each
    .venv/bin/python benchmarks/estimate_vs_measured.py --steps 20 --out est.json

For each configuration: the plan's estimate of peak memory (host RAM on CPU, VRAM on GPU) and of
training time, the measured peak and wall time from the train tool, and the error in percent.
Target (issue 4): peak memory within +-15 % of measured. Not a test: numbers depend on the machine.
"""

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agent.estimate import estimate  # noqa: E402
from agent.schemas import TrainingConfig  # noqa: E402
from tools.dataset import DatasetSpec, generate_dataset  # noqa: E402
from tools.train import TrainSpec, train  # noqa: E402
from tunepilot.models import resolve_model  # noqa: E402

CONFIGS = {
    "lora r16 attn+mlp, 1024 tokens": {},
    "lora r16 attn+mlp, 1024 tokens, gradient checkpointing": {"gradient_checkpointing": True},
    "lora r32 attn, 768 tokens": {"rank": 32, "targets": "attn", "max_length": 768},
}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="smollm2-135m-instruct")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--configs", type=int, default=2, help="how many of the configurations to run")
    p.add_argument("--out", type=Path)
    a = p.parse_args()
    model = resolve_model(a.model)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        card = generate_dataset(DatasetSpec(out=data, n=120, seed=0, model=model))
        tokens = card.metadata["tokens"]["mean"] * card.metadata["splits"]["train"]
        for name, change in list(CONFIGS.items())[: a.configs]:
            cfg = TrainingConfig(max_steps=a.steps, **change)
            est = estimate(model, cfg, n_train_tokens=int(tokens))
            r = train(TrainSpec(data=data, out=Path(tmp) / f"run{len(rows)}", model=model, max_steps=a.steps,
                                eval_steps=10_000, rank=cfg.rank, targets=cfg.targets, max_length=cfg.max_length,
                                gradient_checkpointing=cfg.gradient_checkpointing))
            peak = (r.peak_vram_mb or r.peak_rss_mb) / 1024
            rows.append({"config": name, "est_peak_gb": round(est.peak_memory_gb, 3), "peak_gb": round(peak, 3),
                         "mem_error_pct": round(100 * (est.peak_memory_gb - peak) / peak, 1),
                         "est_time_s": round(est.training_time_s, 1), "time_s": round(r.wall_s, 1),
                         "time_error_pct": round(100 * (est.training_time_s - r.wall_s) / r.wall_s, 1)})
            print(json.dumps(rows[-1]), flush=True)
    print(f"\n{'config':58s} {'est GB':>7s} {'peak GB':>8s} {'err %':>6s} {'est s':>6s} {'s':>6s} {'err %':>6s}")
    for r in rows:
        print(f"{r['config']:58s} {r['est_peak_gb']:7.2f} {r['peak_gb']:8.2f} {r['mem_error_pct']:+6.1f} "
              f"{r['est_time_s']:6.0f} {r['time_s']:6.0f} {r['time_error_pct']:+6.1f}")
    print("target: peak memory within +-15 %")
    if a.out:
        a.out.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
