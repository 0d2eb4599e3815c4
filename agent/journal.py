"""The run folder and its journal: what a person reads before approving a deployment.

    runs/<id>/request.json   the typed request (validated against schemas/request.schema.json)
    runs/<id>/plan.json      the latest iteration's plan (validated against schemas/plan.schema.json)
    runs/<id>/journal.jsonl  append-only events, one JSON object per line, fsynced per event
    runs/<id>/journal.md     the same events rendered for a person (rewritten after each event)
    runs/<id>/artifacts/     data, adapters, evaluation reports

Each event: seq, time (UTC), actor (user | planner:<name> | tool | system), kind, tool, input,
output (a summary, never weights or whole datasets), decision, rationale. Secrets never reach the
journal: keys that look like credentials are masked before writing.
"""

from __future__ import annotations

import json
import os
import re
from datetime import datetime, timezone
from pathlib import Path

from tunepilot import TunepilotError

RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")
SECRET_KEY = re.compile(r"(api[_-]?key|secret|password|authorization|bearer|(^|[_-])token$)", re.I)  # not max_tokens
SECRET_VALUE = re.compile(r"\b(sk-[A-Za-z0-9_-]{8,}|hf_[A-Za-z0-9]{8,})")


def runs_root(root: Path | None = None) -> Path:
    """`--runs-dir`, else $TUNEPILOT_RUNS, else ./runs."""
    return Path(root or os.environ.get("TUNEPILOT_RUNS") or Path.cwd() / "runs").resolve()


def run_dir(run_id: str, root: Path | None = None) -> Path:
    """The folder of a run; ids that could escape the runs folder are refused."""
    base = runs_root(root)
    if not RUN_ID.match(run_id or ""):
        raise TunepilotError(f"run id {run_id!r}: use letters, digits, '.', '_' or '-' (no paths)")
    path = (base / run_id).resolve()
    if path.parent != base:
        raise TunepilotError(f"run id {run_id!r} resolves outside {base}")
    return path


def new_run_id() -> str:
    return datetime.now(timezone.utc).strftime("r-%Y%m%d-%H%M%S-") + os.urandom(2).hex()


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def redact(obj):
    """Mask credential-looking keys and values anywhere in a JSON-like object."""
    if isinstance(obj, dict):
        return {k: "***" if SECRET_KEY.search(str(k)) and obj[k] else redact(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [redact(v) for v in obj]
    if isinstance(obj, str):
        return SECRET_VALUE.sub("***", obj)
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_json(path: Path, obj) -> None:
    """Atomic: a reader or a crash sees the old file or the new one, never half of one."""
    path = Path(path)
    tmp = path.with_name(path.name + ".partial")
    with open(tmp, "w") as f:
        f.write(json.dumps(redact(obj), indent=2, sort_keys=False, default=str) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class Journal:
    """Append-only event log of one run. Reopening continues the sequence numbers; a line cut
    short by a kill is dropped (and said so) so the file stays valid JSON lines."""

    def __init__(self, folder: Path, echo=None):
        self.folder = Path(folder)
        self.echo = echo  # called with each event (the CLI prints a line per step)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / "journal.jsonl"
        self.events: list[dict] = []
        torn = None
        if self.path.exists():
            raw = self.path.read_bytes()
            lines = raw.split(b"\n")
            good = b""
            for line in lines:
                if not line.strip():
                    continue
                try:
                    self.events.append(json.loads(line))
                    good += line + b"\n"
                except json.JSONDecodeError:
                    torn = line[:80].decode(errors="replace")
                    break
            if good != raw:
                tmp = self.path.with_name("journal.jsonl.partial")
                tmp.write_bytes(good)
                os.replace(tmp, self.path)
        if torn is not None:
            self.log("system", "recovered", rationale=f"dropped a journal line cut short by a crash: {torn!r}")

    @property
    def next_seq(self) -> int:
        return self.events[-1]["seq"] + 1 if self.events else 1

    def log(self, actor: str, kind: str, *, tool: str | None = None, input=None, output=None,
            decision: str | None = None, rationale: str | None = None) -> dict:
        event = {"seq": self.next_seq, "time": now(), "actor": actor, "kind": kind}
        for k, v in (("tool", tool), ("input", input), ("output", output), ("decision", decision),
                     ("rationale", rationale)):
            if v is not None:
                event[k] = redact(v)
        line = json.dumps(event, default=str, ensure_ascii=False)
        with open(self.path, "a") as f:
            f.write(line + "\n")
            f.flush()
            os.fsync(f.fileno())
        self.events.append(json.loads(line))
        self.render()
        if self.echo:
            self.echo(self.events[-1])
        return event

    def last(self, kind: str) -> dict | None:
        return next((e for e in reversed(self.events) if e["kind"] == kind), None)

    def render(self) -> None:
        md = render_markdown(self.folder, self.events)
        tmp = self.folder / "journal.md.partial"
        tmp.write_text(md)
        os.replace(tmp, self.folder / "journal.md")


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, dict):
        return ", ".join(f"{k}={_fmt(x)}" for k, x in v.items() if not isinstance(x, (dict, list)))
    if isinstance(v, list):
        return "; ".join(_fmt(x) for x in v)
    return str(v)


def render_markdown(folder: Path, events: list[dict]) -> str:
    """Every event as a numbered entry; decisions and their reasons stand out."""
    request = {}
    if (folder / "request.json").exists():
        request = json.loads((folder / "request.json").read_text())
    lines = [f"# Run {folder.name}", ""]
    if request:
        lines += [f"**Goal:** {request.get('goal', '')}", "",
                  f"Base model `{request.get('base_model')}`; method {request.get('training_config', {}).get('method')}; "
                  f"criteria {_fmt(request.get('criteria', {}))}; budget {_fmt(request.get('budget', {}))}.", ""]
    for e in events:
        head = f"### {e['seq']}. {e['time']} · {e['actor']} · {e['kind']}"
        if e.get("tool"):
            head += f" · `{e['tool']}`"
        lines.append(head)
        if e.get("decision"):
            lines.append(f"**Decision: {e['decision'].upper()}**")
        if e.get("rationale"):
            lines.append(f"> {e['rationale']}")
        for key in ("input", "output"):
            v = e.get(key)
            if v in (None, {}, []):
                continue
            if isinstance(v, dict):
                lines.append(f"- {key}:")
                for k, x in v.items():
                    lines.append(f"  - {k}: {_fmt(x)}")
            elif isinstance(v, list):
                lines.append(f"- {key}:")
                lines += [f"  - {_fmt(x)}" for x in v]
            else:
                lines.append(f"- {key}: {_fmt(v)}")
        lines.append("")
    return "\n".join(lines)
