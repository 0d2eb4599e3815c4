"""Berkeley Function Calling Leaderboard (BFCL) single-turn categories, scored by BFCL's own checker.

Usage:

    from tunepilot.tools.bfcl import load_suite, score_bfcl
    from tunepilot.chat import parse_tool_calls

    for item in load_suite("simple_python", limit=50):   # records in our format (tunepilot.chat)
        reply = generate(item)                            # the model's text for item["messages"]
        calls, _errors = parse_tool_calls(reply)
        valid, error_kind = score_bfcl(item, calls)

Data comes from the installed `bfcl_eval` package (`bfcl_eval/data/BFCL_v4_<category>.json`, JSON
lines, ground truth under `possible_answer/`). Tools are shown to the model under their original
(possibly dotted, e.g. `math.factorial`) names with BFCL's schema dialect turned into JSON Schema;
the checker gets BFCL's original function list.

Scoring mirrors BFCL's eval runner: AST categories go to
`bfcl_eval.eval_checker.ast_eval.ast_checker.ast_checker` with our calls as
`[{name: {arg: value}}]`; (live_)irrelevance passes when no call was made, live_relevance when one
was. The checker's only use of `model_name` is to look up `underscore_to_dot` (whether `.` in
expected names becomes `_`); importing its real `MODEL_CONFIG_MAPPING` pulls in every vendor SDK,
so the import sees a one-entry stand-in (`underscore_to_dot=False`: dotted names are kept).
"""

from __future__ import annotations

import copy
import importlib.util
import json
import sys
import types
from pathlib import Path
from typing import Any, Callable

from tunepilot import TunepilotError

AST_CATEGORIES = (
    "simple_python", "multiple", "parallel", "parallel_multiple",
    "live_simple", "live_multiple", "live_parallel", "live_parallel_multiple",
)
RELEVANCE_CATEGORIES = ("irrelevance", "live_irrelevance", "live_relevance")
CATEGORIES: tuple[str, ...] = AST_CATEGORIES + RELEVANCE_CATEGORIES

# BFCL type names -> JSON Schema; "any" (and anything unknown) gets no type constraint.
_TYPES = {
    "dict": "object", "object": "object", "float": "number", "number": "number",
    "tuple": "array", "array": "array", "list": "array", "integer": "integer",
    "string": "string", "boolean": "boolean", "bool": "boolean",
}
_MODEL_NAME = "tunepilot"  # no "_": the checker maps "_" to "/" before its config lookup
_CONFIG_MODULE = "bfcl_eval.constants.model_config"
_checker: tuple[Callable[..., dict], str] | None = None


def _data_dir() -> Path:
    spec = importlib.util.find_spec("bfcl_eval")  # locates the package without running it
    if spec is None or not spec.submodule_search_locations:
        raise TunepilotError("BFCL needs the bfcl-eval package: pip install --no-deps bfcl-eval")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _check_category(category: str) -> None:
    if category not in CATEGORIES:
        raise TunepilotError(f"unknown BFCL category {category!r}; valid: {', '.join(CATEGORIES)}")


def to_json_schema(schema: dict) -> dict:
    """BFCL's parameter schema as JSON Schema, recursively through `properties` and `items`."""
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "type":
            if isinstance(value, str) and value in _TYPES:
                out["type"] = _TYPES[value]
        elif key == "properties" and isinstance(value, dict):
            out[key] = {name: to_json_schema(sub) for name, sub in value.items()}
        elif key == "items" and isinstance(value, dict):
            out[key] = to_json_schema(value)
        elif key == "optional" or (key == "required" and not isinstance(value, list)):
            continue  # BFCL-only markers; `required` lists already say it
        else:
            out[key] = copy.deepcopy(value)
    return _fit_enum(out)


def _fit_enum(out: dict) -> dict:
    """BFCL's enums as JSON Schema means them. An enum on an array lists what each item may be
    (live_simple_71's `metrics`); an integer's or number's enum may be written as strings ("1" ...
    "9", live_relevance_8's `number_of_tickets`). Taken literally both are unsatisfiable, and the
    decoder dropped the item's whole grammar."""
    enum = out.get("enum")
    if not isinstance(enum, list) or not enum:
        return out
    kind = out.get("type")
    if kind == "array" and not any(isinstance(v, list) for v in enum):
        items = dict(out.get("items") or {})
        items.setdefault("enum", out.pop("enum"))
        out["items"] = items
    elif kind in ("integer", "number") and any(isinstance(v, str) for v in enum):
        cast = int if kind == "integer" else float
        try:
            out["enum"] = [cast(v) for v in enum]
        except ValueError:  # words for a number: keep the words, drop the type
            out.pop("type")
    return out


def _tool(function: dict) -> dict:
    return {"type": "function", "function": {
        "name": function["name"],
        "description": function.get("description", ""),
        "parameters": to_json_schema(function.get("parameters") or {"type": "dict", "properties": {}}),
    }}


def load_suite(category: str, limit: int | None = None) -> list[dict]:
    """The first `limit` (default all) items of a category, in file order, as our records."""
    _check_category(category)
    data = _data_dir()
    rows = _read_jsonl(data / f"BFCL_v4_{category}.json")
    if limit is not None:
        rows = rows[:limit]
    answers: dict[str, list] = {}
    if category in AST_CATEGORIES:
        answers = {a["id"]: a["ground_truth"]
                   for a in _read_jsonl(data / "possible_answer" / f"BFCL_v4_{category}.json")}
    items = []
    for row in rows:
        if category in AST_CATEGORIES and row["id"] not in answers:
            raise TunepilotError(f"BFCL {category}: no ground truth for {row['id']}")
        items.append({
            "id": row["id"],
            "tools": [_tool(f) for f in row["function"]],
            "messages": [{"role": m["role"], "content": m["content"]} for m in row["question"][0]],
            "meta": {"agent_role": "bfcl",
                     "kind": "no_tool" if "irrelevance" in category else "single",
                     "source": f"bfcl:{category}", "bfcl_category": category},
            "bfcl": {"function": row["function"], "answer": answers.get(row["id"])},
        })
    return items


def _load_checker() -> tuple[Callable[..., dict], str]:
    """BFCL's `ast_checker` and a model name whose config keeps dotted function names."""
    global _checker
    if _checker is None:
        stub = _CONFIG_MODULE not in sys.modules
        if stub:  # the real module imports every vendor SDK (anthropic, cohere, boto3, ...)
            mod = types.ModuleType(_CONFIG_MODULE)
            mod.MODEL_CONFIG_MAPPING = {_MODEL_NAME: types.SimpleNamespace(underscore_to_dot=False)}
            sys.modules[_CONFIG_MODULE] = mod
        try:
            from bfcl_eval.eval_checker.ast_eval import ast_checker as module
        finally:
            if stub:  # the checker keeps its reference; a later real import is unaffected
                sys.modules.pop(_CONFIG_MODULE, None)
        mapping = module.MODEL_CONFIG_MAPPING
        name = _MODEL_NAME if _MODEL_NAME in mapping else next(
            key for key, cfg in mapping.items() if not cfg.underscore_to_dot and "_" not in key)
        _checker = (module.ast_checker, name.replace("/", "_"))
    return _checker


def score_bfcl(item: dict, calls: list[dict]) -> tuple[bool, str]:
    """(valid, error_kind) for one item given the parsed calls ([{"name", "arguments"}])."""
    category = item["meta"]["bfcl_category"]
    if category in RELEVANCE_CATEGORIES:  # BFCL: any decodable, non-empty call counts as a call
        if "irrelevance" in category:
            return (True, "") if not calls else (False, "irrelevance_error:decoder_success")
        return (True, "") if calls else (False, "relevance_error:decoder_failed")
    if not calls:
        return False, "no_call"
    from bfcl_eval.constants.enums import Language

    checker, model_name = _load_checker()
    output = [{c["name"]: c["arguments"]} for c in calls]
    try:
        result = checker(item["bfcl"]["function"], output, item["bfcl"]["answer"],
                         Language.PYTHON, category, model_name)
    except Exception as e:  # odd values can trip the checker; BFCL would not score them valid
        return False, f"checker_error:{type(e).__name__}"
    if result["valid"]:
        return True, ""
    return False, result.get("error_type") or "unknown"


def bfcl_texts(category: str) -> list[str]:
    """User question texts and function names of a category (for the contamination check)."""
    _check_category(category)
    texts: list[str] = []
    for row in _read_jsonl(_data_dir() / f"BFCL_v4_{category}.json"):
        texts += [m["content"] for m in row["question"][0] if m["role"] == "user"]
        texts += [f["name"] for f in row["function"]]
    return list(dict.fromkeys(texts))  # deduplicated, first-seen order
