"""Run a tool in a child process and get its typed report back: crash isolation (an OOM or a
segfault in a model runtime cannot take the agent down; the child's peak memory is its own)
without going through the CLI or parsing dict shapes.

    from tunepilot.tools.child import call
    result = call("tunepilot.tools.evaluate:evaluate", EvalSpec(...), EvalResult, out=folder / "eval.json")

The child (`python -m tunepilot.tools.child MODULE:FUNCTION SPEC.json RESULT.json`) validates the spec
against the function's annotated type, calls it, and writes the returned model atomically; the
parent validates the file as `result_type`. A failure raises ToolFailed with the child's last
error line and the path of its full log.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import typing
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel

from tunepilot import TunepilotError
from tunepilot.redact import clip, redact

T = TypeVar("T", bound=BaseModel)


class ToolFailed(TunepilotError):
    pass


def _resolve(target: str):
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def call(target: str, spec: BaseModel, result_type: type[T], *, out: Path, timeout: float | None = None) -> T:
    """Run `target(spec)` in a child Python; its result is written to `out` and returned typed."""
    from tunepilot.tools.signals import last_error

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    spec_file, log_file = out.with_name(out.stem + ".spec.json"), out.with_name(out.stem + ".log")
    spec_file.write_text(spec.model_dump_json(indent=2) + "\n")
    out.unlink(missing_ok=True)
    with open(log_file, "wb") as log:
        try:
            p = subprocess.run([sys.executable, "-m", __spec__.name if __spec__ else "tunepilot.tools.child", target,
                                str(spec_file), str(out)], stdout=log, stderr=subprocess.STDOUT, timeout=timeout,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
        except subprocess.TimeoutExpired as e:
            raise ToolFailed(f"{target} did not finish within {timeout:.0f} s; log: {log_file}") from e
    if p.returncode != 0 or not out.exists():
        tail = log_file.read_text(errors="replace").splitlines()[-40:]
        raise ToolFailed(f"{target} failed (exit {p.returncode}): {clip(last_error(tail), 400)} — full log: {log_file}")
    return result_type.model_validate_json(out.read_text())


def main(argv: list[str]) -> int:
    target, spec_file, out = argv
    fn = _resolve(target)
    hints = typing.get_type_hints(fn)
    spec_type = next(v for k, v in hints.items() if k != "return")
    result = fn(spec_type.model_validate_json(Path(spec_file).read_text()))
    tmp = Path(out).with_name(Path(out).name + ".partial")
    tmp.write_text(json.dumps(redact(result.model_dump(mode="json")), indent=2) + "\n")  # a record: masked
    os.replace(tmp, out)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except TunepilotError as e:
        print(f"TunepilotError: {e}", file=sys.stderr)
        sys.exit(2)
