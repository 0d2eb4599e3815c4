"""Compositional API records: the shapes one call per request does not teach.

    sample_composed(rng, agent_role, kind) -> dict      # kind in COMPOSED_KINDS

- parallel: one tool called 2-4 times in one assistant turn, one call per value set the request
  states ("... Also, ...").
- multi_call: two or three different tools called in one turn, among distractors.
- chain: "do A, then B with its result": the first call is A's only; B's call comes after A's
  result and carries it. The later step's tool is offered from the start.
- context: a system turn states the current date (and where the user is); the request says
  "tomorrow", "next Friday" or "here", and the call carries the resolved value.
- carry: an earlier user turn states a fact ("my account number is ..."), a later request refers
  to it ("my account"), and the call carries the stated value.
- irrelevant: a request none of 1-8 offered tools can serve, answered without a call.

Every shape may offer many tools (up to `MAX_TOOLS`, often from the same module: overlapping
names and descriptions), and some requests are worded loosely, as real users write
(`messy`). Values are those of tools/data/apis.py's families: sampled, never fixed literals.
"""

from __future__ import annotations

import datetime as dt
import json
import random

from tunepilot.tools.data import apis, assistant

COMPOSED_KINDS = ("parallel", "multi_call", "chain", "context", "carry", "irrelevant")
MAX_TOOLS = 8  # offered tools per record: more would cross the dataset's token cap on small models
ALSO = ("Also, ", "And ", "Next, also ", "In addition, ", "Plus, ")
THEN = ("Then ", "After that, ", "Once you have it, ", "Next, ")
RESULT = ("that result", "the result", "the number you get")
# calls in one parallel turn, shared as in BFCL's parallel category (200 items: 2 calls 55 %, 3 26 %,
# 4 18 %); with 2-3 only, the tuned model wrote 1-3 calls for the items asking 4 (0 of 36 right)
PARALLEL_CALLS = {2: 0.55, 3: 0.27, 4: 0.18}


def _lc(s: str) -> str:
    """A sentence continued mid-line: "Find ..." -> "find ...", but "I ...", "AQI ..." stay."""
    keep = s.startswith("I ") or (len(s) > 1 and s[1].isupper())
    return s if keep else s[:1].lower() + s[1:]


def messy(text: str, rng: random.Random) -> str:
    """Loose wording as in live traffic: lower-case start, no final stop, a filler. Values (which the
    call must carry verbatim) are never touched: only the first letter and the ends change."""
    if rng.random() < 0.5:
        text = _lc(text)
    if rng.random() < 0.5 and text[-1:] in ".?":
        text = text[:-1]
    return rng.choice(("", "", "hey ", "pls ", "ok so ", "quick one: ")) + text + rng.choice(("", "", " thx", " asap", " please", " ty"))


def _n_more(rng: random.Random) -> int:
    """How many distractors beside the needed tools: usually a few, sometimes many."""
    return rng.choices([0, 1, 2, 3, 5, 7], weights=[30, 30, 20, 10, 6, 4])[0]


def _offer(rng: random.Random, needed: list[dict], exclude: set[str], module: str | None,
           most: int = MAX_TOOLS) -> list[dict]:
    others = apis._pick_others(rng, min(_n_more(rng), most - len(needed)), exclude, module)
    tools = needed + [apis._make_tool(g, rng)[0] for g in others]
    rng.shuffle(tools)
    return tools


def _call(i: int, tool: dict, args: dict) -> dict:
    return {"id": f"call_{i}", "type": "function",
            "function": {"name": tool["function"]["name"], "arguments": json.dumps(args, ensure_ascii=False)}}


def _results(calls: list[dict], results: list) -> list[dict]:
    return [{"role": "tool", "tool_call_id": c["id"], "name": c["function"]["name"],
             "content": json.dumps(r, ensure_ascii=False)} for c, r in zip(calls, results)]


def _record(rng, role, kind, fid, tools, messages, keywords, steps) -> dict:
    return apis._record(rng, role, kind, fid, tools, messages, keywords, steps)


def _scalar(result):
    return isinstance(result, (int, float)) and not isinstance(result, bool)


def _varied(f: apis.F, made: tuple[dict, dict], rng: random.Random, k: int):
    """k value sets that differ in one or two required parameters, asked in one sentence as BFCL's
    parallel items are ("... for 5 and 10 seconds", "... from San Francisco in 2019 and Texas in 2018",
    "..., then repeat with a height of 7"). Two parameters differ in 40 % of records where the family
    has two: the tuned model copied the first call's value of the second parameter ("the same in
    Texas in 2018" -> San Francisco, 2018). Returns (request, parts) with parts as apis._call_parts
    gives them, or None when the family has no such parameter or a drawn value is outside its domain."""
    tool, naming = made
    vary = [p for p in f.params if not p.optional and p.type in ("number", "integer", "string") and not p.enum]
    if not vary:
        return None
    ps = rng.sample(vary, 2 if len(vary) >= 2 and rng.random() < 0.4 else 1)
    base = apis._sample_values(f, rng)
    columns = []
    for p in ps:
        values = list(dict.fromkeys([base[p.key]] + [p.gen(rng) for _ in range(3 * k)]))[:k]
        if len(values) < k:
            return None
        columns.append(values)
    parts = []
    for row in zip(*columns):
        vals = base | {p.key: v for p, v in zip(ps, row)}
        args = {naming[q.key][0]: ((not vals[q.key]) if naming[q.key][1] else vals[q.key]) for q in f.params if not q.optional}
        kwargs = {q.key: (vals[q.key] if not q.optional else q.default) for q in f.params}
        try:
            parts.append((tool, "", args, kwargs, f.impl(**kwargs)))
        except (ArithmeticError, ValueError, TypeError, KeyError, IndexError):
            return None
    texts = [[apis._render(p, v, rng) for v in values] for p, values in zip(ps, columns)]
    if (k == 2 and rng.random() < 0.4) or (len(ps) == 2 and rng.random() < 0.6):
        again = [" and ".join(f"the {apis._label(p)} {t[i]}" for p, t in zip(ps, texts)) for i in range(1, k)]
        request = apis._request(f, base, [], rng, prefix=False) + rng.choice(
            (" Then repeat with {}.", " Do the same for {}.", " And again with {}.")).format(", and with ".join(again))
    else:
        request = apis._request(f, base, [], rng, say={p.key: apis._join(rng, t) for p, t in zip(ps, texts)}, prefix=False)
        if len(ps) == 2:
            request = (request[:-1] + ", respectively" + request[-1]) if request[-1] in ".?" else request + ", respectively"
    return request, parts


def parallel(rng: random.Random, role: str) -> dict | None:
    f = rng.choice(apis.FAMILIES)
    made = apis._make_tool(f, rng)
    k = rng.choices(list(PARALLEL_CALLS), weights=list(PARALLEL_CALLS.values()))[0]
    varied = _varied(f, made, rng, k) if rng.random() < 0.6 else None
    if varied:
        request, parts = varied
    else:
        parts = [apis._call_parts(f, rng, made=made, prefix=False) for _ in range(k)]
        request = parts[0][1] + "".join(" " + rng.choice(ALSO) + _lc(p[1]) for p in parts[1:])
    calls = [_call(i, made[0], p[2]) for i, p in enumerate(parts)]
    answers = [apis._answer(f, p[3], p[4], rng) for p in parts]
    messages = [{"role": "user", "content": request}, {"role": "assistant", "content": "", "tool_calls": calls},
                *_results(calls, [p[4] for p in parts]), {"role": "assistant", "content": " ".join(a for a, _ in answers)}]
    most = 2 if k >= 4 else MAX_TOOLS  # four calls, their results and answers leave room for one distractor in 768 tokens
    tools = _offer(rng, [made[0]], {f.id}, f.module, most)
    return _record(rng, role, "parallel", f.id, tools, messages, [k for _, k in answers], len(calls))


def multi_call(rng: random.Random, role: str) -> dict:
    first = rng.choice(apis.FAMILIES)
    fams = [first] + apis._pick_others(rng, rng.choice((1, 1, 2)), {first.id, *first.near}, first.module)
    parts = [(f, apis._call_parts(f, rng, prefix=False)) for f in fams]
    request = parts[0][1][1] + "".join(" " + rng.choice(ALSO) + _lc(p[1]) for _, p in parts[1:])
    calls = [_call(i, p[0], p[2]) for i, (_, p) in enumerate(parts)]
    answers = [apis._answer(f, p[3], p[4], rng) for f, p in parts]
    messages = [{"role": "user", "content": request}, {"role": "assistant", "content": "", "tool_calls": calls},
                *_results(calls, [p[4] for _, p in parts]), {"role": "assistant", "content": " ".join(a for a, _ in answers)}]
    tools = _offer(rng, [p[0] for _, p in parts], {f.id for f in fams}, first.module)
    return _record(rng, role, "multi_call", "+".join(f.id for f in fams), tools, messages, [k for _, k in answers], len(calls))


def chain(rng: random.Random, role: str) -> dict | None:
    """A's result feeds one numeric parameter of B. None when the draw has no such pair."""
    a = rng.choice(apis.FAMILIES)
    ta, req_a, args_a, kw_a, res_a = apis._call_parts(a, rng, prefix=False)
    if not _scalar(res_a):
        return None
    want = "integer" if isinstance(res_a, int) else "number"
    pairs = [(g, p) for g in apis.FAMILIES if g.id != a.id for p in g.params
             if not p.optional and (p.type == want or (p.type == "number" and want == "integer"))]
    if not pairs:
        return None
    b, p = rng.choice(pairs)
    made = apis._make_tool(b, rng)
    vals = apis._sample_values(b, rng)
    vals[p.key] = res_a
    try:
        tb, req_b, args_b, kw_b, res_b = apis._call_parts(b, rng, made=made, vals=vals, say={p.key: rng.choice(RESULT)},
                                                          prefix=False)
    except (ArithmeticError, ValueError, TypeError, KeyError, IndexError):  # the result is outside B's domain
        return None
    first, second = _call(0, ta, args_a), _call(1, tb, args_b)
    ans_b, kw = apis._answer(b, kw_b, res_b, rng)
    lead = rng.choice(("", "First, "))
    request = (lead + _lc(req_a) if lead else req_a) + " " + rng.choice(THEN) + _lc(req_b)
    messages = [{"role": "user", "content": request},
                {"role": "assistant", "content": "", "tool_calls": [first]}, *_results([first], [res_a]),
                {"role": "assistant", "content": "", "tool_calls": [second]}, *_results([second], [res_b]),
                {"role": "assistant", "content": ans_b}]
    tools = _offer(rng, [ta, tb], {a.id, b.id}, a.module)
    return _record(rng, role, "chain", f"{a.id}>{b.id}", tools, messages, [kw], 2)


def _here(p: apis.P) -> bool:
    """A city the request can say as "here": worded "in <city>", so "in <city>" -> "here" reads right."""
    return p.key in assistant.HERE and not p.optional and p.unit == assistant.CITY["unit"]


def _relative(p: apis.P) -> bool:
    return p.key in assistant.RELATIVE_DATES and not p.optional and p.unit == assistant.DATE["unit"]


CONTEXT_FAMILIES = [f for f in apis.FAMILIES if any(_here(p) or _relative(p) for p in f.params)]
CARRY_FAMILIES = [f for f in apis.FAMILIES if any(p.key in assistant.CARRY and not p.optional for p in f.params)]


def context(rng: random.Random, role: str) -> dict:
    f = rng.choice(CONTEXT_FAMILIES)
    today = dt.date(2025, 1, 1) + dt.timedelta(days=rng.randint(0, 3 * 365))
    city = rng.choice(assistant.CITIES)
    vals, say = apis._sample_values(f, rng), {}
    for p in f.params:
        if _relative(p):
            say[p.key], vals[p.key] = assistant.relative_date(today, rng)
        elif _here(p):  # the family's own city (its table knows it)
            city, say[p.key] = vals[p.key], rng.choice(("here", "where I am", "around me"))
    system = rng.choice(("Today is {wd}, {long}.", "Current date: {iso} ({wd}).", "It is {wd} {iso}."))
    system = system.format(wd=today.strftime("%A"), long=today.strftime("%B %-d, %Y"), iso=today.isoformat())
    if any(_here(p) for p in f.params) or rng.random() < 0.4:
        system += rng.choice((" The user is in {c}.", " User location: {c}.", " Location: {c}.")).format(c=city)
    tool, request, args, kwargs, result = apis._call_parts(f, rng, vals=vals, say=say)
    if rng.random() < 0.3:
        request = messy(request, rng)
    answer, kw = apis._answer(f, kwargs, result, rng)
    call = _call(0, tool, args)
    messages = [{"role": "system", "content": system}, {"role": "user", "content": request},
                {"role": "assistant", "content": "", "tool_calls": [call]}, *_results([call], [result]),
                {"role": "assistant", "content": answer}]
    return _record(rng, role, "context", f.id, _offer(rng, [tool], {f.id}, f.module), messages, [kw], 1)


def carry(rng: random.Random, role: str) -> dict:
    f = rng.choice(CARRY_FAMILIES)
    p = rng.choice([p for p in f.params if p.key in assistant.CARRY and not p.optional])
    refer, state = assistant.CARRY[p.key]
    vals = apis._sample_values(f, rng)
    tool, request, args, kwargs, result = apis._call_parts(f, rng, vals=vals, say={p.key: rng.choice(refer)})
    fact = rng.choice(state).format(v=vals[p.key])
    ack = rng.choice(("Got it, thanks.", "Noted. What can I do for you?", "Thanks, I'll keep that in mind."))
    answer, kw = apis._answer(f, kwargs, result, rng)
    call = _call(0, tool, args)
    messages = [{"role": "user", "content": fact}, {"role": "assistant", "content": ack},
                {"role": "user", "content": request},
                {"role": "assistant", "content": "", "tool_calls": [call]}, *_results([call], [result]),
                {"role": "assistant", "content": answer}]
    return _record(rng, role, "carry", f.id, _offer(rng, [tool], {f.id}, f.module), messages, [kw], 1)


def irrelevant(rng: random.Random, role: str) -> dict:
    """A real request whose tool (and every near one) is not offered: say so, call nothing."""
    f = rng.choice(apis.FAMILIES)
    _, request, _, _, _ = apis._call_parts(f, rng)
    if rng.random() < 0.3:
        request = messy(request, rng)
    others = apis._pick_others(rng, rng.choices([1, 2, 3, 5, 8], weights=[30, 25, 20, 15, 10])[0],
                               {f.id, *f.near}, f.module if rng.random() < 0.5 else None)
    answer = rng.choice(apis.NO_TOOL_REPLIES).format(task=f.task)
    return _record(rng, role, "no_tool", f.id, [apis._make_tool(g, rng)[0] for g in others],
                   [{"role": "user", "content": request}, {"role": "assistant", "content": answer}], [f.task], 0)


BUILDERS = {"parallel": parallel, "multi_call": multi_call, "chain": chain, "context": context, "carry": carry,
            "irrelevant": irrelevant}


def sample_composed(rng: random.Random, agent_role: str, kind: str) -> dict:
    for _ in range(50):  # a chain needs a numeric result and a parameter that takes it
        record = BUILDERS[kind](rng, agent_role)
        if record is not None:
            return record
    raise RuntimeError(f"compose: no {kind} record in 50 draws")
