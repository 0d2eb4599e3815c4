"""Which items of a third-party suite a bounded sample scores.

    from tunepilot.tools.sampling import spread
    items = spread(load_suite("simple_python"), 30)   # 30 items, evenly over the file

Below tools/evaluate.py (which samples a suite) and tools/suites.py (which compares base and tuned on
several), so neither imports the other for it.
"""

from __future__ import annotations


def spread(items: list, limit: int | None) -> list:
    """`limit` items spread evenly over a third-party suite, in file order (all of it without a limit).
    Suite files are not shuffled: BFCL simple_python's first 32 items scored 78.1 % for the quick
    start's adapter where all 400 scored 47.5 % (README, "Full BFCL categories"), so the first N
    would overstate a sample. Deterministic: every iteration scores the same items."""
    if not limit or limit >= len(items):
        return items
    return [items[i * len(items) // limit] for i in range(limit)]
