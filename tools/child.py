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
import inspect
import json
import os
import subprocess
import sys
import time
import typing
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel

from tunepilot import TunepilotError
from tunepilot.atomic import write_json
from tunepilot.redact import clip

T = TypeVar("T", bound=BaseModel)


class ToolFailed(TunepilotError):
    pass


PROGRESS_ENV = "TUNEPILOT_PROGRESS_FILE"  # where a child writes its progress events (JSON lines)

def _resolve(target: str):
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def call(target: str, spec: BaseModel, result_type: type[T], *, out: Path, timeout: float | None = None,
         progress=None) -> T:
    """Run `target(spec)` in a child Python; its result is written to `out` and returned typed. With
    `progress`, a target that takes `progress=` reports through a JSON-lines file the parent relays."""
    from tunepilot.tools.signals import last_error

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    spec_file, log_file = out.with_name(out.stem + ".spec.json"), out.with_name(out.stem + ".log")
    spec_file.write_text(spec.model_dump_json(indent=2) + "\n")
    out.unlink(missing_ok=True)
    ticks = out.with_name(out.stem + ".progress.jsonl")
    ticks.unlink(missing_ok=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"} | ({PROGRESS_ENV: str(ticks)} if progress else {})
    with open(log_file, "wb") as log:
        p = subprocess.Popen([sys.executable, "-m", __spec__.name if __spec__ else "tunepilot.tools.child", target,
                              str(spec_file), str(out)], stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline, seen = (time.monotonic() + timeout) if timeout else None, 0
        while True:
            try:
                p.wait(timeout=0.5)
                break
            except subprocess.TimeoutExpired:
                if deadline and time.monotonic() > deadline:
                    p.kill()
                    p.wait()
                    raise ToolFailed(f"{target} did not finish within {timeout:.0f} s; log: {log_file}") from None
            seen = _relay(ticks, seen, progress)
        _relay(ticks, seen, progress)
    if p.returncode != 0 or not out.exists():
        tail = log_file.read_text(errors="replace").splitlines()[-40:]
        raise ToolFailed(f"{target} failed (exit {p.returncode}): {clip(last_error(tail), 400)} — full log: {log_file}")
    return result_type.model_validate_json(out.read_text())


def _relay(ticks: Path, seen: int, progress) -> int:
    """Hand the progress lines written since `seen` (bytes) to `progress`; returns the new offset."""
    if progress is None or not ticks.exists():
        return seen
    with open(ticks, "rb") as f:
        f.seek(seen)
        data = f.read()
    lines = data.split(b"\n")
    for line in lines[:-1]:  # the last piece may be half-written
        try:
            progress(json.loads(line))
        except ValueError:
            pass
    return seen + len(data) - len(lines[-1])


def _writer(path: str):
    def progress(event: dict) -> None:
        with open(path, "a") as f:
            f.write(json.dumps(event) + "\n")
    return progress


def main(argv: list[str]) -> int:
    target, spec_file, out = argv
    fn = _resolve(target)
    hints = typing.get_type_hints(fn)
    spec_type = next(v for k, v in hints.items() if k != "return")
    extra = {"progress": _writer(os.environ[PROGRESS_ENV])} if os.environ.get(PROGRESS_ENV) and \
        "progress" in inspect.signature(fn).parameters else {}
    result = fn(spec_type.model_validate_json(Path(spec_file).read_text()), **extra)
    write_json(Path(out), result.model_dump(mode="json"))  # a record: masked, atomic
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except TunepilotError as e:
        print(f"TunepilotError: {e}", file=sys.stderr)
        sys.exit(2)
