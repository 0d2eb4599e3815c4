"""The training config: one typed model, one name per field, every default in one place.

The request (`Request.training_config`), the planners, the playbook and the fault ladder
(tunepilot/rules.py), the memory store, `train.sh` and the training child all use this model;
the train tool's `TrainSpec` is this model plus where to read and write. A rule changes it with
`model_copy(update=...)`; `tests/test_rules.py` asserts every field a rule names is a field here.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

CPU_CHUNK_TOKENS = 512  # measured: benchmarks/train_throughput.py, README "Where the memory goes"
DEFAULT_LR = {"lora": 1e-3, "qlora": 1e-3, "full": 2e-5}  # small models take a high LoRA rate; full needs a gentle one


class TrainingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: Literal["lora", "qlora", "full"] = "lora"  # qlora = nf4 + double quant base (bitsandbytes)
    epochs: float = Field(1.0, gt=0, le=5, description="epochs")  # seed 004: at most 5; ignored when max_steps is set
    max_steps: int | None = Field(None, ge=1, le=1_000_000, description="optimizer steps")  # overrides epochs (short runs, tests)
    batch_size: int | None = Field(None, ge=1, le=1024, description="sequences per micro-batch")  # packed sequences per micro-batch; None: 1 on CPU (padding-free
    # packing flattens a batch into one row; on 2 cores a 2048-token row cost 12 % more per token than two of
    # 1024), 4 on GPU
    grad_accum: int = Field(2, ge=1, le=1024, description="micro-batches per step")  # effective batch = batch_size x grad_accum x processes
    learning_rate: float | None = Field(None, gt=0, le=100, description="per step (a LoRA rate is ~1e-4 to 1e-3)")  # None: DEFAULT_LR by method
    rank: int = Field(16, ge=1, le=1024, description="LoRA rank")  # r=16 is seed 004's choice for a few hundred examples
    alpha: int | None = Field(None, ge=1, le=4096, description="LoRA alpha")  # None: 2 x rank
    dropout: float = Field(0.0, ge=0, lt=1)  # 0 is common (seed 002) and ~30 % faster on CPU
    targets: Literal["attn", "attn+mlp"] = "attn+mlp"  # attention (q,k,v,o) or + MLP (gate,up,down)
    max_length: int = Field(1024, ge=32, le=131_072, description="tokens")  # packed sequence length in tokens
    packing: bool = True  # False: pad each batch instead (slower)
    chunk_tokens: int | None = Field(None, ge=16, le=131_072, description="tokens")  # CPU: each packed row's
    # gradient in conversation-aligned chunks of at most this many tokens (the same gradient; activation memory
    # follows the chunk, not max_length); None: CPU_CHUNK_TOKENS. GPUs run whole rows
    warmup_ratio: float = Field(0.03, ge=0, lt=1, description="fraction of steps")  # seed 002: warmup 3 %
    weight_decay: float = Field(0.01, ge=0, le=1)  # seed 001
    max_grad_norm: float = Field(1.0, gt=0, le=1000)  # gradient clipping
    eval_steps: int = Field(20, ge=1, le=1_000_000, description="optimizer steps")  # val loss + checkpoint every N steps (what resume restarts from)
    early_stopping_patience: int = Field(2, ge=1, le=100, description="evaluations")  # stop when val loss fails to improve N evals in a row (seed 004)
    logging_steps: int = Field(1, ge=1, le=100_000, description="optimizer steps")
    save_total_limit: int = Field(2, ge=1, le=100, description="checkpoints")
    seed: int = Field(0, ge=0, le=2**32 - 1)
    precision: Literal["auto", "bf16", "fp16", "fp32"] = "auto"  # auto: by what the device can do
    # (tunepilot/precision.py: bf16 where native, fp16 on GPUs without bf16, fp32 on CPUs without native bf16)
    gradient_checkpointing: bool = False  # ~40 % less activation memory, ~25 % slower
    optim: str = "adamw_torch"  # HF optimizer name; the OOM ladder may pick paged_adamw_8bit on CUDA
    memory_limit_gb: float | None = Field(None, gt=0, le=65_536, description="GB")  # cap the training child's address space (RLIMIT_AS)
    deepspeed_offload: bool = False  # ZeRO offload (the OOM ladder's last step; needs deepspeed: issue 18)
    report_to: Literal["tensorboard", "wandb", "mlflow", "none"] = "tensorboard"  # the trainer's standard
    # integrations; TensorBoard event files land in the iteration's train/tensorboard/ (wandb, mlflow: extras)
    mix_general: float = Field(0.0, ge=0, lt=1, description="fraction of examples")  # share of general data mixed in (needs a general corpus)

    def resolved(self) -> "TrainingConfig":
        """Defaults that depend on other fields filled in (learning rate by method)."""
        return self if self.learning_rate is not None else \
            self.model_copy(update={"learning_rate": DEFAULT_LR[self.method]})


FIELDS = frozenset(TrainingConfig.model_fields)
