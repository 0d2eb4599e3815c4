"""Turn a plain-words goal into a validated `Request`, saying what was stated and what assumed.

    >>> r = parse_goal("Make SmolLM2 better at calling coding tools: at least 90% success, under 5 s per answer")
    >>> r.base_model, r.criteria.min_success, r.criteria.iterate_success, r.criteria.max_latency_s
    ('smollm2-135m-instruct', 0.9, 0.87, 5.0)
    >>> [n for n in r.assumptions if "max_memory_gb" in n]
    ['assumed: criteria.max_memory_gb = 10.0 (seed 004 deploy threshold)']
    >>> r = parse_goal("QLoRA Qwen/Qwen2.5-Coder-0.5B-Instruct for 3 epochs on 2x A100 80GB within 2 hours")
    >>> r.training_config.method, r.base_model, r.hardware.gpus, r.hardware.vram_per_gpu, r.budget.max_wall_s
    ('qlora', 'Qwen/Qwen2.5-Coder-0.5B-Instruct', 2, '80GB', 7200.0)

`parse_goal` is deterministic and offline: an ordered table of regexes (below) reads numbers with
units, a keyword table reads the method and task type. `goal_to_request` asks an LLM instead (a
pydantic-ai agent with `Request` as its structured output, instructions in
`prompts/goal_to_request.md`) and falls back to `parse_goal` when the call fails.

Precedence, lowest first: schema defaults < the goal's words < `--model` / detected hardware <
`overrides` (CLI flags, dotted keys). Every leaf field gets one note in `Request.assumptions`,
`stated:`, `assumed:`, `detected:` or `flag:`, printed before any work starts.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, TypeAdapter, ValidationError

from tunepilot.agent.schemas import Hardware, Request
from tunepilot.models import DEFAULT_MODEL
from tunepilot.paths import prompts_dir
from tunepilot.redact import clip

# ---- the words -> fields tables -------------------------------------------------------------

_N = r"(?<![\w.])(-?\d+(?:\.\d+)?)"  # a number, its sign kept so "under -3 s" is caught, not read as 3
_AT_LEAST = r"(?:at least|above|over|more than|no less than|min(?:imum)?(?: of)?|>=?|≥)"
_AT_MOST = r"(?:under|below|less than|at most|no more than|max(?:imum)?(?: of)?|within|<=?|≤)"
_PCT = r"\s*(%|percent)?"
_SECS = r"\s*(ms|milliseconds?|s|secs?|seconds?)\b"
_LONG = r"\s*(min|mins|minutes?|h|hrs?|hours?)\b"
_MEM = r"\s*(GB|GiB|MB|MiB)\b"
_CARD = r"[A-Za-z]+\d+\w*"  # A100, H100s, RTX4090, L4


def _frac(v: str, pct: str | None) -> float:
    """90 % and 0.9 both mean 0.9; a bare number above 1 is read as a percentage."""
    return float(v) / 100 if pct or float(v) > 1 else float(v)


def _secs(v: str, unit: str) -> float:
    u = unit.lower()
    if u == "ms" or u.startswith("milli"):
        return float(v) / 1000
    return float(v) * {"m": 60, "h": 3600}.get(u[0], 1)


def _gb(v: str, unit: str) -> float:
    return float(v) / 1024 if unit.upper().startswith("M") else float(v)


def _int(v: str) -> int | float:
    """1,000 -> 1000; a fraction stays a float so the schema rejects it with the phrase named."""
    return float(v) if "." in v else int(v.replace(",", ""))


# (regex, converter: match -> {field: value}). Order matters: each match blanks its span, so the
# GPU phrases go before memory ("24GB GPU" is VRAM, "at most 10 GB" is the deploy limit) and the
# explicit "budget" phrase goes before latency (both may be in seconds). A field ending in "?" is
# implied, set only when no earlier phrase stated it ("a 24GB GPU" is one GPU, "2 GPUs ... 24GB
# VRAM" two).
PATTERNS: list[tuple[str, Callable[[re.Match], dict]]] = [
    (rf"(?<![\w.])(\d+)\s*(?:{_CARD}\s+)?GPUs?\b(?:\s+(?:with|of)\s+(\d+)\s*GB\b)?",
     lambda m: {"hardware.gpus": int(m[1])} | ({"hardware.vram_per_gpu": f"{m[2]}GB"} if m[2] else {})),
    (rf"(?<![\w.])(\d+)\s*[x×]\s*(?:{_CARD}(?:\s*(\d+)\s*GB\b)?|(\d+)\s*GB\b)",
     lambda m: {"hardware.gpus": int(m[1])} | ({"hardware.vram_per_gpu": f"{m[2] or m[3]}GB"} if m[2] or m[3] else {})),
    (rf"(?<![\w.])(\d+)\s*GB\s+(?:of\s+)?(?:GPU|VRAM|card|graphics)|\b{_CARD}\s+(\d+)\s*GB\b|\bGPU\s+(?:with\s+)?(\d+)\s*GB\b",
     lambda m: {"hardware.vram_per_gpu": f"{m[1] or m[2] or m[3]}GB", "hardware.gpus?": 1}),
    (rf"\b(?:abort|give up|stop)\s+(?:below|under|if below)\s*{_N}\s*(%|percent)|\biterate\s+(?:from|above|at)\s*{_N}\s*(%|percent)",
     lambda m: {"criteria.iterate_success": _frac(m[1] or m[3], m[2] or m[4])}),
    (rf"(?:{_AT_LEAST}\s*)?{_N}{_PCT}\s*(?:success|pass(?:\s*rate)?|accuracy)",
     lambda m: {"criteria.min_success": _frac(m[1], m[2])}),
    (rf"\b(?:success|pass|accuracy)(?:\s*rate)?\s*(?:of|:|=|is)?\s*(?:{_AT_LEAST}\s*)?{_N}{_PCT}",
     lambda m: {"criteria.min_success": _frac(m[1], m[2])}),
    (rf"{_AT_LEAST}\s*{_N}\s*(%|percent)", lambda m: {"criteria.min_success": _frac(m[1], m[2])}),
    (rf"\bbudget\s*(?:of|:|=)?\s*{_N}(?:{_SECS}|{_LONG})", lambda m: {"budget.max_wall_s": _secs(m[1], m[2] or m[3])}),
    (rf"(?:\blatency\s*(?:of|:|=)?\s*)?(?:{_AT_MOST}\s*)?{_N}{_SECS}\s*(?:per|an?|each)\s+(?:answer|reply|response|call|request|item)",
     lambda m: {"criteria.max_latency_s": _secs(m[1], m[2])}),
    (rf"(?:\blatency\s*(?:of|:|=)?\s*|{_AT_MOST}\s*)+{_N}{_SECS}", lambda m: {"criteria.max_latency_s": _secs(m[1], m[2])}),
    (rf"(?:\b(?:memory|RAM)\s*(?:of|:|=|use|usage)?\s*|{_AT_MOST}\s*)+{_N}{_MEM}", lambda m: {"criteria.max_memory_gb": _gb(m[1], m[2])}),
    (rf"(?:\b(?:in|for)\s+|{_AT_MOST}\s*){_N}{_LONG}", lambda m: {"budget.max_wall_s": _secs(m[1], m[2])}),
    (rf"(?:{_AT_MOST}\s*|up to\s*)?{_N}\s*(?:iterations?|tries|try|attempts?|rounds?)\b",
     lambda m: {"budget.max_iterations": _int(m[1])}),
    (rf"{_N}\s*epochs?\b|\bepochs?\s*[=:]\s*{_N}", lambda m: {"training_config.epochs": float(m[1] or m[2])}),
    (r"\brank\s*(?:of|[=:])?\s*(\d+)|\br\s*=\s*(\d+)", lambda m: {"training_config.rank": int(m[1] or m[2])}),
    (r"\b(?:learning[ _-]rate|lr)\s*(?:of|[=:])?\s*(-?\d+(?:\.\d+)?(?:e[-+]?\d+)?)",
     lambda m: {"training_config.learning_rate": float(m[1])}),
    (r"\bbatch[ _-]?size\s*(?:of|[=:])?\s*(\d+)|\bbs\s*=\s*(\d+)", lambda m: {"training_config.batch_size": int(m[1] or m[2])}),
    (r"(?<![\w.])(\d[\d,]*)\s*(?:training\s+|synthetic\s+|generated\s+)?(?:examples|samples|records)\b",
     lambda m: {"dataset.n_examples": _int(m[1])}),
]

# Third-party suites named in words: "judged on BFCL simple_python, multiple and HumanEval",
# "evaluated against bfcl:irrelevance", "no third-party suites". Longer names first (parallel_multiple
# before parallel), so a name is never read as its prefix.
_SUITE = (r"(?:bfcl\s*[: ]\s*)?(?:live_parallel_multiple|live_parallel|live_simple|live_multiple|live_irrelevance"
          r"|live_relevance|parallel_multiple|parallel|simple_python|simple|multiple|irrelevance)\b|\bhuman[- ]?eval\b")
_SUITES = rf"(?:{_SUITE})(?:\s*(?:,|\band\b|\bplus\b|&)\s*(?:{_SUITE}))*"


def _suites(phrase: str) -> list[str]:
    names = []
    for m in re.finditer(_SUITE, phrase, re.IGNORECASE):
        word = re.sub(r"^bfcl\s*[: ]\s*", "", m[0].lower()).replace(" ", "").replace("-", "")
        name = "humaneval" if word == "humaneval" else f"bfcl:{'simple_python' if word == 'simple' else word}"
        if name not in names:
            names.append(name)
    return names


PATTERNS += [
    (rf"\b(?:judged?|evaluated?|checked|scored|tested|measured)\s+(?:only\s+)?(?:on|against|with|by)\s+"
     rf"(?:the\s+)?(?:third[- ]party\s+suites?\s+)?({_SUITES})",
     lambda m: {"evaluation.suites": _suites(m[1])}),
    (r"\b(?:no|without)\s+(?:third[- ]party\s+)?(?:suites|benchmarks|bfcl)\b", lambda m: {"evaluation.suites": []}),
]

# (field, regex, value): the first hit per field wins, so QLoRA is checked before LoRA and tool
# calling (this project's focus) before the other task types.
KEYWORDS: list[tuple[str, str, str]] = [
    ("training_config.method", r"\bq-?lora\b|\b4[- ]?bit\b|\bnf4\b", "qlora"),
    ("training_config.method", r"\blora\b", "lora"),
    ("training_config.method", r"\bfull(?:[- ]parameter)?[- ]fine[- ]?tun(?:e|es|ing)\b|\bfull[- ]finetun", "full"),
    ("task_type", r"\b(?:(?:coding|calling|using)\s+)?tools?(?:[- ]call(?:s|ing)?)?\b|\bfunction[- ]call\w*|\bagentic\b|\bchat\b", "chat"),
    ("task_type", r"\bclassif(?:y|ies|ying|ication|ier)\b", "classification"),
    ("task_type", r"\binstructions?(?:[- ]following)?\b", "instruction"),
    ("task_type", r"\bgenerat(?:e|es|ing)\s+text\b|\bgeneration\b", "generation"),
]

_SMOLLM2 = re.compile(r"\bsmollm2(?:-135m)?(?:-instruct)?(?![\w-])", re.IGNORECASE)  # other sizes are not embedded
_HF_ID = re.compile(r"(?<![\w./-])([A-Za-z][\w.-]*)/([\w.-]*\d[\w.-]*?)(?=[.,;:)]?(?:\s|$))")
_GPU_NAME = re.compile(r"[A-Za-z]{1,3}\d+\w*")  # "A100/H100" is two cards, not an owner/name id

# Why each default is what it is, quoted in the "assumed:" notes; fields not listed say "default".
_WHY = {
    "base_model": "the embedded default, works offline",
    "task_type": "tool calling is chat",
    "dataset.path": "none named: generate synthetic agentic data",
    "dataset.n_examples": "generated examples before the split",
    "training_config.method": "LoRA: a small model fits unquantised",
    "training_config.epochs": "one pass; seed 004 allows at most 5",
    "training_config.batch_size": "the train tool picks one for the device",
    "training_config.learning_rate": "the train tool picks 1e-3 for LoRA, 2e-5 full",
    "training_config.rank": "LoRA rank; higher costs memory",
    "criteria.min_success": "seed 004 deploy threshold",
    "criteria.iterate_success": "seed 004: iterate at 95-97 %, abort below",
    "criteria.max_latency_s": "seed 004 deploy threshold",
    "criteria.iterate_latency_s": "seed 004: iterate at 12-15 s, abort above",
    "criteria.max_memory_gb": "seed 004 deploy threshold",
    "budget.max_iterations": "train-evaluate rounds before giving up",
    "budget.max_wall_s": "30 minutes",
    "evaluation.suites": "BFCL simple/multiple/irrelevance and HumanEval, base vs tuned each iteration",
}
_SECTIONS = {n: f.annotation for n, f in Request.model_fields.items()
             if isinstance(f.annotation, type) and issubclass(f.annotation, BaseModel)}  # dataset, criteria, ...
MAX_EPOCHS = 5  # seed 004; TrainingConfig.epochs has the same limit
PROMPT = prompts_dir() / "goal_to_request.md"


# ---- the offline parser -----------------------------------------------------------------------


def parse_goal(text: str, *, model: str | None = None, hardware: Hardware | None = None,
               overrides: dict | None = None) -> Request:
    """Read `text` with the tables above; raise ValueError naming the phrase of an impossible value."""
    values: dict[str, object] = {}
    notes: list[str] = []
    masked = _read_model(text, values, notes)
    for pattern, convert in PATTERNS:
        for m in re.finditer(pattern, masked, re.IGNORECASE):
            phrase = m[0].strip()
            for field, value in convert(m).items():
                if not (field.endswith("?") and field[:-1] in values):
                    _state(values, notes, field.rstrip("?"), value, phrase)
            masked = _blank(masked, m.start(), m.end())
    for field, pattern, value in KEYWORDS:
        if field not in values and (m := re.search(pattern, masked, re.IGNORECASE)):
            _state(values, notes, field, value, m[0])
    given = _apply_flags(values, notes, model=model, hardware=hardware, overrides=overrides) | set(values)
    _derive_bands(values, notes, given)
    request = Request.model_validate(_nest(values) | {"goal": text})
    for field, default in _leaves(request):
        if field not in values:
            notes.append(f"assumed: {field} = {default!r} ({_why(field)})")
    return request.model_copy(update={"assumptions": notes})


def _read_model(text: str, values: dict, notes: list) -> str:
    """Find the model (and a dataset folder) in `text`; return the text with them blanked out, so
    the numbers in a name like Qwen2.5-Coder-0.5B are not read as settings. The first model wins."""
    masked = text
    for m in re.finditer(r"[^\s'\"`,;()]+", text):
        token = m[0].rstrip(".:")
        if "/" not in token or not token.strip("/.~") or not Path(token).expanduser().is_dir():
            continue
        if (Path(token).expanduser() / "train.jsonl").exists():  # a tunepilot dataset folder, not a model
            _state(values, notes, "dataset.path", token, token)
            _state(values, notes, "dataset.format", "tunepilot", token)
        elif "base_model" not in values:
            _state(values, notes, "base_model", token, token)
        masked = _blank(masked, m.start(), m.start() + len(token))
    for m in _HF_ID.finditer(masked):
        if not _GPU_NAME.fullmatch(m[1]):
            if "base_model" not in values:  # the embedded name for the same model: it works offline
                _state(values, notes, "base_model", DEFAULT_MODEL if m[2].lower() == DEFAULT_MODEL else m[0], m[0])
            masked = _blank(masked, m.start(), m.end())
    for m in _SMOLLM2.finditer(masked):
        if "base_model" not in values:
            _state(values, notes, "base_model", DEFAULT_MODEL, m[0])
        masked = _blank(masked, m.start(), m.end())
    return masked


def _blank(text: str, start: int, end: int) -> str:
    return text[:start] + " " * (end - start) + text[end:]


def _state(values: dict, notes: list, field: str, value, phrase: str) -> None:
    """Record one value the goal stated, checked against its schema field with the phrase named."""
    note = ""
    if field == "training_config.epochs" and value > MAX_EPOCHS:
        value, note = float(MAX_EPOCHS), f" (clamped: seed 004 allows at most {MAX_EPOCHS} epochs)"
    value = _check(field, value, f"goal phrase {phrase!r}")
    if field in values and values[field] != value:
        raise ValueError(f"goal phrase {phrase!r} sets {field} = {value!r}, contradicting an earlier {values[field]!r}")
    if field not in values:
        values[field] = value
        notes.append(f"stated: {field} = {value!r} from {phrase!r}{note}")


def _check(field: str, value, source: str):
    """Validate one value against its leaf field in `Request` (type, bounds); return it coerced.
    Errors name the field, the value, the bound and the field's unit."""
    *path, name = field.split(".")
    cls = Request if not path else _SECTIONS.get(path[0]) if len(path) == 1 else None
    info = cls.model_fields.get(name) if cls else None
    if field in _SECTIONS:
        known = ", ".join(f"{field}.{n}" for n in _SECTIONS[field].model_fields)
        raise ValueError(f"{source}: {field} is a section, not a value; set one of its fields ({known})")
    if info is None or field in ("goal", "assumptions"):
        section = _SECTIONS.get(path[0]) if len(path) == 1 else None
        known = ", ".join(f"{path[0]}.{n}" for n in section.model_fields) if section else \
            ", ".join(n for n in Request.model_fields if n not in ("goal", "assumptions"))
        raise ValueError(f"{source}: unknown setting {field!r} (known: {known})")
    try:
        value = TypeAdapter(info.rebuild_annotation()).validate_python(value)
    except ValidationError as e:
        unit = f"; unit: {info.description}" if info.description else ""
        raise ValueError(f"{source}: {field} = {value!r} is impossible ({e.errors()[0]['msg']}{unit})") from None
    if field == "dataset.path" and value is not None and not Path(value).expanduser().exists():
        raise ValueError(f"{source}: dataset.path {value!r}: no such file or folder")
    return value


def _apply_flags(values: dict, notes: list, *, model, hardware, overrides) -> set[str]:
    """Apply `--model`, detected hardware and CLI overrides over `values`; return the fields set."""
    flags: list[tuple[str, object, str]] = []
    if model:
        flags.append(("base_model", model, "flag: {f} = {v!r} (--model{was})"))
    if hardware:
        flags += [(f"hardware.{k}", v, "detected: {f} = {v!r}{was}") for k, v in hardware.model_dump().items()]
    flags += [(k, v, "flag: {f} = {v!r}{was}") for k, v in (overrides or {}).items()]
    for field, value, template in flags:
        value = _check(field, value, f"flag {field}={value!r}")
        was = f"; the goal said {values[field]!r}" if field in values and values[field] != value else ""
        values[field] = value
        notes[:] = [n for n in notes if not n.partition(": ")[2].startswith(f"{field} =")]  # one note a field
        notes.append(template.format(f=field, v=value, was=was))
    return {f for f, _, _ in flags}


def _derive_bands(values: dict, notes: list, given: set[str]) -> None:
    """Seed 004's proportions: deploy at 98 %, iterate from 95 % (3 points lower); deploy under
    12 s, iterate up to 15 s (x1.25). A goal that sets only the deploy line keeps the same bands."""
    rules = [("criteria.min_success", "criteria.iterate_success", lambda v: max(0.0, round(v - 0.03, 4)), "min_success - 0.03"),
             ("criteria.max_latency_s", "criteria.iterate_latency_s", lambda v: round(v * 1.25, 4), "max_latency_s x 1.25")]
    for deploy, iterate, derive, how in rules:
        if deploy in given and iterate not in given:
            values[iterate] = derive(values[deploy])
            notes.append(f"assumed: {iterate} = {values[iterate]!r} ({how}, seed 004's band)")


def _nest(values: dict) -> dict:
    out: dict = {}
    for field, value in values.items():
        *path, name = field.split(".")
        node = out
        for part in path:
            node = node.setdefault(part, {})
        node[name] = value
    return out


def _leaves(model: BaseModel, prefix: str = ""):
    """(dotted field, value) for every leaf of a Request, goal and assumptions left out."""
    for name in type(model).model_fields:
        value = getattr(model, name)
        if name in ("goal", "assumptions"):
            continue
        if isinstance(value, BaseModel):
            yield from _leaves(value, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", value


def _why(field: str) -> str:
    if field.startswith("hardware."):
        return "not stated or detected"
    return _WHY.get(field, "default")


# ---- the LLM path -----------------------------------------------------------------------------


def goal_to_request(text: str, *, llm=None, model: str | None = None, hardware: Hardware | None = None,
                    overrides: dict | None = None) -> tuple[Request, str]:
    """Parse `text` with `llm` (a pydantic-ai model) when given, else offline; return (request, how).

    The LLM answers with a `Request` as structured output (pydantic-ai validates it and asks again
    on invalid output); `model`, `hardware` and `overrides` are applied after it, as offline. Any
    failure of the LLM call falls back to `parse_goal`, with a note saying why.
    """
    if llm is None:
        return parse_goal(text, model=model, hardware=hardware, overrides=overrides), "offline"
    from pydantic_ai import Agent
    from pydantic_ai.usage import UsageLimits

    try:
        agent = Agent(llm, output_type=Request, instructions=PROMPT.read_text(), retries=2)
        answer = agent.run_sync(text, usage_limits=UsageLimits(request_limit=4)).output
    except Exception as e:  # noqa: BLE001 - network, auth, no valid Request after retries: all the same here
        request = parse_goal(text, model=model, hardware=hardware, overrides=overrides)
        note = f"llm goal parsing failed ({type(e).__name__}: {clip(e, 200)}); used the offline parser"
        return request.model_copy(update={"assumptions": [note, *request.assumptions]}), "offline"
    offline = parse_goal(text, model=model, hardware=hardware, overrides=overrides)
    values = dict(_leaves(answer))
    notes = [n for n in answer.assumptions if not n.startswith(("stated:", "flag:", "detected:", "overruled:"))]
    notes += _overrule(values, offline)
    given = _apply_flags(values, notes, model=model, hardware=hardware, overrides=overrides)
    _derive_bands(values, notes, given)
    return Request.model_validate(_nest(values) | {"goal": text, "assumptions": notes}), "llm"


# Fields an LLM may not choose on its own: what is judged (criteria), what may be spent (budget),
# what is read and shipped (dataset.path and format, base_model, evaluation.export). Their values come from the
# user's words (read by the offline parser) or the defaults; a different proposal is noted, not used.
PROTECTED = ("criteria.", "budget.", "dataset.path", "dataset.format", "base_model", "evaluation.export")


def _overrule(values: dict, offline: Request) -> list[str]:
    """The LLM is a proposer: where it disagrees with what the user stated, or proposes a protected
    field, keep the offline parser's value and say so (the notes are journaled with the request)."""
    stated = {n.split(" = ", 1)[0].split(": ", 1)[1] for n in offline.assumptions if n.startswith(("stated:", "flag:"))}
    notes = [n for n in offline.assumptions if n.startswith(("stated:", "flag:"))]
    for field, mine in _leaves(offline):
        theirs = values.get(field)
        if theirs == mine or not (field in stated or field.startswith(PROTECTED)):
            continue
        why = "the goal states it" if field in stated else "an LLM may not choose it"
        notes.append(f"overruled: the LLM proposed {field} = {theirs!r}; kept {mine!r} ({why})")
        values[field] = mine
    return notes
