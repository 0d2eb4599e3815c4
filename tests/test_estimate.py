"""The resource estimator: parameter count against transformers, monotonicity, time arithmetic, and the
calibration runs measured on 2 CPU cores (pure arithmetic; nothing trains here)."""

from __future__ import annotations

import json

import pytest

from tunepilot.agent.estimate import (
    PACK_FILL,
    adapter_params,
    estimate,
    model_shape,
    param_counts,
)
from tunepilot.agent.schemas import TrainingConfig

SMOLLM2 = {  # SmolLM2-135M-Instruct's config.json, the fields that shape it
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 576, "intermediate_size": 1536,
    "num_hidden_layers": 30, "num_attention_heads": 9, "num_key_value_heads": 3, "head_dim": 64,
    "vocab_size": 49152, "tie_word_embeddings": True, "attention_bias": False, "mlp_bias": False,
    "max_position_embeddings": 8192,
}

# Peak RSS (result.json's peak_rss_mb) of `tunepilot train` on SmolLM2-135M-Instruct, LoRA r16 attn+mlp, batch 1,
# grad_accum 2, on 2 CPU cores: (config, n_train_tokens, trained_fraction from loss_mask_audit.json, MB measured)
CALIBRATION = [  # (config, train tokens, trained fraction, precision, longest example, measured peak RSS MB)
    # 2026-12-03, Intel Xeon (AVX-512, no bf16 instructions), fp32, LoRA update in place, backward in chunks:
    (TrainingConfig(max_steps=20), 97_704, 0.15, "fp32", 756, 2548),  # the demo's data (300 records), 20 steps
    (TrainingConfig(max_steps=20, gradient_checkpointing=True), 97_704, 0.15, "fp32", 756, 1633),
    (TrainingConfig(), 25_562, 0.163, "fp32", 737, 2648),  # `make bench`: 64 conversations, 13 steps
    (TrainingConfig(chunk_tokens=1024), 25_562, 0.163, "fp32", 737, 3112),  # the same, whole rows
    # 2026-11-22, AMD EPYC with native bf16, bf16, 3 steps, whole rows (before chunks and the heap release):
    (TrainingConfig(max_length=1024, max_steps=3, chunk_tokens=1024), 20_030, 0.137, "bf16", None, 3037),
    (TrainingConfig(max_length=768, max_steps=3, chunk_tokens=768), 20_030, 0.137, "bf16", None, 2282),
    (TrainingConfig(max_length=1024, max_steps=3, gradient_checkpointing=True, chunk_tokens=1024), 20_030, 0.137,
     "bf16", None, 1962),
]


@pytest.fixture
def smollm2(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(SMOLLM2))
    return tmp_path


def _est(path, n_tokens=100_000, **cfg):
    return estimate(path, TrainingConfig(**cfg), n_train_tokens=n_tokens)


@pytest.mark.parametrize("tied", [True, False])
def test_parameter_count_matches_transformers(smollm2, tied):
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    (smollm2 / "config.json").write_text(json.dumps(SMOLLM2 | {"tie_word_embeddings": tied}))
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(smollm2))
    real = sum(p.numel() for p in model.parameters())
    counted = sum(param_counts(model_shape(smollm2)).values())
    assert abs(counted - real) / real < 0.01, (counted, real)


SMOLLM2_17B = SMOLLM2 | {"hidden_size": 2048, "intermediate_size": 8192, "num_hidden_layers": 24,
                         "num_attention_heads": 32, "num_key_value_heads": 32}  # head_dim 64 still


@pytest.mark.parametrize("config,device", [(SMOLLM2, "cpu"), (SMOLLM2_17B, "cpu"), (SMOLLM2_17B, "cuda")])
def test_memory_orders_qlora_lora_full(tmp_path, config, device):
    (tmp_path / "config.json").write_text(json.dumps(config))
    q, lo, f = (estimate(tmp_path, TrainingConfig(method=m), n_train_tokens=100_000, device=device).peak_memory_gb
                for m in ("qlora", "lora", "full"))
    assert q < lo < f, (q, lo, f)
    # (SmolLM2-135M on a GPU, 4 x 1024 tokens a micro-batch: full < LoRA, whose adapter inputs add more
    # activations than the 0.75 GB of gradients and AdamW states a full fine-tune adds; the estimate says so)


def test_adapter_scales_with_rank(smollm2):
    r16, r32 = _est(smollm2, rank=16), _est(smollm2, rank=32)
    assert r32.breakdown_gb["adapter"] == pytest.approx(2 * r16.breakdown_gb["adapter"], rel=1e-3)
    s = model_shape(smollm2)
    assert adapter_params(s, 32, "attn+mlp") == 2 * adapter_params(s, 16, "attn+mlp")
    assert adapter_params(s, 16, "attn") < adapter_params(s, 16, "attn+mlp")
    assert adapter_params(s, 16, "attn+mlp") == 4_884_480  # what PEFT reports trainable for SmolLM2


def test_gradient_checkpointing_lowers_activations(smollm2):
    plain, ckpt = _est(smollm2), _est(smollm2, gradient_checkpointing=True)
    assert ckpt.breakdown_gb["activations"] < plain.breakdown_gb["activations"] / 5
    assert ckpt.peak_memory_gb < plain.peak_memory_gb
    assert ckpt.training_time_s > plain.training_time_s  # the recomputed forward


def test_max_steps_bounds_time(smollm2):
    epoch = _est(smollm2, n_tokens=1_000_000)
    short = _est(smollm2, n_tokens=1_000_000, max_steps=3)
    assert short.training_time_s < epoch.training_time_s / 10
    given = estimate(smollm2, TrainingConfig(max_steps=3, max_length=512, grad_accum=4, batch_size=2),
                     n_train_tokens=1_000_000, tokens_per_s=100.0)
    assert given.training_time_s == pytest.approx(3 * 2 * 4 * 512 * PACK_FILL / 100.0, rel=1e-3)


def test_given_throughput_sets_time(smollm2):
    r = estimate(smollm2, TrainingConfig(epochs=2), n_train_tokens=50_000, tokens_per_s=250.0, basis="memory store: r7")
    assert r.training_time_s == pytest.approx(2 * 50_000 / 250.0, rel=1e-3)  # its evaluations are in the rate
    assert r.training_time == "6.7 min" and r.basis.startswith("memory store: r7")
    default = _est(smollm2, n_tokens=50_000)
    assert "GFLOP/s" in default.basis and "measured" in default.basis


def test_resources_fields(smollm2):
    cpu = _est(smollm2)
    assert cpu.device == "cpu" and cpu.gpu_memory.endswith("(host RAM, CPU-only)")
    keys = {"weights", "adapter", "gradients", "optimizer", "activations", "logits", "runtime"}
    assert keys <= set(cpu.breakdown_gb)
    assert cpu.peak_memory_gb == pytest.approx(sum(cpu.breakdown_gb.values()), abs=0.01)
    assert 0.1 < cpu.storage_gb < 0.2  # adapter + 2 checkpoints (adapter + AdamW states): 148 MB measured
    gpu = estimate(smollm2, TrainingConfig(), n_train_tokens=100_000, device="cuda", gpus=2)
    assert gpu.device == "cuda" and "per GPU" in gpu.gpu_memory and "assumed" in gpu.basis
    assert "allocator" not in gpu.breakdown_gb
    lower = estimate(smollm2, TrainingConfig(), n_train_tokens=100_000, runtime_overhead_gb=0.3)
    assert lower.breakdown_gb["runtime"] == 0.3 and lower.peak_memory_gb < cpu.peak_memory_gb
    with pytest.raises(ValueError, match="device="):
        estimate(smollm2, TrainingConfig(), n_train_tokens=1, device="tpu")


@pytest.mark.parametrize("cfg,n_tokens,trained_fraction,precision,longest,measured_mb", CALIBRATION)
def test_calibration_within_15_percent(smollm2, cfg, n_tokens, trained_fraction, precision, longest, measured_mb):
    r = estimate(smollm2, cfg, n_train_tokens=n_tokens, trained_fraction=trained_fraction, precision=precision,
                 longest_example=longest)
    assert abs(r.peak_memory_gb * 1024 - measured_mb) / measured_mb < 0.15, (r.peak_memory_gb * 1024, measured_mb)


def test_calibration_time(smollm2):
    r = estimate(smollm2, TrainingConfig(max_length=1024), n_train_tokens=129_823, trained_fraction=0.147)
    assert abs(r.training_time_s - 515) / 515 < 0.15  # 1.3 epochs of the demo data took 515 s (2026-11-30)


def test_cpu_backward_holds_one_chunk_or_the_longest_example(smollm2):
    """On CPU a backward holds the largest conversation-aligned chunk: the budget, or the longest example
    when that is longer; unknown data means the whole row; GPUs and padded batches keep whole rows."""
    from tunepilot.agent.estimate import backward_tokens

    assert backward_tokens(TrainingConfig(), "cpu", longest_example=300) == 512
    assert backward_tokens(TrainingConfig(), "cpu", longest_example=756) == 756
    assert backward_tokens(TrainingConfig(), "cpu", longest_example=5000) == 1024  # truncated to max_length
    assert backward_tokens(TrainingConfig(), "cpu") == 1024
    assert backward_tokens(TrainingConfig(chunk_tokens=256), "cpu", longest_example=100) == 256
    assert backward_tokens(TrainingConfig(packing=False), "cpu", longest_example=100) == 1024
    assert backward_tokens(TrainingConfig(), "cuda", longest_example=100) == 4 * 1024
    small, whole = (estimate(smollm2, TrainingConfig(), n_train_tokens=100_000, precision="fp32", longest_example=n)
                    for n in (300, None))
    assert small.breakdown_gb["activations"] == pytest.approx(whole.breakdown_gb["activations"] * 512 / 1024, rel=1e-3)
    assert "backward in chunks of <= 512" in small.basis and "chunks" not in whole.basis


def test_cpu_rate_comes_from_the_probe_in_the_dtype_trained(smollm2):
    """An AVX2 CPU (no native bf16) trains in fp32 at its fp32 probe rate: slower, and fp32 weights and
    activations take twice the bytes of bf16."""
    probe = {"fp32_gflops": 100.0, "bf16_gflops": 400.0, "key": "AMD EPYC|AVX2|nobf16|2c"}
    fp32 = estimate(smollm2, TrainingConfig(), n_train_tokens=100_000, precision="fp32", cpu_probe=probe)
    bf16 = estimate(smollm2, TrainingConfig(), n_train_tokens=100_000, precision="bf16", cpu_probe=probe)
    from tunepilot.agent.estimate import CPU_EFFICIENCY

    ratio = (400.0 * CPU_EFFICIENCY["bf16"]) / (100.0 * CPU_EFFICIENCY["fp32"])
    assert fp32.training_time_s == pytest.approx(ratio * bf16.training_time_s, rel=1e-3)
    assert "fp32 matmul probe 100 GFLOP/s" in fp32.basis and "AVX2|nobf16" in fp32.basis
    assert fp32.breakdown_gb["weights"] == pytest.approx(2 * bf16.breakdown_gb["weights"], rel=1e-3)
    assert fp32.breakdown_gb["activations"] > 1.3 * bf16.breakdown_gb["activations"]  # norms and LoRA inputs are fp32 in both
    slower = estimate(smollm2, TrainingConfig(), n_train_tokens=100_000, precision="fp32",
                      cpu_probe=probe | {"fp32_gflops": 50.0})
    assert slower.training_time_s == pytest.approx(2 * fp32.training_time_s, rel=1e-3)
