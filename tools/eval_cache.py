"""The base model's evaluation, computed once per (model, data, settings, machine) and reused.

    from tunepilot.tools.eval_cache import base_key, load_base, save_base
    key = base_key(model_path, items, val, spec, precision="fp32")
    report = load_base(key)          # an EvalReport dict, or None
    save_base(key, report)           # <TUNEPILOT_HOME>/cache/eval-base/<key>.json, atomic

A run scores its base model on the same items at every first iteration, and most runs of a user
share model and data: the untuned model's answers (and its latency on this machine) do not change
between them. The key hashes everything the base report depends on, so any change invalidates it:
the model's files (config and weight files' names, sizes and mtimes), the exact items and val
records scored, every evaluation setting that changes an answer or a number (split, limit, batch
size, token cap, latency probe, general probe, constraint, precision), the kind of machine (latency
and memory are measured here) and the evaluator's own source (a scoring change re-scores).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tunepilot.paths import home
from tunepilot.atomic import write_json

_SETTINGS = ("suite", "split", "limit", "batch_size", "max_new_tokens", "latency_probe", "general_probe",
             "constrained")
_CODE = ("tools/evaluate.py", "tools/constrained.py", "tools/bfcl.py", "chat.py", "tools/data/general_probe.jsonl")


def cache_dir() -> Path:
    return home() / "cache" / "eval-base"


def _model_identity(model_path: str) -> dict:
    """A local folder: config.json's bytes and each weight file's name, size and mtime (hashing GBs of
    weights would cost more than it saves); a hub id the same on its snapshot folder."""
    p = Path(model_path)
    files = sorted(f for f in p.iterdir() if f.suffix in (".safetensors", ".bin", ".json", ".model")) if p.is_dir() else []
    return {"path": str(p.resolve()) if p.exists() else model_path,
            "files": [[f.name, f.stat().st_size, f.stat().st_mtime_ns] for f in files]}


def _code_hash() -> str:
    root = Path(__file__).parent.parent  # the tunepilot package
    h = hashlib.sha256()
    for rel in _CODE:
        f = root / rel
        h.update(f.read_bytes() if f.exists() else b"")
    return h.hexdigest()[:16]


def base_key(model_path: str, items: list[dict], val: list[dict] | None, spec, precision: str) -> str:
    from tunepilot.precision import cpu_info

    import torch

    machine = torch.cuda.get_device_name(0) if torch.cuda.is_available() else cpu_info().key
    doc = {"model": _model_identity(model_path), "items": items, "val": val,
           "settings": {k: getattr(spec, k) for k in _SETTINGS}, "precision": precision, "machine": machine,
           "code": _code_hash()}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()[:32]


def load_base(key: str) -> dict | None:
    f = cache_dir() / f"{key}.json"
    try:
        return json.loads(f.read_text())
    except (OSError, json.JSONDecodeError):  # absent, or unreadable: score again
        return None


def save_base(key: str, report: dict) -> Path:
    d = cache_dir()
    d.mkdir(parents=True, exist_ok=True)
    f = d / f"{key}.json"
    write_json(f, report)  # masked, atomic: a reader sees the whole report or none
    return f
