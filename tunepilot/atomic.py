"""Durable, atomic file writes: a reader or a crash sees the old file or the new one, never half of one,
and a renamed file survives a power cut (file and folder fsynced)."""

from __future__ import annotations

import json
import os
from pathlib import Path


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_text(path: Path, text: str) -> None:
    path = Path(path)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.partial")  # two writers never share a temp file
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def write_json(path: Path, obj) -> None:
    """A JSON record: credentials masked (tunepilot/redact.py), then written atomically."""
    from tunepilot.redact import redact

    write_text(path, json.dumps(redact(obj), indent=2, default=str) + "\n")
