"""Validators every teacher's output passes: schema-valid calls, dedup, token-length cap."""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter

import jsonschema

from tunepilot.chat import render_messages


def call_errors(record: dict) -> list[str]:
    """Why a record's tool calls are not valid: unknown tool, arguments not JSON, schema violation."""
    tools = {t["function"]["name"]: t["function"]["parameters"] for t in record.get("tools", [])}
    errors = []
    for m in record["messages"]:
        for c in m.get("tool_calls") or []:
            name = c["function"]["name"]
            if name not in tools:
                errors.append(f"call to unoffered tool {name}")
                continue
            try:
                args = json.loads(c["function"]["arguments"])
            except json.JSONDecodeError:
                errors.append(f"{name}: arguments are not JSON")
                continue
            for e in jsonschema.Draft202012Validator(tools[name]).iter_errors(args):
                errors.append(f"{name}: {e.message}")
    return errors


def canonical_hash(record: dict) -> str:
    body = json.dumps({"tools": record.get("tools", []), "messages": record["messages"]}, sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()


def _shingles(text: str, k: int = 3) -> set[str]:
    t = re.sub(r"\s+", " ", text.lower()).strip()
    return {t[i:i + k] for i in range(max(1, len(t) - k + 1))}


def _signature(record: dict) -> str:
    calls = [(c["function"]["name"], c["function"]["arguments"]) for m in record["messages"] for c in m.get("tool_calls") or []]
    return json.dumps(calls)


class Deduper:
    """Drops exact duplicates and near duplicates: same calls and user text Jaccard >= threshold."""

    def __init__(self, threshold: float = 0.9):
        self.threshold = threshold
        self.hashes: set[str] = set()
        self.buckets: dict[str, list[set[str]]] = {}

    def check(self, record: dict) -> str | None:
        """Return a rejection reason, or None (and remember the record)."""
        h = canonical_hash(record)
        if h in self.hashes:
            return "exact_duplicate"
        user = " ".join(m["content"] for m in record["messages"] if m["role"] == "user")
        sh = _shingles(user)
        bucket = self.buckets.setdefault(_signature(record), [])
        for other in bucket:
            if len(sh & other) / len(sh | other) >= self.threshold:
                return "near_duplicate"
        self.hashes.add(h)
        bucket.append(sh)
        return None


def token_length(record: dict, tokenizer) -> int:
    msgs = render_messages(record)
    return len(tokenizer.apply_chat_template(msgs, tokenize=True, return_dict=True)["input_ids"])


def stats(values: list[int]) -> dict:
    if not values:
        return {}
    s = sorted(values)
    return {"min": s[0], "mean": round(sum(s) / len(s), 1), "p95": s[min(len(s) - 1, int(0.95 * len(s)))], "max": s[-1],
            "total": sum(s)}


def count_by(records: list[dict], key) -> dict:
    return dict(sorted(Counter(k for r in records for k in key(r)).items()))


class ContaminationGuard:
    """Rejects records that share a user question or a function name with an evaluation set
    (BFCL's single-turn categories, when bfcl-eval is installed). Evaluation data never trains."""

    def __init__(self):
        self.texts: set[str] = set()
        try:
            from tunepilot.tools.bfcl import CATEGORIES, bfcl_texts
        except ImportError:
            return
        for cat in CATEGORIES:
            try:
                self.texts |= {_norm(t) for t in bfcl_texts(cat)}
            except Exception:  # bfcl-eval not installed: nothing to guard against
                return

    def check(self, record: dict) -> str | None:
        users = (_norm(m["content"]) for m in record["messages"] if m["role"] == "user")
        names = (_norm(t["function"]["name"]) for t in record.get("tools", []))
        return "contamination" if any(x in self.texts for x in (*users, *names)) else None


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", str(text)).strip().lower()
