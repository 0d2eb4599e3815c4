"""How the training child is launched on more than one process: accelerate's launcher arguments and
the engine config files it reads (accelerate's YAML, DeepSpeed's JSON).

    launch_args(spec, 2)        # ["-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", ...]
    engine_files("fsdp", 4, "MistralDecoderLayer", "bf16")   # {"accelerate.yaml": {...}}
    write_engine_files(files, folder)                        # -> folder/accelerate.yaml (+ deepspeed.json)

Never a home-made launcher: `accelerate launch` (torchrun underneath) starts the ranks, FSDP and
DeepSpeed shard them; the agent's planner (agent/engines.py) decides which engine a run needs.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Literal

from tunepilot import TunepilotError

Engine = Literal["single", "ddp", "zero2", "fsdp", "zero3_offload"]


def launch_args(spec, n: int) -> list[str]:
    """The child's launcher: none for one process on one machine (a launcher costs a second Python
    start and, on a CPU without OMP_NUM_THREADS, pins one thread per core), else `accelerate launch`
    (torchrun underneath: nccl on GPUs; on a CPU the trainer's use_cpu makes accelerate use gloo)."""
    if n == 1 and spec.num_machines == 1 and not spec.accelerate_config:
        return []
    port = spec.main_process_port or (_free_port() if spec.num_machines == 1 else 29500)
    # an engine's config file (FSDP, DeepSpeed) sets the distributed type; the counts are given either way
    kind = ["--config_file", str(spec.accelerate_config)] if spec.accelerate_config else ["--multi_gpu"]
    args = ["-m", "accelerate.commands.launch", *kind, "--num_processes", str(n * spec.num_machines),
            "--num_machines", str(spec.num_machines), "--machine_rank", str(spec.machine_rank),
            "--main_process_port", str(port), "--dynamo_backend", "no"]
    if not spec.accelerate_config:
        args += ["--mixed_precision", "no"]
    if spec.num_machines > 1:
        if not spec.main_process_ip:
            raise TunepilotError("--num-machines > 1 needs --main-process-ip (the address of machine rank 0)")
        args += ["--main_process_ip", spec.main_process_ip]
    return args


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def engine_files(engine: Engine, world_size: int, decoder_layer: str | None, precision: str, num_machines: int = 1,
                 machine_rank: int = 0, main_process_ip: str | None = None, main_process_port: int = 29500) -> dict[str, dict]:
    """The accelerate config (and DeepSpeed's JSON) that `accelerate launch --config_file` reads."""
    mixed = {"bf16": "bf16", "fp16": "fp16"}.get(precision, "no")
    acc = {"compute_environment": "LOCAL_MACHINE", "num_machines": num_machines, "machine_rank": machine_rank,
           "num_processes": world_size, "main_training_function": "main", "mixed_precision": mixed,
           "rdzv_backend": "static", "same_network": True, "use_cpu": world_size == 1 and engine == "single",
           "distributed_type": {"single": "NO", "ddp": "MULTI_GPU", "fsdp": "FSDP"}.get(engine, "DEEPSPEED")}
    if num_machines > 1:
        acc |= {"main_process_ip": main_process_ip or "MAIN_MACHINE_IP", "main_process_port": main_process_port}
    files: dict[str, dict] = {}
    if engine == "fsdp":
        acc["fsdp_config"] = {
            "fsdp_version": 2, "fsdp_reshard_after_forward": True,  # full shard
            "fsdp_auto_wrap_policy": "TRANSFORMER_BASED_WRAP", "fsdp_transformer_layer_cls_to_wrap": decoder_layer,
            "fsdp_state_dict_type": "SHARDED_STATE_DICT", "fsdp_cpu_ram_efficient_loading": True,
            "fsdp_offload_params": False, "fsdp_activation_checkpointing": False}
        # QLoRA under FSDP: the child stores the 4-bit weights in the compute dtype (bnb_4bit_quant_storage),
        # the QLoRA+FSDP recipe, so FSDP can flatten and shard them (TrainSpec.engine tells it)
    elif engine in ("zero2", "zero3_offload"):
        stage = 2 if engine == "zero2" else 3
        zero: dict = {"stage": stage, "overlap_comm": True, "contiguous_gradients": True}
        if stage == 3:
            zero |= {"offload_optimizer": {"device": "cpu", "pin_memory": True},
                     "offload_param": {"device": "cpu", "pin_memory": True},
                     "stage3_gather_16bit_weights_on_model_save": True}
        files["deepspeed.json"] = {"zero_optimization": zero, "bf16": {"enabled": "auto"}, "fp16": {"enabled": "auto"},
                                   "train_micro_batch_size_per_gpu": "auto", "gradient_accumulation_steps": "auto",
                                   "gradient_clipping": "auto", "train_batch_size": "auto"}
        acc["deepspeed_config"] = {"deepspeed_config_file": "deepspeed.json", "zero3_init_flag": stage == 3}
    files["accelerate.yaml"] = acc
    return files


def write_engine_files(files: dict[str, dict], folder: Path) -> Path:
    """engine_files' output into `folder` (accelerate.yaml, and deepspeed.json with accelerate's
    pointer to it made absolute: accelerate resolves it from the working directory); returns the
    accelerate.yaml path `--config_file` takes."""
    import yaml

    from tunepilot.atomic import write_json

    folder.mkdir(parents=True, exist_ok=True)
    acc = copy.deepcopy(files["accelerate.yaml"])
    if "deepspeed.json" in files:
        write_json(folder / "deepspeed.json", files["deepspeed.json"])
        acc["deepspeed_config"]["deepspeed_config_file"] = str(folder / "deepspeed.json")
    (folder / "accelerate.yaml").write_text(yaml.safe_dump(acc, sort_keys=False))
    return folder / "accelerate.yaml"
