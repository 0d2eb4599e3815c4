"""Dataset folders: train/val/test.jsonl + metadata.json, written atomically, read with line numbers."""

from __future__ import annotations

import hashlib
import json
import random
import shutil
from pathlib import Path

from tunepilot import TunepilotError

SPLITS = {"train": 0.8, "val": 0.1, "test": 0.1}


def split_by_role(records: list[dict], rng: random.Random) -> dict[str, list[dict]]:
    """80/10/10 within each role, so every split keeps the role mix; totals are exact (largest remainder)."""
    by_role: dict[str, list[dict]] = {}
    for r in records:
        by_role.setdefault(r["meta"]["agent_role"], []).append(r)
    roles = sorted(by_role)
    quota = {k: _allocate({role: len(by_role[role]) * SPLITS[k] for role in roles}, round(len(records) * SPLITS[k]))
             for k in ("val", "test")}
    out = {k: [] for k in SPLITS}
    for role in roles:
        group = by_role[role]
        rng.shuffle(group)
        n_val, n_test = quota["val"][role], quota["test"][role]
        out["val"] += group[:n_val]
        out["test"] += group[n_val:n_val + n_test]
        out["train"] += group[n_val + n_test:]
    for k in out:
        out[k].sort(key=lambda r: r["id"])
    return out


def _allocate(ideal: dict[str, float], total: int) -> dict[str, int]:
    alloc = {k: int(v) for k, v in ideal.items()}
    for k in sorted(ideal, key=lambda k: (alloc[k] - ideal[k], k))[: total - sum(alloc.values())]:
        alloc[k] += 1
    return alloc


def write_splits(out: Path, splits: dict[str, list[dict]], meta: dict) -> str:
    """Write atomically: everything goes to a temp folder renamed into place at the end."""
    out = Path(out)
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    h = hashlib.sha256()
    for name, rows in splits.items():
        data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)  # key order kept: a schema's
        # declared property order is the order calls are trained in (tunepilot.chat.schema_order)
        (tmp / f"{name}.jsonl").write_text(data)
        h.update(data.encode())
    meta["content_hash"] = h.hexdigest()
    (tmp / "metadata.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return meta["content_hash"]


def load_split(folder: Path, split: str) -> list[dict]:
    path = Path(folder) / f"{split}.jsonl"
    if not path.exists():
        raise TunepilotError(f"--data {folder}: no {split}.jsonl (make one with `tunepilot data generate`)")
    rows = []
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise TunepilotError(f"{path}:{i}: not JSON ({e.msg})") from None
    return rows
