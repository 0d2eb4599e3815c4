"""Tool: generate a synthetic agentic tool-use dataset for coding agents.

    tunepilot data generate --out data/agentic --n 300 --seed 0
    tunepilot data import conversations.jsonl --format sharegpt --out data/mine

Two sources feed one record format (tunepilot/chat.py): coding tasks in four roles whose tool
calls really run against a sandboxed project (tools/data/sandbox.py, tasks.py), and
schema-diverse executable APIs (tools/data/apis.py) that teach argument fidelity on unseen
tools. Every record passes the same validators, whatever the teacher (tools/data/validate.py).
"""

from __future__ import annotations

import json
import random
import tempfile
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from tunepilot.tools.data import teachers
from tunepilot.tools.data.io import claim_dataset, split_by_role, write_splits
from tunepilot.tools.data.isolation import isolation
from tunepilot.tools.data.sandbox import Sandbox
from tunepilot.tools.data.validate import (MAX_VALUE_SHARE, ContaminationGuard, Deduper, ValueShare, call_errors,
                                          count_by, stats, token_length, tool_schema_errors)
from tunepilot import TunepilotError
from tunepilot.models import DEFAULT_MODEL
from tunepilot.redact import no_userinfo

ROLE_MIX = {"coder": 0.58, "tester": 0.26, "researcher": 0.09, "coordinator": 0.07}  # seed 004's task split
# Shapes of the API examples (tools/data/apis.py single; tools/data/compose.py the rest): one call;
# one tool several times in a turn; several tools in a turn; a step that needs the previous result;
# a value the stated date/place resolves; a fact from an earlier turn; no offered tool fits.
API_SHAPES = {"single": 0.4, "parallel": 0.28, "multi_call": 0.08, "chain": 0.04, "context": 0.02, "carry": 0.02,
              "irrelevant": 0.16}



class DatasetSpec(BaseModel):
    """What to generate. Fields map to `tunepilot data generate` flags."""

    model_config = ConfigDict(extra="forbid")

    out: Path  # --out: output folder (train/val/test.jsonl + metadata.json)
    n: int = Field(300, ge=10, le=1_000_000)  # --n: examples before the 80/10/10 split
    seed: int = Field(0, ge=0, le=2**32 - 1)  # --seed: same seed -> same bytes (template teacher)
    teacher: Literal["template", "openai", "self"] = "template"  # --teacher
    role_mix: dict[str, float] = Field(default_factory=lambda: dict(ROLE_MIX))
    api_fraction: float = Field(0.55, ge=0, le=1)  # share of schema-diverse API examples: argument fidelity on unseen tools
    api_shapes: dict[str, float] = Field(default_factory=lambda: dict(API_SHAPES))  # how those API examples are shaped
    no_tool_fraction: float = Field(0.1, ge=0, le=1)  # answer directly, call nothing
    ask_fraction: float = Field(0.06, ge=0, le=1)  # a required argument is missing: ask for it
    code_fraction: float = Field(0.06, ge=0, le=1)  # write a function: code in a ```python block (coding retention)
    model: str = DEFAULT_MODEL  # --model: its tokenizer enforces max_tokens
    max_tokens: int = Field(768, ge=64, le=131_072)  # records longer than this (rendered) are rejected
    near_dup_threshold: float = Field(0.9, gt=0, le=1)  # Jaccard of user-text 3-grams, same calls
    base_url: Annotated[str | None, AfterValidator(no_userinfo)] = None  # --base-url: OpenAI-compatible endpoint for
    # teacher=openai (the key comes from $OPENAI_API_KEY, never from the URL)
    teacher_model: str = "gpt-4o-mini"  # --teacher-model
    allow_unisolated_exec: bool = False  # --allow-unisolated-exec: run a remote teacher's code without namespaces

    @field_validator("role_mix")
    @classmethod
    def _mix(cls, v):
        if set(v) - set(ROLE_MIX) or not v or abs(sum(v.values()) - 1) > 1e-6:
            raise ValueError(f"role_mix: roles from {sorted(ROLE_MIX)} with shares summing to 1")
        return v

    @field_validator("api_shapes")
    @classmethod
    def _shapes(cls, v):
        if set(v) - set(API_SHAPES) or not v or abs(sum(v.values()) - 1) > 1e-6 or min(v.values()) < 0:
            raise ValueError(f"api_shapes: shapes from {sorted(API_SHAPES)} with shares summing to 1")
        return v


class DatasetCard(BaseModel):
    """What was written: paths, split sizes and the metadata summary."""

    out: Path
    splits: dict[str, int]
    rejected: dict[str, int]
    content_hash: str
    metadata: dict


def generate_dataset(spec: DatasetSpec, progress=None) -> DatasetCard:
    """Generate synthetic tool-use conversations (coder/tester/researcher/coordinator roles, single- and
    multi-step, direct answers and clarifying questions), validate them, split 80/10/10 by role, write."""
    from tunepilot.models import load_tokenizer, resolve_model

    claim_dataset(spec.out)  # a folder that is not ours is refused before any work, not after it
    rng = random.Random(spec.seed)
    tokenizer = load_tokenizer(resolve_model(spec.model))
    teacher = teachers.make(spec)
    dedup = Deduper(spec.near_dup_threshold)
    guard = ContaminationGuard()
    shares = ValueShare(spec.n)
    rejected: dict[str, int] = {}
    records: list[dict] = []
    lengths: list[int] = []
    with tempfile.TemporaryDirectory() as tmp:
        isolated = isolation().namespaces
        remote = spec.teacher != "template"  # the calls (and the code in them) come from an endpoint or a model
        sb = Sandbox.create(Path(tmp) / "project", random.Random(spec.seed),
                            allow_exec=not remote or isolated or spec.allow_unisolated_exec)
        attempts = 0
        while len(records) < spec.n:
            attempts += 1
            if attempts > spec.n * 5:
                raise TunepilotError(f"teacher={spec.teacher}: only {len(records)}/{spec.n} valid records after "
                                     f"{attempts - 1} attempts; rejections: {rejected}")
            role = rng.choices(list(spec.role_mix), weights=list(spec.role_mix.values()))[0]
            kind = _kind(rng, spec)
            record, reason = teacher.sample(sb, rng, role, kind)
            reason = reason or shares.check(record) or _check(record, dedup, guard)
            if reason is None:
                n_tok = token_length(record, tokenizer)
                if n_tok > spec.max_tokens:
                    reason = "too_long"
            if reason:
                rejected[reason] = rejected.get(reason, 0) + 1
                continue
            shares.add(record)
            record["id"] = f"{spec.seed}-{len(records):05d}"
            records.append(record)
            lengths.append(n_tok)
            if progress:
                progress(len(records), spec.n)
    splits = split_by_role(records, random.Random(spec.seed))
    meta = {
        "seed": spec.seed, "teacher": spec.teacher, "n": len(records), "splits": {k: len(v) for k, v in splits.items()},
        "by_role": count_by(records, lambda r: [r["meta"]["agent_role"]]),
        "by_kind": count_by(records, lambda r: [r["meta"]["kind"]]),
        "by_steps": count_by(records, lambda r: [str(r["meta"]["steps"])]),
        "by_tool": count_by(records, lambda r: [c["function"]["name"] for m in r["messages"] for c in m.get("tool_calls") or []]),
        "distinct_tools_offered": len({t["function"]["name"] for r in records for t in r["tools"]}),
        "contamination": guard.report(records),
        "argument_values": {"max_share": MAX_VALUE_SHARE, "most_common": shares.top(len(records))},
        "tokens": stats(lengths), "tokenizer": spec.model, "rejected": dict(sorted(rejected.items())),
        "attempts": attempts, "spec": json.loads(spec.model_dump_json()),
        "execution": isolation().summary() | {"code_from_teacher": "run" if sb.allow_exec else "refused"},
    }
    digest = write_splits(spec.out, splits, meta)
    return DatasetCard(out=spec.out, splits=meta["splits"], rejected=meta["rejected"], content_hash=digest, metadata=meta)


def _kind(rng: random.Random, spec: DatasetSpec) -> str:
    r = rng.random()
    if r < spec.no_tool_fraction:
        return "no_tool"
    if r < spec.no_tool_fraction + spec.ask_fraction:
        return "ask"
    if r < spec.no_tool_fraction + spec.ask_fraction + spec.code_fraction:
        return "code"
    if rng.random() >= spec.api_fraction:
        return "task"
    return "api:" + rng.choices(list(spec.api_shapes), weights=list(spec.api_shapes.values()))[0]


def _check(record: dict, dedup: Deduper, guard: ContaminationGuard) -> str | None:
    if tool_schema_errors(record):  # a tool's parameters are not valid JSON Schema: would crash evaluation
        return "tool_schema_invalid"
    if call_errors(record):
        return "schema_invalid"
    return guard.check(record) or dedup.check(record)


def import_dataset(path: Path, fmt: str, out: Path, seed: int = 0) -> DatasetCard:
    """Convert a user's alpaca/sharegpt/openai/chatml file into our format and split it 80/10/10."""
    from tunepilot.tools.data.importers import import_file

    claim_dataset(out)  # a folder that is not ours is refused before the file is read
    records = import_file(path, fmt)  # raises file:line: reason before anything is written
    for r in records:
        r["meta"].setdefault("agent_role", "imported")
    splits = split_by_role(records, random.Random(seed))
    meta = {"source": str(path), "format": fmt, "n": len(records), "splits": {k: len(v) for k, v in splits.items()},
            "by_kind": count_by(records, lambda r: [r["meta"]["kind"]]), "seed": seed}
    digest = write_splits(out, splits, meta)
    return DatasetCard(out=out, splits=meta["splits"], rejected={}, content_hash=digest, metadata=meta)


