"""What a decision judged, by content: sha256 of every artifact a deployment would ship.

The decision event records these hashes; `approve` deploys only when the files still hash the same
(an adapter retrained, a GGUF swapped or a path edited after the decision is refused), and the
bundle's SHA256SUMS are checked against them before the approval is journaled.
"""

from __future__ import annotations

import hashlib
from pathlib import Path


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def artifacts(adapter: str | None, export: dict | None) -> list[Path]:
    """The files a deployment ships: the adapter folder's files, and the chosen GGUF and its Modelfile."""
    files = sorted(p for p in Path(adapter).rglob("*") if p.is_file()) if adapter and Path(adapter).is_dir() else []
    if export:
        files += [Path(export["gguf"]), Path(export["modelfile"])]
    return files


def hashes(files: list[Path]) -> dict[str, str]:
    return {str(p): sha256(p) for p in files}


def mismatches(evidence: dict[str, str]) -> list[str]:
    """Artifacts that are gone or changed since they were hashed."""
    out = []
    for path, digest in evidence.items():
        p = Path(path)
        if not p.is_file():
            out.append(f"{path}: missing")
        elif sha256(p) != digest:
            out.append(f"{path}: changed since the decision (sha256 {digest[:12]}… -> {sha256(p)[:12]}…)")
    return out
