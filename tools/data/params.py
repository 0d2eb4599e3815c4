"""The vocabulary of the API families (tools/data/apis.py, tools/data/assistant.py): a parameter
`P` (type, description, value generator, name synonyms, how a request words it), a family `F`
(function, parameters, implementation, request and answer templates) and small shared helpers.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from typing import Any, Callable

# ----------------------------------------------------------------------------- parameters


@dataclass
class P:
    key: str  # canonical id: used in templates and as the implementation's keyword
    type: str  # integer | number | string | boolean | array | object
    desc: str
    gen: Callable[[random.Random], Any]
    names: tuple = ()  # schema-name synonyms (default: the key)
    label: str = ""  # human words for the parameter (ask prompts)
    unit: tuple = ("{}",)  # how a value is written in a request
    opt: tuple = ()  # clause templates with {v}; non-empty => optional parameter
    default: Any = None
    enum: tuple = ()
    say: dict = field(default_factory=dict)  # enum value / bool -> phrases
    items: str = ""  # array item type
    fields: tuple = ()  # nested object fields (P)
    render: Callable | None = None  # nested object -> text
    flip: tuple | None = None  # boolean: (inverse name, inverse description)
    spell: bool = True  # small ints may be written as words
    bracket: bool = False  # arrays: always write as [a, b, c] (two lists in one request)

    @property
    def optional(self) -> bool:
        return bool(self.opt)


def _num(rng: random.Random, lo: float, hi: float, nd: int) -> int | float:
    v = round(rng.uniform(lo, hi), nd)
    if (nd == 0 or rng.random() < 0.25) and lo <= round(v) <= hi:  # whole numbers now and then
        v = round(v)
    return int(v) if float(v).is_integer() else v


def Num(key, desc, lo, hi, nd=1, **kw):
    return P(key, "number", desc, lambda r: _num(r, lo, hi, nd), **kw)


def Int(key, desc, lo, hi, **kw):
    return P(key, "integer", desc, lambda r: r.randint(lo, hi), **kw)


def Pick(key, desc, pool, **kw):
    kind = {int: "integer", float: "number"}.get(type(pool[0]), "string")
    return P(key, kind, desc, lambda r: r.choice(pool), **kw)


def Enum(key, desc, values, say=None, **kw):
    kind = "integer" if isinstance(values[0], int) else "string"
    return P(key, kind, desc, lambda r: r.choice(values), enum=tuple(values), say=say or {}, **kw)


def Bool(key, desc, yes, no, **kw):
    return P(key, "boolean", desc, lambda r: r.random() < 0.5, say={True: yes, False: no}, **kw)


def Arr(key, desc, item, gen_item, kmin, kmax, **kw):
    return P(key, "array", desc, lambda r: [gen_item(r) for _ in range(r.randint(kmin, kmax))], items=item, **kw)


def Obj(key, desc, fields, render, **kw):
    return P(key, "object", desc, lambda r: {f.key: f.gen(r) for f in fields}, fields=tuple(fields), render=render, **kw)


# ----------------------------------------------------------------------------- families


@dataclass
class F:
    id: str
    module: str
    verbs: str  # space-separated verb choices for the function name
    descs: tuple
    params: list
    impl: Callable[..., Any]
    task: str  # "find the area of a triangle" (ask prompts)
    qs: tuple  # request templates: {key} per stated param, optional clauses go at {opt}
    says: Any  # final-answer templates ({r}, {res}, {key}) or a callable(vals, result) -> str
    key: str | None = None  # result field holding the key value (dict results)
    fix: Callable | None = None  # fix(vals, rng): make sampled values consistent
    near: tuple = ()  # families that could also serve this request
    noun: str = ""

    def __post_init__(self):
        self.noun = self.noun or self.id


def yesno(yes: str, no: str) -> Callable:
    return lambda v, r: (yes if r else no).format(**v)


# units and small helpers
U_LEN = ("{} cm", "{} m", "{} units", "{}", "{} ft")
U_MONEY = ("${}", "{} dollars", "{}")
U_PCT = ("{}%", "{} percent")
U_KG = ("{} kg", "{} kilograms")
U_SEC = ("{} s", "{} seconds")
U_MS = ("{} m/s", "{} meters per second")
Q = ('"{}"', "'{}'")
OPT_DEC = (" rounded to {v} decimal places", ", with {v} decimals", " to {v} decimal places")
WORDS = "zero one two three four five six seven eight nine ten eleven twelve".split()
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


def _date(rng: random.Random, y0: int = 2015, y1: int = 2030) -> str:
    start = dt.date(y0, 1, 1)
    return (start + dt.timedelta(days=rng.randint(0, (dt.date(y1, 12, 31) - start).days))).isoformat()


