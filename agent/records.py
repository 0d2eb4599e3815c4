"""The typed inputs and outputs of the toolbox's tools: what the planners send, what the journal records.

A tool's output model is what its "tool" event carries (agent/events.py) and what the run state
(agent/state.py) folds back on replay; the LLM planner sees these models' fields and docstrings.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from tunepilot import TunepilotError


class Stopped(TunepilotError):
    """A tool refused to start: the run must stop (the planners end with their last decision)."""


class BudgetExceeded(Stopped):
    pass


class Rejected(Stopped):
    """A person rejected the run while it was going (`tunepilot reject` from another terminal)."""


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataArgs(_Args):
    """Make the training data. Omitted fields keep the request's values."""

    n_examples: int | None = Field(None, ge=10, le=20000)  # examples to generate (80/10/10 split)
    seed: int | None = None


class DataSummary(BaseModel):
    path: str
    splits: dict[str, int]
    mean_tokens: float
    rejected: dict[str, int]
    max_tokens: int | None = None  # the longest example: a CPU backward holds at least that (chunk_tokens)


class TrainArgs(_Args):
    """Train one iteration. Omitted fields keep the current config (the request's, then each
    iteration's changes)."""

    epochs: float | None = Field(None, gt=0, le=5)
    rank: int | None = Field(None, ge=1, le=256)
    targets: str | None = Field(None, pattern="^(attn|attn\\+mlp)$")
    learning_rate: float | None = Field(None, gt=0, lt=1)
    batch_size: int | None = Field(None, ge=1)
    max_steps: int | None = Field(None, ge=1)


class TrainSummary(BaseModel):
    iteration: int
    adapter: str | None
    steps: int
    train_loss: float | None
    eval_loss: float | None
    tokens_per_s: float | None
    peak_memory_gb: float
    wall_s: float
    stopped_early: bool
    signals: list[str]  # underfit (val loss still falling) / overfit (val loss rose)
    estimate: dict  # what the estimator said before, and its error in percent
    precision: str | None = None  # the dtype trained in and why (tunepilot/precision.py)
    config: dict | None = None  # the TrainingConfig that trained (the fault ladder's fixes included)
    fixes: list[dict] = []  # fault ladder steps applied: {fault, id, changes}


class EvalArgs(_Args):
    """Evaluate the latest adapter on the held-out test split (never trained on)."""

    limit: int | None = Field(None, ge=1)


class EvalSummary(BaseModel):
    iteration: int
    success_rate: float
    latency_avg_s: float
    latency_p95_s: float
    memory_gb: float
    per_role: dict[str, float | None]
    failures: dict[str, int]
    general_probe: float | None = None  # 20 general questions: forgetting check against the base
    base: dict | None  # the untuned model on the same items (first evaluation of a run)
    comparison: dict | None
    report: str
    wall_s: float | None = None  # how long the evaluation took (what the budget check expects of the next one)
    precision: str | None = None  # the dtype generated in and why
    base_reused_from: str | None = None  # the base report was reused from this cache file (tools/eval_cache.py)
    suites: dict[str, dict] = {}  # third-party suite -> items, base, tuned, diff, diff_ci95, mcnemar_p
    items: int | None = None  # test items scored (what the success rate's interval is worth)


class ExportArgs(_Args):
    """Export the latest adapter for deployment: merge, GGUF, seed 004's quant ladder (Q4_K_M, then
    Q5_K_M, then Q8_0 while success drops beyond the margin), each verified in llama.cpp on the
    same test items. Afterwards the decision is judged on the exported model."""

    limit: int | None = Field(None, ge=1)  # test items scored per quant level (default: the evaluation's)


class ExportSummary(BaseModel):
    iteration: int
    quant: str
    gguf: str
    modelfile: str
    folder: str
    success_rate: float
    latency_avg_s: float  # through `tunepilot serve` over HTTP when measured (what a client sees), else in-process
    latency_p95_s: float
    memory_gb: float  # what the GGUF adds in llama.cpp: weights touched, KV cache, buffers
    per_role: dict[str, float | None]
    failures: dict[str, int]
    template_ok: bool
    ladder: list[dict]
    report: str
    wall_s: float | None = None
    http: dict | None = None  # the chosen GGUF through `tunepilot serve`: success, latency avg/p50/p95, items
    latency_source: str = "llama.cpp in-process"
