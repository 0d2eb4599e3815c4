"""The distribution plan for the seeds' setups, from config.json alone (no weights): the engine, its
config files, and memory per device against numbers computed by hand below (GiB = 2**30 bytes).

Defaults on a GPU: batch 4 x 1024 tokens, LoRA r16 on q,k,v,o,gate,up,down, bf16, AdamW (fp32 adapter
states), saved activations per token and layer as agent/estimate.py counts them, logits 16 B per
position and vocab entry, 0.5 GiB CUDA runtime."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunepilot.agent.engines import HEADROOM, plan_distribution
from tunepilot.config import TrainingConfig

CONFIGS = Path(__file__).parent / "fixtures" / "configs"
GiB = 2**30
T = 4 * 1024  # tokens of one GPU micro-batch


def _plan(name: str, gpus: int, vram: float | None, **cfg):
    return plan_distribution(str(CONFIGS / name), TrainingConfig(**cfg), gpus=gpus, vram_gb=vram, precision="bf16",
                             n_train_tokens=100_000)


# --- Codestral-22B (hidden 6144, ffn 16384, 56 layers, 48/8 heads of 128, vocab 32768, untied) ---------------
C_LAYER = 6144 * 6144 * 2 + 6144 * 1024 * 2 + 6144 * 16384 * 3  # q,o + k,v + gate,up,down = 390,070,272
C_EMBED = 32768 * 6144  # embeddings, and as much again for the untied LM head
C_NORMS = 56 * 2 * 6144 + 6144
C_ADAPTER = 56 * 16 * (6 * 6144 + 2 * 1024 + 3 * (6144 + 16384))  # A and B of 7 linears: 95,420,416
C_ACT = 2 * 4 * 6144 + 2 * (3 * 6144 + 6144 + 2 * 1024) + 2 * 4 * 16384 \
    + 6 * (2 * 6144 + 64) + (2 * 16384 + 64)  # per token and layer: 340,416 B
C_ACT_CKPT = 56 * T * 6144 * 2 + 2 * C_ACT * T  # layer inputs kept, one layer recomputed with its gradients
C_LOGITS = T * 32768 * 16


def test_codestral_22b_qlora_on_4_a6000_is_ddp_with_checkpointing():
    d = _plan("codestral-22b", 4, 48, method="qlora")
    weights = (56 * C_LAYER * (0.5 + 1 / 64 + 4 / (64 * 256)) + (2 * C_EMBED + C_NORMS) * 4) / GiB  # nf4 + fp32 rest
    adapter_states = C_ADAPTER * 4 * 4 / GiB  # fp32 adapter, gradient, exp_avg, exp_avg_sq
    expected = weights + adapter_states + C_ACT_CKPT / GiB + C_LOGITS / GiB + 0.5
    assert round(weights, 2) == 12.00 and round(expected, 1) == 21.1
    assert d.plan.engine == "ddp" and d.plan.fits and d.plan.world_size == 4
    assert d.plan.per_device_gb == pytest.approx(expected, rel=0.005)
    assert d.changes == ["gradient checkpointing on (activations recomputed in backward)"]  # without: 72.7 GiB of activations
    assert 56 * C_ACT * T / GiB == pytest.approx(72.7, abs=0.05)
    assert d.config["gradient_checkpointing"] is True and d.plan.per_device_gb < 60  # the seeds' target
    acc = d.files["accelerate.yaml"]
    assert acc["distributed_type"] == "MULTI_GPU" and acc["num_processes"] == 4 and acc["mixed_precision"] == "bf16"
    assert d.launch == "accelerate launch --config_file accelerate.yaml"


def test_codestral_22b_lora_bf16_on_4_a6000_needs_fsdp_full_shard():
    d = _plan("codestral-22b", 4, 48, method="lora")
    weights = (56 * C_LAYER + 2 * C_EMBED + C_NORMS) * 2 / GiB  # 41.4 GiB of bf16 weights: too much for one 48 GB card
    rest = C_ACT_CKPT / GiB + C_LOGITS / GiB + 0.5
    ddp = weights + C_ADAPTER * 16 / GiB + rest
    fsdp = weights / 4 + C_ADAPTER * 16 / GiB / 4 + rest + 2 * (C_LAYER + 2 * 6144) * 2 / GiB  # + 2 gathered layers
    assert d.plan.engine == "fsdp" and d.plan.fits
    assert d.plan.tried["ddp"] == pytest.approx(ddp, rel=0.005) and ddp > HEADROOM * 48
    assert d.plan.per_device_gb == pytest.approx(fsdp, rel=0.005) and round(fsdp, 1) == 19.9
    fsdp_cfg = d.files["accelerate.yaml"]["fsdp_config"]
    assert d.files["accelerate.yaml"]["distributed_type"] == "FSDP"
    assert fsdp_cfg["fsdp_transformer_layer_cls_to_wrap"] == "MistralDecoderLayer"
    assert fsdp_cfg["fsdp_auto_wrap_policy"] == "TRANSFORMER_BASED_WRAP" and fsdp_cfg["fsdp_reshard_after_forward"]
    assert fsdp_cfg["fsdp_cpu_ram_efficient_loading"] is True


# --- Qwen2.5-Coder-7B (hidden 3584, ffn 18944, 28 layers, 28/4 heads of 128, vocab 152064, untied) -----------
Q_LAYER = 3584 * 3584 * 2 + 3584 * 512 * 2 + 3584 * 18944 * 3
Q_EMBED = 152064 * 3584
Q_ADAPTER = 28 * 16 * (6 * 3584 + 2 * 512 + 3 * (3584 + 18944))
Q_ACT = 2 * 4 * 3584 + 2 * (3 * 3584 + 3584 + 2 * 512) + 2 * 4 * 18944 + 6 * (2 * 3584 + 64) + (2 * 18944 + 64)


def test_qwen25_coder_7b_qlora_on_one_24gb_card():
    d = _plan("qwen2.5-coder-7b", 1, 24, method="qlora")
    weights = (28 * Q_LAYER * (0.5 + 1 / 64 + 4 / (64 * 256)) + (2 * Q_EMBED + 28 * 2 * 3584 + 3584) * 4) / GiB
    acts = (28 * T * 3584 * 2 + 2 * Q_ACT * T) / GiB
    logits = T * 152064 * 16 / GiB  # 9.3 GiB: the large vocabulary, at every position on a GPU
    expected = weights + Q_ADAPTER * 16 / GiB + acts + logits + 0.5
    assert d.plan.engine == "single" and d.plan.fits and d.files == {} and d.launch == "python"
    assert d.plan.per_device_gb == pytest.approx(expected, rel=0.005) and round(expected, 1) == 20.6
    assert expected <= HEADROOM * 24


def test_qwen25_coder_7b_full_fine_tune_on_one_card_offloads_with_deepspeed_or_says_it_cannot():
    d = _plan("qwen2.5-coder-7b", 1, 24, method="full")
    assert d.plan.engine == "zero3_offload" and d.plan.fits
    n = 28 * Q_LAYER + 2 * Q_EMBED + 28 * 2 * 3584 + 3584
    assert d.plan.host_gb == pytest.approx(n * 2 * 4 / GiB, rel=0.005)  # bf16 weights, gradients, 2 AdamW states
    ds = d.files["deepspeed.json"]["zero_optimization"]
    assert ds["stage"] == 3 and ds["offload_optimizer"]["device"] == "cpu" and ds["offload_param"]["device"] == "cpu"
    assert d.files["accelerate.yaml"]["deepspeed_config"]["deepspeed_config_file"] == "deepspeed.json"
    two = _plan("qwen2.5-coder-7b", 2, 24, method="full")  # each rank offloads its half: the machine holds it once
    assert two.plan.engine == "zero3_offload" and two.plan.host_gb == pytest.approx(n * 2 * 4 / GiB, rel=0.005)
    no_ds = plan_distribution(str(CONFIGS / "qwen2.5-coder-7b"), TrainingConfig(method="full"), gpus=1, vram_gb=24,
                              precision="bf16", n_train_tokens=100_000, deepspeed=False)
    assert not no_ds.plan.fits and "does not fit" in no_ds.plan.why and "needs deepspeed" in no_ds.plan.why


def test_qwen3_8b_on_a_48_core_cpu_is_one_process():
    d = _plan("qwen3-8b", 0, None)
    n = 36 * (4096 * 4096 * 2 + 4096 * 1024 * 2 + 4096 * 12288 * 3 + 2 * 4096) + 2 * 151936 * 4096 + 4096
    assert d.plan.engine == "single" and d.plan.world_size == 1 and d.files == {}
    assert d.plan.per_device_breakdown_gb["weights"] == pytest.approx(n * 2 / GiB, rel=0.001)  # 15.26 GiB of bf16
    assert d.plan.per_device_gb == pytest.approx(sum(d.plan.per_device_breakdown_gb.values()), rel=0.001)


def test_two_machines_carry_the_rendezvous_flags():
    d = plan_distribution(str(CONFIGS / "codestral-22b"), TrainingConfig(method="lora"), gpus=4, vram_gb=48,
                          precision="bf16", n_train_tokens=100_000, machines=2)
    acc = d.files["accelerate.yaml"]
    assert d.plan.world_size == 8 and acc["num_processes"] == 8 and acc["num_machines"] == 2
    assert "--num_machines 2 --machine_rank $MACHINE_RANK --main_process_ip $MAIN_IP" in d.launch


def test_planned_files_reach_train_sh_and_the_launcher(tmp_path):
    """The plan's accelerate.yaml is a real file in the iteration folder, train.sh passes it, and the
    launcher hands it to `accelerate launch --config_file` with the process counts."""
    import shlex
    from types import SimpleNamespace

    import yaml

    from tunepilot.agent.engines import write_engine_files
    from tunepilot.agent.goal import parse_goal
    from tunepilot.agent.planfiles import train_script
    from tunepilot.tools.distributed import launch_args
    from tunepilot.tools.train import TrainSpec

    d = _plan("codestral-22b", 4, 48, method="lora")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.jsonl").write_text("")
    spec = TrainSpec(**d.config, data=tmp_path / "data", out=tmp_path / "iter-1" / "train", model=str(CONFIGS / "codestral-22b"))
    spec = write_engine_files(spec, d, tmp_path / "iter-1")
    acc = yaml.safe_load((tmp_path / "iter-1" / "accelerate.yaml").read_text())
    assert acc["distributed_type"] == "FSDP" and acc["fsdp_config"]["fsdp_transformer_layer_cls_to_wrap"] == "MistralDecoderLayer"
    assert (spec.engine, spec.num_processes, spec.accelerate_config) == ("fsdp", 4, tmp_path / "iter-1" / "accelerate.yaml")
    args = launch_args(spec, 4)
    assert args[:4] == ["-m", "accelerate.commands.launch", "--config_file", str(spec.accelerate_config)]
    assert args[args.index("--num_processes") + 1] == "4" and "--multi_gpu" not in args
    tb = SimpleNamespace(folder=tmp_path, data=SimpleNamespace(path=str(tmp_path / "data")), n_examples=300,
                         request=parse_goal("tool calls", overrides={"dataset.path": str(tmp_path / "data"),
                                                                     "dataset.format": "tunepilot"}))
    line = next(x for x in train_script(tb, spec, 1).splitlines() if x.startswith("tunepilot train"))
    words = shlex.split(line)
    assert words[words.index("--engine") + 1] == "fsdp" and words[words.index("--num-processes") + 1] == "4"
    assert words[words.index("--accelerate-config") + 1] == str(spec.accelerate_config)
    assert "--machine-rank" in words and "--num-machines" in words


@pytest.mark.parametrize("engine, kind", [("ddp", "MULTI_GPU"), ("fsdp", "FSDP"), ("zero2", "DEEPSPEED"),
                                          ("zero3_offload", "DEEPSPEED")])
def test_engine_files_load_in_accelerates_own_config_reader(engine, kind, tmp_path):
    """No GPU here to launch them on: accelerate's own loader (what `accelerate launch --config_file`
    reads) accepts every file the planner writes, with the distributed type and counts intended."""
    from accelerate.commands.config.config_args import load_config_from_file

    from tunepilot.tools.distributed import engine_files, write_engine_files

    files = engine_files(engine, 8, "MistralDecoderLayer", "bf16", num_machines=2, main_process_ip="10.0.0.1")
    c = load_config_from_file(str(write_engine_files(files, tmp_path)))
    assert c.distributed_type.name == kind and c.num_processes == 8 and c.num_machines == 2
    assert c.main_process_ip == "10.0.0.1" and c.mixed_precision == "bf16"
    if engine == "fsdp":
        assert c.fsdp_config["fsdp_transformer_layer_cls_to_wrap"] == "MistralDecoderLayer"
