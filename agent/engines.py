"""How one training run spreads over devices: the engine, its memory per device, its config files.

    e = choose_engine(res.breakdown_gb, model_shape(path), "qlora", "bf16", gpus=4, vram_gb=48,
                      architecture="MistralForCausalLM")
    e.engine, e.per_device_gb, e.fits, e.why           # "ddp", 13.9, True, "DDP on 4 GPU(s): 21.1 GB per GPU ..."
    plan_distribution(path, cfg, gpus=4, vram_gb=48, precision="bf16", n_train_tokens=n)  # + config changes, files

Engines, in the order the planner tries them (the first whose per-device peak fits wins):
  single   one process (a CPU, or one GPU)
  ddp      data parallel: every GPU holds everything, gradients all-reduced (accelerate + torchrun)
  zero2    DeepSpeed ZeRO-2: gradients and optimizer states sharded over the GPUs
  fsdp     PyTorch FSDP full shard: weights, gradients, optimizer sharded; one decoder layer (auto-wrap
           unit) gathered at a time, the next one prefetched
  zero3_offload  DeepSpeed ZeRO-3 with parameters and optimizer in host RAM (seed 002's last memory
           fallback); the GPU keeps activations and the gathered layers

The per-device memory starts from agent/estimate.py's breakdown for one process holding everything
(weights, adapter, gradients, optimizer, activations, logits, runtime) and divides what the engine
shards by the number of GPUs. A plan fits when that peak is at most HEADROOM x the GPU's memory and
under the seeds' 60 GB-per-GPU target.
"""

from __future__ import annotations

from pydantic import BaseModel

from tunepilot.agent.estimate import GiB, linears
from tunepilot.agent.schemas import Resources
from tunepilot.tools.distributed import Engine, engine_files
from tunepilot.tools.distributed import write_engine_files as write_files

HEADROOM = 0.9  # of a GPU's memory: allocator fragmentation and the NCCL buffers are not counted
SEED_TARGET_GB = 60.0  # seed 000/003: under 60 GB per GPU
SHARDED = {"ddp": (), "single": (), "zero2": ("gradients", "optimizer"),
           "fsdp": ("weights", "adapter", "gradients", "optimizer"), "zero3_offload": ()}


class EnginePlan(BaseModel):
    engine: Engine
    world_size: int  # processes, all machines
    per_device_gb: float  # peak per GPU (or host RAM for a CPU run)
    per_device_breakdown_gb: dict[str, float]
    host_gb: float  # host RAM the offloaded states need, per machine (0 unless offloading)
    fits: bool
    why: str  # the choice and the numbers behind it
    tried: dict[str, float]  # engine -> per-device peak it would need (GB), in the order tried
    decoder_layer: str | None = None  # the auto-wrap class for FSDP (from config.json's architectures)


def layer_gb(shape: dict, method: str, precision: str) -> float:
    """One decoder layer's weights as FSDP / ZeRO-3 gather them (the unit of all-gather)."""
    n = sum(i * o for i, o in linears(shape).values()) + 2 * shape["hidden"]
    per = 0.5 + 1 / 64 if method == "qlora" else (4 if precision == "fp32" else 2)
    return n * per / GiB


def per_device(breakdown: dict[str, float], engine: Engine, world: int, layer: float) -> tuple[dict[str, float], float]:
    """(GPU memory by part, host RAM for its offloaded shard) of one rank under `engine`."""
    out = dict(breakdown)
    host = 0.0
    if engine in ("zero2", "fsdp"):
        for k in SHARDED[engine]:
            out[k] = breakdown.get(k, 0.0) / world
    if engine == "fsdp":
        out["gathered_layers"] = 2 * layer  # the layer computing + the one prefetched
    if engine == "zero3_offload":
        host = sum(breakdown.get(k, 0.0) for k in ("weights", "adapter", "gradients", "optimizer")) / world  # its shard
        for k in ("weights", "adapter", "gradients", "optimizer"):
            out[k] = 0.0
        out["gathered_layers"] = 2 * layer
    return out, host


def decoder_layer_class(architecture: str | None) -> str | None:
    """`MistralForCausalLM` -> `MistralDecoderLayer`: transformers' naming for decoder-only models."""
    return architecture.replace("ForCausalLM", "DecoderLayer") if architecture and architecture.endswith("ForCausalLM") else None


def choose_engine(breakdown: dict[str, float], shape: dict, method: str, precision: str, *, gpus: int,
                  vram_gb: float | None, machines: int = 1, architecture: str | None = None,
                  deepspeed: bool = True) -> EnginePlan:
    """The first engine whose per-device peak fits (CPU: one process, and the host RAM is the budget)."""
    world = max(1, gpus) * machines
    layer = layer_gb(shape, method, precision)
    cls = decoder_layer_class(architecture)
    if gpus == 0:
        total = sum(breakdown.values())
        return EnginePlan(engine="single", world_size=1, per_device_gb=round(total, 3),
                          per_device_breakdown_gb={k: round(v, 4) for k, v in breakdown.items()}, host_gb=0.0,
                          fits=True, why=f"CPU only: one process, {total:.1f} GB of host RAM", tried={"single": round(total, 3)},
                          decoder_layer=cls)
    budget = min(HEADROOM * (vram_gb or SEED_TARGET_GB), SEED_TARGET_GB)
    order: list[Engine] = ["single"] if world == 1 else ["ddp", "zero2", "fsdp"]
    order += ["zero3_offload"] if deepspeed else []
    tried: dict[str, float] = {}
    last = None
    for engine in order:
        parts, host = per_device(breakdown, engine, world, layer)
        peak = sum(parts.values())
        tried[engine] = round(peak, 3)
        last = (engine, parts, host, peak)
        if peak <= budget:
            break
    engine, parts, host, peak = last
    fits = peak <= budget
    names = {"single": "one GPU", "ddp": "DDP", "zero2": "ZeRO-2", "fsdp": "FSDP full shard",
             "zero3_offload": "ZeRO-3 with CPU offload"}
    steps = ", ".join(f"{names[e]} {g:.1f} GB" for e, g in tried.items())
    why = (f"{names[engine]} on {world} GPU(s): {peak:.1f} GB per GPU within {budget:.1f} GB "
           f"({HEADROOM:.0%} of {vram_gb} GB, at most the seeds' {SEED_TARGET_GB:.0f} GB); tried {steps}" if fits else
           f"does not fit: the best engine, {names[engine]}, needs {peak:.1f} GB per GPU, over {budget:.1f} GB; tried {steps}"
           + ("" if deepspeed else " (ZeRO-3 offload needs deepspeed: pip install 'tunepilot[deepspeed]')"))
    return EnginePlan(engine=engine, world_size=world, per_device_gb=round(peak, 3),
                      per_device_breakdown_gb={k: round(v, 4) for k, v in parts.items()},
                      host_gb=round(host * max(1, gpus), 3), fits=fits, why=why, tried=tried, decoder_layer=cls)


class Distribution(BaseModel):
    """The plan's answer to "where does this run go": the engine, the config it fits with, the files."""
    plan: EnginePlan
    config: dict  # the training config as planned (may turn gradient checkpointing on / halve the batch)
    changes: list[str]  # what was changed to fit, in order
    files: dict[str, dict]  # accelerate.yaml (+ deepspeed.json): what train.sh passes to accelerate launch
    launch: str  # the accelerate launch line of train.sh
    resources: Resources  # the estimate for the planned config, one process holding everything (the DDP view)

    def summary(self):
        from tunepilot.agent.schemas import DistributionPlan

        p = self.plan
        return DistributionPlan(engine=p.engine, world_size=p.world_size, per_device_gb=p.per_device_gb, host_gb=p.host_gb,
                                fits=p.fits, why=p.why, changes=self.changes)


def write_engine_files(spec, dist: Distribution, folder):
    """The engine's accelerate/DeepSpeed files into the iteration folder; the spec pointed at them."""
    update = {"engine": dist.plan.engine, "num_processes": max(1, dist.plan.world_size // spec.num_machines)}
    if "accelerate.yaml" in dist.files:
        update["accelerate_config"] = write_files(dist.files, folder)
    return spec.model_copy(update=update)


def plan_distribution(model_path: str, cfg, *, gpus: int, vram_gb: float | None, precision: str,
                      n_train_tokens: int, machines: int = 1, deepspeed: bool = True, **estimate_kw) -> Distribution:
    """Estimate on the requested hardware and pick the engine; when none fits, turn on gradient
    checkpointing, then halve the micro-batch (doubling accumulation, the effective batch kept) and
    try again. Config only: no weights are loaded."""
    import json
    from pathlib import Path

    from tunepilot.agent.estimate import estimate, model_shape

    shape = model_shape(model_path)
    arch = (json.loads((Path(model_path).expanduser() / "config.json").read_text()).get("architectures") or [None])[0]
    device = "cuda" if gpus > 0 else "cpu"
    changes: list[str] = []
    while True:
        res = estimate(model_path, cfg, n_train_tokens=n_train_tokens, device=device, gpus=gpus, precision=precision,
                       **estimate_kw)
        e = choose_engine(res.breakdown_gb, shape, cfg.method, precision, gpus=gpus, vram_gb=vram_gb, machines=machines,
                          architecture=arch, deepspeed=deepspeed)
        batch = cfg.batch_size or (4 if device == "cuda" else 1)
        if e.fits or device == "cpu":
            break
        if not cfg.gradient_checkpointing:
            cfg = cfg.model_copy(update={"gradient_checkpointing": True})
            changes.append("gradient checkpointing on (activations recomputed in backward)")
        elif batch > 1:
            cfg = cfg.model_copy(update={"batch_size": batch // 2, "grad_accum": cfg.grad_accum * 2})
            changes.append(f"micro-batch {batch} -> {batch // 2}, accumulation x2 (same effective batch)")
        else:
            break
    files = engine_files(e.engine, e.world_size, e.decoder_layer, precision, num_machines=machines) \
        if e.engine != "single" else {}
    if e.engine == "single":
        launch = "python"
    else:
        launch = ("accelerate launch --config_file accelerate.yaml" + (
            " --num_machines {n} --machine_rank $MACHINE_RANK --main_process_ip $MAIN_IP --main_process_port 29500".format(
                n=machines) if machines > 1 else ""))
    return Distribution(plan=e, config=cfg.model_dump(), changes=changes, files=files, launch=launch, resources=res)
