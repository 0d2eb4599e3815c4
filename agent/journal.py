"""The run folder and its journal: the one record of a run, from which everything else is derived.

    runs/<id>/journal.jsonl        append-only events, one JSON object per line, fsynced per event
    runs/<id>/journal.corrupt.jsonl lines that could not be read, moved aside with their line numbers
    runs/<id>/journal.md           the same events rendered for a person (text from people and models escaped)
    runs/<id>/request.json         the typed request; decision.json, plan.json: renderings, never trusted
    runs/<id>/artifacts/           data, adapters, evaluation reports

Each event (agent/events.py): seq, time (UTC), actor (user | planner:<name> | tool | system), kind,
tool, input, output (a summary, never weights or whole datasets), decision, rationale.

Writers. The process that drives a run (start, resume, approve) holds the run lock (`.run.lock`,
an OS file lock): a second driver gets "run X is in use by pid N". Every append takes the short
append lock (`.append.lock`), reads what other writers (a `reject` from another terminal) appended
since, numbers the event after the last one on disk, starts it on a fresh line and fsyncs; so two
writers never share a sequence number. Secrets never reach the journal: credential values are
masked before writing (tunepilot/redact.py; names of environment variables, `*_env`, are kept).
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
from datetime import datetime, timezone
from pathlib import Path

from tunepilot import TunepilotError, atomic
from tunepilot.atomic import fsync_dir, write_text
from tunepilot.redact import redact

RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,79}")  # fullmatch: no trailing newline


ORDER = ("seq", "time", "actor", "kind", "tool", "input", "output", "decision", "rationale")


class RunInUse(TunepilotError):
    pass


def runs_root(root: Path | None = None) -> Path:
    """`--runs-dir`, else $TUNEPILOT_RUNS, else ./runs."""
    return Path(root or os.environ.get("TUNEPILOT_RUNS") or Path.cwd() / "runs").resolve()


def run_dir(run_id: str, root: Path | None = None) -> Path:
    """The folder of a run; ids that could escape the runs folder are refused."""
    base = runs_root(root)
    if not isinstance(run_id, str) or not RUN_ID.fullmatch(run_id):
        raise TunepilotError(f"run id {run_id!r}: use letters, digits, '.', '_' or '-' (no paths)")
    path = (base / run_id).resolve()
    if path.parent != base:
        raise TunepilotError(f"run id {run_id!r} resolves outside {base}")
    return path


def existing_run_dir(run_id: str, root: Path | None = None) -> Path:
    """The folder of a run that has a journal; a clear error otherwise."""
    folder = run_dir(run_id, root)
    if not (folder / "journal.jsonl").exists():
        raise TunepilotError(f"run {run_id}: not found under {runs_root(root)}")
    return folder


def new_run_id() -> str:
    return datetime.now(timezone.utc).strftime("r-%Y%m%d-%H%M%S-") + os.urandom(2).hex()


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


write_json = atomic.write_json  # atomic, durable, credentials masked


def _event(raw: bytes) -> dict | None:
    """One journal line as its event (the dict as written), or None when it is not one."""
    from tunepilot.agent.events import parse_event

    try:
        obj = json.loads(raw)
        parse_event(obj)  # refuses anything that is not a journal event
        return obj
    except (ValueError, TypeError):
        return None


def read_lines(path: Path) -> tuple[list[dict], list[tuple[int, str]]]:
    """The journal's events and its unreadable lines (line number, text); never raises on content."""
    good, bad = [], []
    if not path.exists():
        return good, bad
    for n, raw in enumerate(path.read_bytes().split(b"\n"), 1):
        if not raw.strip():
            continue
        obj = _event(raw)
        if obj is None:
            bad.append((n, raw.decode(errors="replace")))
        else:
            good.append(obj)
    return good, bad


class _FileLock:
    def __init__(self, path: Path):
        self.path, self.fd = path, None

    def acquire(self, block: bool) -> bool:
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | (0 if block else fcntl.LOCK_NB))
        except OSError as e:
            os.close(self.fd)
            self.fd = None
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return False
            raise
        return True

    def release(self) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None

    def __enter__(self):
        self.acquire(block=True)
        return self

    def __exit__(self, *exc):
        self.release()


class Journal:
    """Append-only event log of one run.

    Journal(folder)               the run's driver: takes the run lock, recovers a damaged file
    Journal(folder, driver=False) an occasional writer (reject): appends under the append lock only
    Journal.read(folder)          events without writing anything (show, runs)
    """

    def __init__(self, folder: Path, echo=None, driver: bool = True):
        self.folder = Path(folder)
        self.echo = echo  # called with each event (the CLI prints a line per step)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / "journal.jsonl"
        self.events: list[dict] = []
        self.listeners: list = []  # called with each event appended by this process (the run state folds it)
        self._run_lock = None
        if driver:
            self._run_lock = _FileLock(self.folder / ".run.lock")
            if not self._run_lock.acquire(block=False):
                pid = (self.folder / ".run.pid").read_text().strip() if (self.folder / ".run.pid").exists() else "?"
                raise RunInUse(f"run {self.folder.name} is in use by pid {pid} (a run, resume or approve is writing "
                               "it); wait for it to finish")
            (self.folder / ".run.pid").write_text(f"{os.getpid()}\n")
        with _FileLock(self.folder / ".append.lock"):
            self.events, bad = read_lines(self.path)
            if bad and driver:
                self._move_aside(bad)
            self._size = self.path.stat().st_size if self.path.exists() else 0
        if bad and driver:
            self.log("system", "recovered", output={"lines": [n for n, _ in bad]},
                     rationale=f"moved {len(bad)} unreadable journal line(s) to journal.corrupt.jsonl (a kill mid-write "
                               f"or a hand edit); every readable event was kept")

    @staticmethod
    def read(folder: Path) -> list[dict]:
        return read_lines(Path(folder) / "journal.jsonl")[0]

    def close(self) -> None:
        if self._run_lock:
            (self.folder / ".run.pid").unlink(missing_ok=True)
            self._run_lock.release()
            self._run_lock = None

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def _move_aside(self, bad: list[tuple[int, str]]) -> None:
        """Unreadable lines go to journal.corrupt.jsonl with their line numbers; the journal keeps every
        readable event, in order (rewritten atomically, file and folder fsynced)."""
        with open(self.folder / "journal.corrupt.jsonl", "a") as f:
            for n, text in bad:
                f.write(json.dumps({"line": n, "text": text, "moved_at": now()}) + "\n")
            f.flush()
            os.fsync(f.fileno())
        write_text(self.path, "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in self.events))

    @property
    def next_seq(self) -> int:
        return self.events[-1]["seq"] + 1 if self.events else 1

    def _catch_up(self) -> list[dict]:
        """Events other writers appended since this process last looked (under the append lock)."""
        size = self.path.stat().st_size if self.path.exists() else 0
        if size == self._size:
            return []
        if size < self._size:  # rewritten by a recovering driver: read it whole
            known = {e["seq"] for e in self.events}
            events = read_lines(self.path)[0]
            self._size = size
            new = [e for e in events if e["seq"] not in known]
            self.events = events
            return new
        with open(self.path, "rb") as f:
            f.seek(self._size)
            tail = f.read()
        new = [e for e in map(_event, tail.split(b"\n")) if e is not None]  # a torn line: the next driver moves it aside
        self.events += new
        return new

    def refresh(self) -> list[dict]:
        """Read what other writers appended meanwhile; listeners hear each new event."""
        with _FileLock(self.folder / ".append.lock"):
            new = self._catch_up()
        self._tell(new)
        return new

    def _tell(self, events: list[dict]) -> None:
        for e in events:
            for fn in self.listeners:
                fn(e)

    def log(self, actor: str, kind: str, *, tool: str | None = None, input=None, output=None,
            decision: str | None = None, rationale: str | None = None) -> dict:
        from tunepilot.agent.events import parse_event

        with _FileLock(self.folder / ".append.lock"):
            self._tell(self._catch_up())
            event = {"seq": self.next_seq, "time": now(), "actor": actor, "kind": kind}
            for k, v in (("tool", tool), ("input", input), ("output", output), ("decision", decision),
                         ("rationale", rationale)):
                if v is not None:
                    event[k] = redact(v)
            typed = parse_event(json.loads(json.dumps(event, default=str))).model_dump(exclude_none=True)
            event = {k: typed[k] for k in ORDER if k in typed}
            line = json.dumps(event, ensure_ascii=False).encode() + b"\n"
            with open(self.path, "ab") as f:
                if f.tell() and not _ends_with_newline(self.path):
                    f.write(b"\n")  # a writer killed mid-line: this event starts on a fresh line
                f.write(line)
                f.flush()
                os.fsync(f.fileno())
                self._size = f.tell()
            if len(self.events) == 0:
                fsync_dir(self.folder)
            self.events.append(event)
            self.render()  # under the lock: journal.md always shows the file as it is
        self._tell([event])
        if self.echo:
            self.echo(event)
        return event

    def last(self, kind: str) -> dict | None:
        return next((e for e in reversed(self.events) if e["kind"] == kind), None)

    def render(self) -> None:
        from tunepilot.agent.render import journal_markdown

        write_text(self.folder / "journal.md", journal_markdown(self.folder, self.events))


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"
