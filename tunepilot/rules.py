"""One rule engine for both tables of changes: the playbook (agent/playbook.yaml: what to change
when a criterion fails) and the fault ladder (tools/faults.yaml: what to change when training failed).

A rule:

    id: raise_rank              # quoted in the journal; `max_uses` times per run at most (default 1)
    fixes: [success]            # playbook: the failing criteria it addresses (ladders: the fault's own list)
    when: always                # playbook: always | a training signal (tools/signals.py) that must hold
    needs: cuda                 # skipped (and said so) when the machine lacks it
    change: {rank: "x2"}        # TrainingConfig fields (tunepilot/config.py) or `dataset.n_examples`;
                                # "xF" multiplies, "+N" adds, "p95" = the data's 95th-percentile length
                                # (never longer than now), any other value is set
    limit: {rank: 32}           # a ceiling, or a floor for a shrinking change (x0.5)
    start_over: true            # ladders: drop the checkpoints and train from the start
    rollback: true              # ladders: continue from the last good checkpoint (no config change)
    rationale: ...

A rule applies when the first field of its change moves (a halved batch already at 1 does not
double the accumulation alone), or, with no change, when it is a rollback. Every new config is
validated: a rule can never produce a config the model refuses.
"""

from __future__ import annotations

from dataclasses import dataclass

from tunepilot.config import TrainingConfig

EXTRA_FIELDS = frozenset({"dataset.n_examples"})  # what a rule may change outside the training config


@dataclass
class Step:
    id: str
    config: TrainingConfig  # the new config
    extra: dict  # the new values of EXTRA_FIELDS the rule changed
    changes: dict  # field -> (old, new)
    rationale: str
    start_over: bool = False
    rollback: bool = False


def _apply(op, old, p95: int | None):
    if op == "p95":
        return None if p95 is None or old is None else min(int(p95), old)
    if isinstance(op, str) and op[:1] in "x+" and _num(op[1:]):
        if old is None:
            return None  # a default the tool picks later: nothing to scale
        n = float(op[1:])
        v = old * n if op[0] == "x" else old + n
        return max(1, int(round(v))) if isinstance(old, int) and not isinstance(old, bool) else v
    return op


def _num(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def apply_rule(rule: dict, config: TrainingConfig, extra: dict | None = None, p95: int | None = None) -> Step | None:
    """The step this rule makes from `config` (and `extra`), or None when its change would not move it."""
    extra = dict(extra or {})
    values = config.model_dump()
    changes, update, new_extra = {}, {}, {}
    for name, op in (rule.get("change") or {}).items():
        old = extra.get(name) if name in EXTRA_FIELDS else values.get(name)
        value = _apply(op, old, p95)
        lim = (rule.get("limit") or {}).get(name)
        if lim is not None and isinstance(value, (int, float)) and not isinstance(value, bool):
            shrinking = isinstance(op, str) and op.startswith("x") and float(op[1:]) < 1
            value = max(value, lim) if shrinking else min(value, lim)
        if value is None or value == old:
            continue
        changes[name] = (old, value)
        (new_extra if name in EXTRA_FIELDS else update)[name] = value
    first = next(iter(rule.get("change") or {}), None)
    if first is None and not rule.get("rollback"):
        return None  # a step only a person can take (check the data)
    if first is not None and first not in changes:
        return None
    new = TrainingConfig.model_validate(values | update)
    return Step(rule["id"], new, extra | new_extra, changes, rule.get("rationale", ""),
                start_over=bool(rule.get("start_over")), rollback=bool(rule.get("rollback")))


def next_step(rules: list[dict], config: TrainingConfig, *, used: dict[str, int], capabilities: set[str],
              failing: set[str] | None = None, signals: set[str] | None = None, extra: dict | None = None,
              p95: int | None = None, skipped: list[str] | None = None) -> Step | None:
    """The first rule that addresses a failing criterion (when `failing` is given), whose signal holds,
    that is not used up, runnable here, and whose change still moves the config. `skipped` collects
    the rules passed over for a missing capability."""
    for rule in rules:
        if failing is not None and not failing & set(rule.get("fixes", [])):
            continue
        if used.get(rule["id"], 0) >= rule.get("max_uses", 1):
            continue
        when = rule.get("when", "always")
        if when != "always" and when not in (signals or set()):
            continue
        if rule.get("needs") and rule["needs"] not in capabilities:
            if skipped is not None:
                skipped.append(f"{rule['id']} (needs {rule['needs']}, not available here)")
            continue
        step = apply_rule(rule, config, extra, p95)
        if step is not None:
            return step
    return None
