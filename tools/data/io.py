"""Dataset folders: train/val/test.jsonl + metadata.json, written atomically (never over a folder that is
not a tunepilot dataset), read with line numbers."""

from __future__ import annotations

import hashlib
import json
import random
import shutil
from pathlib import Path

from tunepilot import TunepilotError
from tunepilot.outputs import claim_dir, new_sibling, replace_dir
from tunepilot.redact import env_secrets, redact

SPLITS = {"train": 0.8, "val": 0.1, "test": 0.1}
WRITTEN_BY = "tunepilot"  # metadata.json's marker: this folder is a dataset tunepilot wrote (outputs.claim_dir)


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
    """Write a dataset folder: built in a hidden sibling, then swapped in for `out` at the end
    (tunepilot.outputs), so `out` holds the earlier dataset or the new one, never half of one.
    An `out` that is not a dataset tunepilot wrote is refused before anything is written."""
    dest = claim_dataset(out)
    tmp = new_sibling(dest)
    try:
        h = hashlib.sha256()
        env = env_secrets()
        for name, rows in splits.items():  # a credential in a teacher's text or a user's data is never trained on
            data = "".join(json.dumps(redact(r, env, by_key=False), ensure_ascii=False) + "\n" for r in rows)  # key order kept: a schema's
            # declared property order is the order calls are trained in (tunepilot.chat.schema_order)
            (tmp / f"{name}.jsonl").write_text(data)
            h.update(data.encode())
        meta["content_hash"] = h.hexdigest()
        meta["written_by"] = WRITTEN_BY
        (tmp / "metadata.json").write_text(json.dumps(redact(meta, env), indent=2, sort_keys=True) + "\n")
        replace_dir(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return meta["content_hash"]


def claim_dataset(out: Path) -> Path:
    """The resolved `out` if a dataset may be written there (new, empty, or an earlier tunepilot dataset)."""
    return claim_dir(out, "dataset", not_our_dataset)


def not_our_dataset(folder: Path) -> str | None:
    """Why `folder` is not a dataset tunepilot wrote, or None: ours has only the split files and a
    metadata.json (by tunepilot, or from before the `written_by` marker) whose content_hash matches them."""
    try:
        meta = json.loads((folder / "metadata.json").read_text())
    except FileNotFoundError:
        return "no metadata.json"
    except (UnicodeDecodeError, json.JSONDecodeError, IsADirectoryError):
        return "metadata.json is not JSON"
    if not isinstance(meta, dict) or meta.get("written_by", WRITTEN_BY) != WRITTEN_BY:
        return "metadata.json was not written by tunepilot"
    h = hashlib.sha256()
    for name in SPLITS:
        if (folder / f"{name}.jsonl").is_file():
            h.update((folder / f"{name}.jsonl").read_bytes())
    if meta.get("content_hash") != h.hexdigest():
        return "its split files do not match metadata.json's content_hash"
    extra = sorted({p.name for p in folder.iterdir()} - {f"{name}.jsonl" for name in SPLITS} - {"metadata.json"})
    if extra:
        return "it holds files tunepilot did not write: " + ", ".join(extra[:3]) + (", ..." if len(extra) > 3 else "")
    return None


def load_split(folder: Path, split: str) -> list[dict]:
    """One split of a dataset folder, every row checked as a record (tunepilot/chat.py); a bad row is
    a one-line error naming file:line (read as strictly as an import: tools/data/jsonfile.py)."""
    from tunepilot.tools.data.jsonfile import read_items
    from tunepilot.tools.data.validate import record_errors

    path = Path(folder) / f"{split}.jsonl"
    if not path.exists():
        raise TunepilotError(f"--data {folder}: no {split}.jsonl (make one with `tunepilot data generate`)")
    rows = []
    for lineno, obj in read_items(path):
        if errors := record_errors(obj):
            raise TunepilotError(f"{path}:{lineno}: {errors[0]}")
        rows.append(obj)
    return rows
