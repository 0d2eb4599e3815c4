"""Resource estimate of one training run (seed 002's `estimated_resources`): time, peak memory, storage.

    from tunepilot.agent.estimate import estimate
    estimate("~/.cache/tunepilot/models/smollm2-135m-instruct", TrainingConfig(), n_train_tokens=100_000)

Counted from the model's config.json, for the run `tools/train.py` makes of a `TrainingConfig`:
weights by precision, the LoRA adapter with its gradients and AdamW states (or those of every weight
for a full fine-tune), the saved activations of one micro-batch, the LM-head logits, the process
baseline, and on CPU the growth of the heap over the run (below). Time is tokens / throughput, where
the throughput is the caller's measurement or a FLOPs rate per device scaled by the model's size.

Calibration (2 CPU cores, no GPU; SmolLM2-135M-Instruct, LoRA r16 attn+mlp, batch 1, grad_accum 2,
bf16 weights, packing; peak = result.json's peak_rss_mb, ru_maxrss of the training child):

    max_length  grad. ckpt.  micro-batches   data                     peak RSS  tokens/s      estimate
    1024        no           104 (52 steps)  240 ex., 100,017 tokens  5948 MB   178 (554 s)   5686 MB  -4.4 %, 553 s
    1024        no             6 (3 steps)   48 ex., --max-steps 3    3037 MB   124           3061 MB  +0.8 %
     768        no             6 (3 steps)   48 ex., --max-steps 3    2282 MB   129           2374 MB  +4.0 %
    1024        yes            6 (3 steps)   48 ex., --max-steps 3    1962 MB   139           1927 MB  -1.8 %

Until 2026-12-03 the RSS of the CPU training child kept rising over a run at a fixed configuration (the
104-micro-batch run above: 2.9 GB after step 3, 3.9 at step 10, 5.9 at 52): glibc kept the freed
activation buffers of varying packed lengths. The child now hands them back after every micro-step, so
the resident set returns to weights + runtime between micro-steps and the peak is one micro-step's:
the allocator term is a constant share of the micro-batch's attention-score size (ALLOC_K), no longer a
logarithm of the run's length. The table above predates that change.

Since the CPU trainer computes each packed row's gradient in conversation-aligned chunks
(tools/cpu_trainer.py), one backward holds `backward_tokens`: the chunk budget, or the data's longest
example when that is longer. Measured 2026-12-03 (Intel Xeon, AVX-512 without bf16, fp32,
`benchmarks/estimate_vs_measured.py --configs 2 --steps 20`, the demo's 300 records, longest 756):
estimated 2.55 GB vs 2.548 GB measured (+0.1 %); with gradient checkpointing 1.41 vs 1.63 GB (-13.7 %).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from tunepilot.agent.schemas import Resources, TrainingConfig
from tunepilot.config import CPU_CHUNK_TOKENS

GiB = 2**30  # "GB" below is GiB, as result.json's peak_rss_mb is MiB
RUNTIME_GB = {
    "cpu": 0.57,  # measured: RSS 583 MiB of a process that imported torch/transformers/trl/peft/datasets, loaded
    # SmolLM2's tokenizer, and built the SFTTrainer with its packed dataset (the weights are mmapped, counted apart)
    "cuda": 0.5,  # CUDA context + cuBLAS workspace (assumed; peak_vram_mb, max_memory_allocated, leaves it out)
}
FLOPS = {  # effective training FLOP/s per device, for the default throughput when no CPU probe is given
    "cpu": 158e9,  # measured: SmolLM2-135M LoRA at 1024 tokens, 287 tokens/s of training (129,823 tokens in
    # 515 s wall less 81 s of evaluations and saves, 2026-11-30, per-conversation attention + bf16 autocast)
    # x 548 MFLOP/token as counted by _flops_per_token (112e9 before those two changes), on an AVX-512 +
    # native-bf16 CPU: an AVX2 CPU runs at a fraction of it (fp32), so prefer the probe (CPU_EFFICIENCY)
    "cuda": 10e12,  # assumed, conservative: ~15 % of a T4's 65 bf16/fp16 TFLOP/s, a few % of an A100/H100's
}
CPU_EFFICIENCY = {  # effective training FLOP/s / the matmul probe's GFLOP/s (tunepilot.precision.matmul_probe),
    # SmolLM2-135M LoRA r16 attn+mlp at 1024 tokens, 20 steps, measured 2026-12-01 on 2 cores of an AMD EPYC
    # (benchmarks/estimate_vs_measured.py; README "Estimate vs measured"):
    "bf16": 0.44,  # native bf16 (AVX512): probe 412 GFLOP/s, 335 tokens/s over 20 steps -> 0.445 (0.433 with
    # gradient checkpointing)
    "fp32": 0.65,  # oneDNN capped to AVX2 (no native bf16), the mean of two runs: the default run (`make demo`,
    # 51 steps, 198 tokens/s over its steps, probe 194 GFLOP/s -> 0.56) and estimate_vs_measured (20 steps,
    # 184 tokens/s, probe 136 -> 0.74). The probe varied 136-194 GFLOP/s between runs on this shared VM while
    # training stayed at 184-198 tokens/s: the probe is the first run's prior; the memory store's measured
    # tokens/s replaces it from the second run on
}
QLORA_SPEED = {"cpu": 0.4, "cuda": 0.7}  # nf4 dequantisation per matmul (assumed; bitsandbytes' CPU path is slow)
MULTI_GPU_EFFICIENCY = 0.9  # DDP all-reduce of the gradients (assumed)
EVAL_OVERHEAD = 0.19  # measured: 81 s of evaluations and saves on 434 s of steps (val = 1/8 of train, every 20 steps)
PACK_FILL = 0.94  # measured: 100,017 tokens in 104 packed rows of 1024
ALLOC_K = {  # CPU heap left fragmented inside one backward, x the attention scores of its tokens (all layers,
    # fp32). The training child hands the heap's free pages back after every micro-step (no growth over a run)
    # and, in fp32, adds LoRA's update in place (tools/fused_lora.py: 550 MB less fragmentation at 1024 tokens).
    # Fitted 2026-12-03 on an Intel Xeon (AVX-512, no bf16 instructions), fp32, SmolLM2 LoRA r16 attn+mlp,
    # 64 conversations (longest 737 tokens), one epoch: chunks of 512 -> 2,626 MB, whole rows of 1024 ->
    # 3,112 MB; 0.12 gives -2.1 % and +1.4 %.
    "fp32": 0.12,
    "bf16": 0.75,  # not re-measured: bf16 runs LoRA under autocast, where the fused update does not apply;
    # the old bf16 fit (0.85 x ln(micro / 2.5)) at its short-run calibration point (6 micro-batches, 3,037 MB)
}
LOGIT_BYTES = {"cpu": 14, "cuda": 16}  # per kept position and vocab entry: bf16 logits, fp32 upcast,
# log-softmax saved, its gradient; TRL's GPU path adds fp32 entropy/accuracy metrics
TARGETS = {"attn": ("q", "k", "v", "o"), "attn+mlp": ("q", "k", "v", "o", "gate", "up", "down")}


def model_shape(model_path: str | Path) -> dict:
    """The fields of config.json the estimate needs."""
    c = json.loads((Path(model_path).expanduser() / "config.json").read_text())
    heads = c["num_attention_heads"]
    return {"hidden": c["hidden_size"], "ffn": c["intermediate_size"], "layers": c["num_hidden_layers"],
            "heads": heads, "kv_heads": c.get("num_key_value_heads") or heads, "vocab": c["vocab_size"],
            "head_dim": c.get("head_dim") or c["hidden_size"] // heads,
            "tied": c.get("tie_word_embeddings", True)}  # transformers' default is tied


def linears(s: dict) -> dict[str, tuple[int, int]]:
    """(in, out) features of each linear of one decoder layer."""
    h, q, kv, f = s["hidden"], s["heads"] * s["head_dim"], s["kv_heads"] * s["head_dim"], s["ffn"]
    return {"q": (h, q), "k": (h, kv), "v": (h, kv), "o": (q, h), "gate": (h, f), "up": (h, f), "down": (f, h)}


def param_counts(s: dict) -> dict[str, int]:
    """Parameters by part (no biases: Llama-style models have none)."""
    h, L, V = s["hidden"], s["layers"], s["vocab"]
    layer = sum(i * o for i, o in linears(s).values())
    return {"embed": V * h, "layers": L * (layer + 2 * h), "norm": h, "lm_head": 0 if s["tied"] else V * h}


def adapter_params(s: dict, rank: int, targets: str) -> int:
    """LoRA A (rank x in) and B (out x rank) of every targeted linear of every layer."""
    lin = linears(s)
    return s["layers"] * sum(rank * (lin[t][0] + lin[t][1]) for t in TARGETS[targets])


def _w(precision: str) -> int:
    """Bytes per element of the compute dtype: fp32 where the device has no native bf16."""
    return 4 if precision == "fp32" else 2


def activation_bytes_per_token_layer(s: dict, method: str, targets: str, rank: int, w: int = 2,
                                     lora_in: int = 4) -> int:
    """Saved for backward per token and decoder layer (w = bytes of the compute dtype): RMSNorms keep an
    fp32 copy of their input; linears their (shared) input; attention q, k, v, output; the SwiGLU MLP
    gate, silu, up and product; PEFT casts each adapter's input to the adapter's fp32 (one copy per adapter,
    lora_in = 4 bytes; under the GPU's bf16 autocast the matmul keeps a w-byte copy instead) and keeps the
    rank-wide A output. Counted from the autograd graph; SmolLM2 on CPU measures 0.93x this (38.6 KB per
    token and layer: one forward/backward at 1024 tokens with 30 vs 15 layers)."""
    h, q, kv, f = s["hidden"], s["heads"] * s["head_dim"], s["kv_heads"] * s["head_dim"], s["ffn"]
    base = 2 * 4 * h + w * (3 * h + q + 2 * kv) + w * 4 * f  # norms; attn/o/mlp inputs, q, k, v; mlp, down input
    if method == "full":
        return base
    lin = linears(s)
    return base + sum(lora_in * lin[t][0] + 4 * rank for t in TARGETS[targets])


def _flops_per_token(s: dict, cfg: TrainingConfig, n_params: int, device: str, trained_fraction: float) -> float:
    """Forward 2N, backward 2N for input gradients (+2N weight gradients for full), a second forward with
    gradient checkpointing; attention 2 x T x hidden per layer forward (causal half of QK^T and AV)."""
    p = param_counts(s)
    head_share = trained_fraction if device == "cpu" else 1.0  # CPU trainer: LM head at trained positions only
    n = n_params - p["embed"] - p["lm_head"] + s["vocab"] * s["hidden"] * head_share
    attn = 2 * _seq(cfg, device) * s["hidden"] * s["layers"]
    passes = (3 if cfg.method == "full" else 2) + (1 if cfg.gradient_checkpointing else 0)
    return passes * 2 * n + (3 + cfg.gradient_checkpointing) * attn


def _seq(cfg: TrainingConfig, device: str) -> int:
    """Tokens one attention call sees: padding-free packing flattens a CPU micro-batch into one row."""
    return _batch(cfg, device) * cfg.max_length if device == "cpu" else cfg.max_length


def _batch(cfg: TrainingConfig, device: str) -> int:
    return cfg.batch_size or (1 if device == "cpu" else 4)  # tools/train.py's defaults


def backward_tokens(cfg: TrainingConfig, device: str, longest_example: int | None = None) -> int:
    """Tokens whose activations one backward holds: a GPU micro-batch; on CPU the largest
    conversation-aligned chunk of a packed row (tools/cpu_trainer.py): the chunk budget, or the longest
    example where that is longer (it is never cut). Unknown longest example: the whole row."""
    row = _batch(cfg, device) * cfg.max_length
    if device != "cpu" or not cfg.packing:
        return row
    budget = min(cfg.chunk_tokens or CPU_CHUNK_TOKENS, row)
    return row if longest_example is None else min(row, max(budget, longest_example))


def estimate(model_path: str | Path, cfg: TrainingConfig, *, n_train_tokens: int, trained_fraction: float = 0.15,
             device: str = "cpu", gpus: int = 0, tokens_per_s: float | None = None,
             runtime_overhead_gb: float | None = None, basis: str | None = None, precision: str = "bf16",
             cpu_probe: dict | None = None, longest_example: int | None = None) -> Resources:
    """Time, peak memory (host RAM on CPU, per GPU on CUDA) and storage of training `cfg` on the model in
    `model_path` over n_train_tokens (all tokens of the train split, trained or masked).

    tokens_per_s: wall-clock tokens/s as a previous run's result.json reports it (its evaluations included);
    None: the device's FLOP/s / FLOPs per token, plus EVAL_OVERHEAD, where a CPU's FLOP/s is its matmul
    probe (`cpu_probe`, tunepilot.precision.matmul_probe) in `precision` x CPU_EFFICIENCY, else FLOPS[device].
    precision: the resolved compute dtype (tunepilot.precision.choose_precision(...).dtype): bf16/fp16 or
    fp32 weights and activations. runtime_overhead_gb: the process baseline, measured (memory store);
    None: RUNTIME_GB[device]. basis: where tokens_per_s came from. longest_example: tokens of the
    data's longest example (its metadata), which bounds a CPU backward's chunk from below."""
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device={device!r}: expected 'cpu' or 'cuda'")
    s = model_shape(model_path)
    parts = param_counts(s)
    n_params = sum(parts.values())
    procs = max(1, gpus) if device == "cuda" else 1
    bs = _batch(cfg, device)
    tokens_mb = bs * cfg.max_length  # tokens of one micro-batch (per process)
    tokens_bw = backward_tokens(cfg, device, longest_example)  # of them, what one backward holds

    # memory: weights, adapter, gradients, optimizer
    w = _w(precision)
    gb = {}
    if cfg.method == "qlora":  # nf4 decoder linears: 0.5 B + double-quant constants; the rest (embeddings,
        quant = parts["layers"] - s["layers"] * 2 * s["hidden"]  # norms) prepare_model_for_kbit_training makes fp32
        gb["weights"] = (quant * (0.5 + 1 / 64 + 4 / (64 * 256)) + (n_params - quant) * 4) / GiB
    else:
        gb["weights"] = n_params * w / GiB
    if cfg.method == "full":  # trains in the model dtype: AdamW keeps exp_avg, exp_avg_sq in it too
        n_adapter = 0
        gb |= {"adapter": 0.0, "gradients": n_params * w / GiB, "optimizer": 2 * n_params * w / GiB}
    else:  # PEFT upcasts the adapter to fp32
        n_adapter = adapter_params(s, cfg.rank, cfg.targets)
        gb |= {"adapter": n_adapter * 4 / GiB, "gradients": n_adapter * 4 / GiB, "optimizer": 2 * n_adapter * 4 / GiB}

    # activations of one micro-batch: every layer's, or with checkpointing each layer's input + one layer's
    per_layer = activation_bytes_per_token_layer(s, cfg.method, cfg.targets, cfg.rank, w, 4 if device == "cpu" else w)
    per_layer *= tokens_bw
    if cfg.gradient_checkpointing:
        acts = s["layers"] * tokens_bw * s["hidden"] * w + 2 * per_layer  # recompute + its gradients
    else:
        acts = s["layers"] * per_layer
    gb["activations"] = acts / GiB
    kept = trained_fraction * tokens_bw if device == "cpu" else tokens_mb
    gb["logits"] = kept * s["vocab"] * (LOGIT_BYTES[device] - 2 * (w == 4 and device == "cpu")) / GiB  # fp32:
    # the logits are already fp32 (no upcast copy): 4 + 4 saved log-softmax + 4 gradient
    gb["runtime"] = RUNTIME_GB[device] if runtime_overhead_gb is None else runtime_overhead_gb

    # length of the run: max_steps overrides epochs (the trainer then runs exactly that many steps)
    if cfg.max_steps:
        micro = cfg.max_steps * cfg.grad_accum  # per process
        tokens = micro * procs * tokens_mb * PACK_FILL
    else:
        rows = math.ceil(n_train_tokens / (cfg.max_length * PACK_FILL))
        micro = max(1, math.ceil(cfg.epochs * math.ceil(rows / (bs * procs))))
        tokens = n_train_tokens * cfg.epochs
    if device == "cpu":  # the heap's fragmentation inside one micro-step (ALLOC_K)
        scores = s["heads"] * tokens_bw * tokens_bw * 4 * s["layers"]
        gb["allocator"] = ALLOC_K["fp32" if w == 4 else "bf16"] * scores / GiB
    peak = sum(gb.values())

    # time
    if tokens_per_s is None:
        probed = device == "cpu" and cpu_probe is not None and cpu_probe.get(f"{precision}_gflops")
        flops = cpu_probe[f"{precision}_gflops"] * 1e9 * CPU_EFFICIENCY[precision] if probed else FLOPS[device]
        rate = flops * procs * (MULTI_GPU_EFFICIENCY if procs > 1 else 1.0)
        rate *= QLORA_SPEED[device] if cfg.method == "qlora" else 1.0
        tokens_per_s = rate / _flops_per_token(s, cfg, n_params, device, trained_fraction)
        time_s = tokens / tokens_per_s * (1 + EVAL_OVERHEAD)
        if probed:
            src = (f"{device} rate {flops / 1e9:.0f} GFLOP/s = this CPU's {precision} matmul probe "
                   f"{cpu_probe[f'{precision}_gflops']:.0f} GFLOP/s x {CPU_EFFICIENCY[precision]} "
                   f"({cpu_probe.get('key', 'this CPU')})")
        else:
            src = (f"default {device} rate {FLOPS[device] / 1e9:.0f} GFLOP/s "
                   + ("(measured on one AVX-512 bf16 CPU, 2 cores; no probe of this CPU)" if device == "cpu" else
                      "(assumed, conservative; no GPU measured)"))
        basis = basis or (src + f" -> {tokens_per_s:.0f} tokens/s for {n_params / 1e6:.0f} M parameters in "
                          f"{precision}, +{EVAL_OVERHEAD:.0%} evaluation")
    else:
        time_s = tokens / tokens_per_s
        basis = basis or f"given throughput {tokens_per_s:.0f} tokens/s"

    # storage: final adapter (or model) + save_total_limit 2 checkpoints with their optimizer state
    tok_file = Path(model_path).expanduser() / "tokenizer.json"
    tok_gb = tok_file.stat().st_size / GiB if tok_file.exists() else 0.0
    if cfg.method == "full":
        storage = n_params * w * (1 + 2 * 3) / GiB + 3 * tok_gb
    else:
        storage = n_adapter * 4 * (1 + 2 * 3) / GiB + 3 * tok_gb

    where = "(host RAM, CPU-only)" if device == "cpu" else "per GPU (incl. CUDA context)"
    return Resources(
        training_time=_human_time(time_s), gpu_memory=f"{_human_gb(peak)} {where}", storage=_human_gb(storage),
        training_time_s=round(time_s, 1), peak_memory_gb=round(peak, 3), storage_gb=round(storage, 4),
        device=device, breakdown_gb={k: round(v, 4) for k, v in gb.items()},
        basis=f"{basis}; {micro} micro-batches of {tokens_mb} tokens"
              + (f" (backward in chunks of <= {tokens_bw})" if tokens_bw < tokens_mb else "") + f", {tokens:.0f} tokens")


def _human_time(s: float) -> str:
    return f"{s:.0f} s" if s < 60 else f"{s / 60:.1f} min" if s < 3600 else f"{s / 3600:.1f} h"


def _human_gb(g: float) -> str:
    return f"{g * 1024:.0f} MB" if g < 1 else f"{g:.1f} GB"
