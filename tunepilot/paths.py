"""Where tunepilot keeps things. TUNEPILOT_HOME moves the cache (tests point it at a temp dir)."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """Cache root: materialised models live here. Default ~/.cache/tunepilot."""
    return Path(os.environ.get("TUNEPILOT_HOME", Path.home() / ".cache" / "tunepilot"))


def repo_root() -> Path:
    return Path(__file__).resolve().parents[1]


def prompts_dir() -> Path:
    return repo_root() / "prompts"
