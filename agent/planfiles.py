"""What a plan writes beside itself: the reproducible train.sh and the config files it names.

`train_script(toolbox, spec, iteration)` is the iteration as shell commands (every value quoted);
`config_files(spec)` the training, LoRA and accelerate settings as the plan's `config_files`.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path


def count_lines(path: Path) -> int:
    return sum(1 for line in open(path) if line.strip()) if path.exists() else 0


def config_files(spec) -> dict[str, dict]:
    t = json.loads(spec.model_dump_json())
    return {"train.json": t,
            "lora.json": {"r": spec.rank, "lora_alpha": spec.alpha or 2 * spec.rank, "lora_dropout": spec.dropout,
                          "targets": spec.targets, "method": spec.method},
            "accelerate.json": {"num_processes": spec.num_processes, "num_machines": spec.num_machines,
                                "machine_rank": spec.machine_rank, "main_process_ip": spec.main_process_ip,
                                "main_process_port": spec.main_process_port, "engine": spec.engine,
                                "config_file": str(spec.accelerate_config) if spec.accelerate_config else None,
                                "mixed_precision": "no", "dynamo_backend": "no",
                                "cpu": spec.num_processes <= 1 and spec.precision != "fp16"}}


def train_script(tb, spec, it: int) -> str:
    """train.sh: every value shell-quoted (a dataset path or a model name can hold anything)."""
    q = shlex.quote
    acc_cfg = getattr(spec, "accelerate_config", None)
    d = tb.folder / "artifacts" / f"iter-{it}"
    data = tb.data.path if tb.data else "DATA"
    lines = ["#!/usr/bin/env bash", f"# Reproduces iteration {it} of run {tb.folder.name}: train, then evaluate.",
             "# Paste from the repository root; the config is artifacts/iter-N/plan.json -> config_files.", "set -euo pipefail"]
    if tb.request.dataset.path is None:
        lines.append(f"tunepilot data generate --out {q(data)} --n {int(tb.n_examples)} --seed {int(tb.request.dataset.seed)}")
    steps = f"--max-steps {int(spec.max_steps)}" if spec.max_steps else f"--epochs {float(spec.epochs)}"
    lines.append(f"tunepilot train --data {q(data)} --out {q(str(spec.out))} --model {q(tb.request.base_model)} "
                 f"--method {q(spec.method)} {steps} --grad-accum {int(spec.grad_accum)} "
                 f"--learning-rate {float(spec.learning_rate)} --rank {int(spec.rank)} --targets {q(spec.targets)} "
                 f"--max-length {int(spec.max_length)}" + (f" --batch-size {int(spec.batch_size)}" if spec.batch_size else "")
                 + (" --gradient-checkpointing" if spec.gradient_checkpointing else "")
                 + (f" --num-processes {int(spec.num_processes)}" if spec.num_processes > 1 else "")
                 + (f" --engine {q(spec.engine)} --accelerate-config {q(str(acc_cfg))}" if acc_cfg else "")
                 + ' --num-machines "${NUM_MACHINES:-1}" --machine-rank "${MACHINE_RANK:-0}"'
                 + ' ${MAIN_IP:+--main-process-ip "$MAIN_IP" --main-process-port "${MAIN_PORT:-29500}"}')
    launch = (f"accelerate launch {'--config_file ' + q(str(acc_cfg)) if acc_cfg else '--multi_gpu'}"
              f" --num_processes {int(spec.num_processes)} x machines" if spec.num_processes > 1 or acc_cfg else "python")
    lines.append(f"# which runs: {launch} -m tunepilot.tools.train_child --config {q(str(spec.out))}/training_config.json")
    lines.append("# several machines: run this script on each with NUM_MACHINES=N MACHINE_RANK=i MAIN_IP=<rank 0's address>"
                 " (under SLURM: srun --ntasks-per-node=1 env MACHINE_RANK=$SLURM_NODEID ... bash train.sh)")
    lines.append('[ "${MACHINE_RANK:-0}" = 0 ] || exit 0  # rank 0 holds the adapter: it alone evaluates')
    limit = tb.request.evaluation.limit
    lines.append(f"tunepilot eval --data {q(data)} --model {q(tb.request.base_model)} --adapter {q(str(spec.out))}/adapter "
                 + (f"--limit {int(limit)} " if limit else "") + f"--out {q(str(d))}/eval.json")
    ev = tb.request.evaluation
    if ev.suites:
        lines.append("# third-party suites, base vs tuned (the autopilot sizes the sample to the budget; 20 here)")
    for suite in ev.suites:
        lines.append(f"tunepilot eval --suite {q(suite)} --model {q(tb.request.base_model)} --adapter {q(str(spec.out))}/adapter "
                     f"--compare-base" + (f" --limit {int(ev.suite_limit)}" if ev.suite_limit else " --limit 20"))
    return "\n".join(lines) + "\n"
