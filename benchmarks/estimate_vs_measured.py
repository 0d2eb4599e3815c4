"""Benchmark: the resource estimator against what training really used, at several configurations.

    .venv/bin/python benchmarks/estimate_vs_measured.py                 # SmolLM2-135M, 2 configs, 20 steps each
    .venv/bin/python benchmarks/estimate_vs_measured.py --precision fp32 --out est.json

For each configuration: the plan's estimate of peak memory (host RAM on CPU, VRAM on GPU) and of
training time, the measured peak and wall time from the train tool, and the error in percent. The
CPU time estimate comes from this machine's matmul probe (measured first, as a run's plan does) in
the dtype the run trains in; the implied efficiency (effective training FLOP/s / probe GFLOP/s) is
printed so agent/estimate.py's CPU_EFFICIENCY can be checked. The CPU kind and dtype are printed.
Targets: peak memory within +-15 % (issue 4), time within +-20 % (issue 12). Not a test: numbers
depend on the machine. Each run evaluates once at step 20, as a real run does every 20 steps.
"""

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tunepilot.agent.estimate import CPU_EFFICIENCY, EVAL_OVERHEAD, _flops_per_token, estimate, model_shape, param_counts  # noqa: E402
from tunepilot.agent.schemas import TrainingConfig  # noqa: E402
from tunepilot.tools.dataset import DatasetSpec, generate_dataset  # noqa: E402
from tunepilot.tools.train import TrainSpec, train  # noqa: E402
from tunepilot.models import resolve_model  # noqa: E402
from tunepilot.precision import choose_precision, cpu_info, matmul_probe  # noqa: E402

CONFIGS = {
    "lora r16 attn+mlp, 1024 tokens": {},
    "lora r16 attn+mlp, 1024 tokens, gradient checkpointing": {"gradient_checkpointing": True},
    "lora r32 attn, 768 tokens": {"rank": 32, "targets": "attn", "max_length": 768},
}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="smollm2-135m-instruct")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--precision", default="auto", choices=["auto", "bf16", "fp32"])
    p.add_argument("--configs", type=int, default=2, help="how many of the configurations to run")
    p.add_argument("--out", type=Path)
    a = p.parse_args()
    model = resolve_model(a.model)
    prec = choose_precision(a.precision)
    probe = matmul_probe()
    print(f"CPU: {cpu_info().kind}; {prec.reason}; probe fp32 {probe['fp32_gflops']:.0f} / bf16 "
          f"{probe['bf16_gflops']:.0f} GFLOP/s", flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        card = generate_dataset(DatasetSpec(out=data, n=300, seed=0, model=model))  # the demo's data: val = 30
        tokens = card.metadata["tokens"]["mean"] * card.metadata["splits"]["train"]
        for name, change in list(CONFIGS.items())[: a.configs]:
            cfg = TrainingConfig(max_steps=a.steps, **change)
            est = estimate(model, cfg, n_train_tokens=int(tokens), precision=prec.dtype, cpu_probe=probe,
                           longest_example=card.metadata["tokens"]["max"])
            r = train(TrainSpec(data=data, out=Path(tmp) / f"run{len(rows)}", model=model, max_steps=a.steps,
                                eval_steps=20, rank=cfg.rank, targets=cfg.targets, max_length=cfg.max_length,
                                gradient_checkpointing=cfg.gradient_checkpointing, precision=a.precision))
            peak = (r.peak_vram_mb or r.peak_rss_mb) / 1024
            s = model_shape(model)
            fpt = _flops_per_token(s, cfg, sum(param_counts(s).values()), "cpu", 0.15)
            eff = r.train_tokens_per_s * fpt / (probe[f"{prec.dtype}_gflops"] * 1e9)
            rows.append({"config": name, "cpu": cpu_info().kind, "dtype": prec.dtype,
                         "est_peak_gb": round(est.peak_memory_gb, 3), "peak_gb": round(peak, 3),
                         "mem_error_pct": round(100 * (est.peak_memory_gb - peak) / peak, 1),
                         "est_time_s": round(est.training_time_s, 1), "time_s": round(r.wall_s, 1),
                         "time_error_pct": round(100 * (est.training_time_s - r.wall_s) / r.wall_s, 1),
                         "train_tokens_per_s": round(r.train_tokens_per_s, 1), "eval_save_s": round(r.eval_save_s, 1),
                         "efficiency": round(eff, 3), "efficiency_used": CPU_EFFICIENCY[prec.dtype],
                         "eval_overhead": round(r.eval_save_s / (r.wall_s - r.eval_save_s), 3),
                         "eval_overhead_used": EVAL_OVERHEAD})
            print(json.dumps(rows[-1]), flush=True)
    print(f"\nCPU: {cpu_info().kind}, {prec.dtype}")
    print(f"{'config':58s} {'est GB':>7s} {'peak GB':>8s} {'err %':>6s} {'est s':>6s} {'s':>6s} {'err %':>6s} "
          f"{'tok/s':>6s} {'eff.':>5s}")
    for r in rows:
        print(f"{r['config']:58s} {r['est_peak_gb']:7.2f} {r['peak_gb']:8.2f} {r['mem_error_pct']:+6.1f} "
              f"{r['est_time_s']:6.0f} {r['time_s']:6.0f} {r['time_error_pct']:+6.1f} {r['train_tokens_per_s']:6.0f} "
              f"{r['efficiency']:5.2f}")
    print(f"targets: peak memory within +-15 %, time within +-20 % (efficiency used: {CPU_EFFICIENCY[prec.dtype]})")
    if a.out:
        a.out.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
