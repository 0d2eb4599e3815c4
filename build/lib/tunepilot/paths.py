"""Where tunepilot keeps things. TUNEPILOT_HOME moves the cache (tests point it at a temp dir)."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """Cache root: materialised models live here. Default ~/.cache/tunepilot."""
    return Path(os.environ.get("TUNEPILOT_HOME", Path.home() / ".cache" / "tunepilot"))


def package_dir() -> Path:
    """The installed package: prompts/, schemas/ and the tools' YAML and JSONL data ship inside it
    (in the repository these are links to the top-level folders)."""
    return Path(__file__).parent


def prompts_dir() -> Path:
    return package_dir() / "prompts"
