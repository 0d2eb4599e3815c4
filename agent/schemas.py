"""Typed request, plan and decision of a tunepilot run.

The request and plan follow seed 002's input/output schema (base_model, task_type, dataset,
training_config, hardware -> training_script, config_files, evaluation_plan,
estimated_resources) plus the goal, its criteria (seed 004's deploy / iterate / abort bands) and
a budget. `schemas/request.schema.json` and `schemas/plan.schema.json` are generated from these
models (`python -m tunepilot.agent.schemas --write`); a test keeps them in sync, and every request and
plan a run writes is validated against the files with jsonschema.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tunepilot.config import TrainingConfig  # noqa: F401 (re-exported: the request holds one)
from tunepilot.models import DEFAULT_MODEL

SCHEMA_DIR = Path(__file__).parent.parent / "schemas"  # tunepilot/schemas in a wheel


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DatasetRef(_Strict):
    """Where the training data comes from. No path: generate synthetic agentic data."""

    path: str | None = Field(None, max_length=4096, pattern=r"^[^\x00-\x1f\x7f]+$")  # a dataset folder
    # (train/val/test.jsonl) or a JSONL file to import; no control characters (it reaches train.sh, quoted)
    format: Literal["generate", "tunepilot", "openai", "alpaca", "sharegpt", "chatml"] = "generate"
    train_split: float = Field(0.8, gt=0, lt=1)
    eval_split: float = Field(0.1, gt=0, lt=1)
    n_examples: int = Field(300, ge=10, le=1_000_000, description="examples")  # generated examples (before the split)
    teacher: Literal["template", "openai", "self"] = "template"
    seed: int = Field(0, ge=0, le=2**32 - 1)

    @model_validator(mode="after")
    def _splits(self):
        if self.train_split + self.eval_split >= 1:
            raise ValueError("train_split + eval_split must leave room for a test split")
        if self.format != "generate" and not self.path:
            raise ValueError(f"format {self.format!r} needs a path")
        return self


class Hardware(_Strict):
    gpus: int = Field(0, ge=0, le=4096, description="GPUs")
    vram_per_gpu: str | None = Field(None, pattern=r"^\d{1,5}(\.\d+)?GB$")  # e.g. "24GB"
    cpus: int | None = Field(None, ge=1, le=65_536, description="CPU cores")
    ram_gb: float | None = Field(None, gt=0, le=1_000_000, description="GB")


class Criteria(_Strict):
    """Seed 004: deploy at success >= 98 %, avg latency < 12 s, memory <= 10 GB, no critical role
    regression; iterate at 95-97 % or 12-15 s; abort below 95 % or above 15 s."""

    min_success: float = Field(0.98, ge=0, le=1, description="fraction of items, 0-1 (98 % = 0.98)")
    iterate_success: float = Field(0.95, ge=0, le=1, description="fraction of items, 0-1")  # [iterate_success, min_success): iterate
    max_latency_s: float = Field(12.0, gt=0, le=3600, description="seconds per answer")
    iterate_latency_s: float = Field(15.0, gt=0, le=4500, description="seconds per answer")  # [max_latency_s, iterate_latency_s]: iterate
    max_memory_gb: float = Field(10.0, gt=0, le=65_536, description="GB")
    max_role_drop: float = Field(0.10, ge=0, le=1, description="fraction of items, 0-1")  # a role whose success falls this much below base is critical
    max_general_drop: float = Field(0.10, ge=0, le=1, description="fraction of items, 0-1")  # general probe
    # (20 questions) falls this much: forgetting
    max_suite_drop: float = Field(0.10, ge=0, le=1, description="fraction of items, 0-1")  # a third-party suite
    # (evaluation.suites) falls this much below base: a regression, deploy blocked

    @model_validator(mode="after")
    def _bands(self):
        if self.iterate_success > self.min_success:
            raise ValueError("iterate_success must be <= min_success")
        if self.iterate_latency_s < self.max_latency_s:
            raise ValueError("iterate_latency_s must be >= max_latency_s")
        return self


class Budget(_Strict):
    max_iterations: int = Field(3, ge=1, le=50, description="train-evaluate rounds")
    max_wall_s: float = Field(1800, gt=0, le=7 * 24 * 3600, description="seconds of wall time (at most a week)")


# The autopilot's third-party evidence by default: BFCL's simple and multiple-function calls, its
# irrelevance category (no call is right) and HumanEval (the coder's retention check).
DEFAULT_SUITES = ("bfcl:simple_python", "bfcl:multiple", "bfcl:irrelevance", "humaneval")


class EvalConfig(_Strict):
    limit: int | None = Field(30, ge=1, le=100_000, description="test items")  # test items scored per iteration
    compare_base: bool = True
    batch_size: int = Field(32, ge=1, le=1024, description="sequences per generation batch")  # generation batch (tools/evaluate.py EvalSpec.batch_size)
    export: bool = True  # judge the decision on the exported GGUF in llama.cpp (when llama.cpp is installed)
    suites: list[str] = Field(default_factory=lambda: list(DEFAULT_SUITES), max_length=16)  # third-party suites
    # scored base vs tuned each iteration (humaneval, bfcl:<category>); a drop beyond criteria.max_suite_drop
    # blocks deploy. [] turns them off
    suite_limit: int | None = Field(None, ge=1, le=100_000, description="items per suite and iteration")  # None:
    # sized to the budget (tools/suites.py suite_items), then the same items every iteration

    @field_validator("suites")
    @classmethod
    def _known(cls, v):
        from tunepilot.tools.bfcl import CATEGORIES

        known = {"humaneval", *(f"bfcl:{c}" for c in CATEGORIES)}
        bad = [s for s in v if s not in known]
        if bad:
            raise ValueError(f"unknown suite {bad[0]!r}; known: humaneval, bfcl:<{'|'.join(CATEGORIES)}>")
        return v


class Request(_Strict):
    """What the user asked for, typed."""

    goal: str = Field(max_length=20_000)
    base_model: str = Field(DEFAULT_MODEL, min_length=1, max_length=1024, pattern=r"^[^\x00-\x1f\x7f]+$")
    task_type: Literal["instruction", "chat", "classification", "generation"] = "chat"
    dataset: DatasetRef = Field(default_factory=DatasetRef)
    training_config: TrainingConfig = Field(default_factory=TrainingConfig)
    hardware: Hardware = Field(default_factory=Hardware)
    criteria: Criteria = Field(default_factory=Criteria)
    budget: Budget = Field(default_factory=Budget)
    evaluation: EvalConfig = Field(default_factory=EvalConfig)
    assumptions: list[str] = []  # every field the goal left unstated, with the default taken


class Resources(_Strict):
    training_time: str  # human: "9.2 min"
    gpu_memory: str  # human: "5.1 GB" (peak host RAM on CPU-only machines, said so)
    storage: str
    training_time_s: float
    peak_memory_gb: float
    storage_gb: float
    device: Literal["cpu", "cuda"]
    breakdown_gb: dict[str, float]  # weights, adapter, gradients, optimizer, activations, runtime
    basis: str  # where the throughput number came from (memory store or default table)


class EvaluationPlan(_Strict):
    split: str = "test"
    limit: int | None
    compare_base: bool
    suites: list[str] = []  # third-party suites, base vs tuned (the sample is sized when the evaluation runs)
    suite_limit: int | None = None
    metrics: list[str]
    criteria: Criteria


class DistributionPlan(_Strict):
    """How the iteration spreads over devices (agent/engines.py), on the request's hardware."""

    engine: Literal["single", "ddp", "zero2", "fsdp", "zero3_offload"]
    world_size: int
    per_device_gb: float  # estimated peak per GPU (host RAM on a CPU)
    host_gb: float  # host RAM for offloaded states, per machine
    fits: bool
    why: str
    changes: list[str] = []  # config changes made so it fits (gradient checkpointing, a smaller micro-batch)


class Plan(_Strict):
    """Seed 002's output: what one iteration will run, reproducibly."""

    iteration: int
    planner: str
    training_script: str  # runnable shell script: the exact command and config
    config_files: dict[str, dict]  # train.json, lora.json, accelerate.json
    evaluation_plan: EvaluationPlan
    estimated_resources: Resources
    distribution: DistributionPlan | None = None  # None: a CPU run in one process


Criterion = Literal["success", "latency", "memory", "regression", "template"]


class Decision(_Strict):
    action: Literal["deploy", "iterate", "abort"]
    reasons: list[str]  # each names the criterion and the numbers behind it
    failing: list[Criterion] = []  # the criteria that keep the run from deploying (what the playbook fixes)
    metrics: dict
    criteria: Criteria
    next_step: str | None = None  # iterate: the playbook action; abort: alternatives


MODELS = {"request": Request, "plan": Plan}


def schema_of(name: str) -> dict:
    return MODELS[name].model_json_schema()


def validate_file(name: str, path: Path) -> None:
    """Validate a written JSON file against the committed schema file (jsonschema)."""
    import jsonschema

    schema = json.loads((SCHEMA_DIR / f"{name}.schema.json").read_text())
    jsonschema.validate(json.loads(Path(path).read_text()), schema)


if __name__ == "__main__":
    if "--write" in sys.argv:
        SCHEMA_DIR.mkdir(exist_ok=True)
        for n in MODELS:
            (SCHEMA_DIR / f"{n}.schema.json").write_text(json.dumps(schema_of(n), indent=2, sort_keys=True) + "\n")
    else:
        print(json.dumps({n: schema_of(n) for n in MODELS}, indent=2))
