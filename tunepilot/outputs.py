"""Outputs are created, never clobbered.

Every command that writes `--out` claims it before any work starts: a path that does not exist, an
empty folder, or something tunepilot wrote there earlier may be written; anything else is refused
with a one-line TunepilotError naming the path and why. Paths are resolved first (`..`, `.`, `/`, a
symlink), and the current folder, the home folder and every folder above them are never claimed.
`replace_dir` puts a folder built beside the old one (`new_sibling`) in its place atomically.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import secrets
import shutil
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from tunepilot import TunepilotError
from tunepilot.atomic import fsync_dir

Check = Callable[[Path], "str | None"]  # why an existing folder is not ours; None when it is


def claim_dir(path: Path, what: str, ours: Sequence[str] | Check) -> Path:
    """The resolved `path`, safe to write a `what` into: missing, empty, or ours, i.e. holding one
    of the marker files `ours` (or passing the check `ours`). Refused otherwise."""
    p = _resolved(path)
    if not p.exists():
        return p
    if not p.is_dir():
        raise _refused(path, p, "exists and is not a folder")
    if not any(p.iterdir()):
        return p
    if callable(ours):
        why = ours(p)
    else:
        why = None if any((p / m).exists() for m in ours) else f"none of {', '.join(ours)}"
    if why:
        raise _refused(path, p, f"exists and is not a tunepilot {what} ({why}); choose a new folder or remove it yourself")
    return p


def claim_file(path: Path, what: str, keys: Iterable[str]) -> Path:
    """The resolved `path`, safe to write a `what` file to: missing, or a JSON object holding `keys`
    (one tunepilot wrote). Refused otherwise."""
    p = _resolved(path)
    if p.is_dir():
        raise _refused(path, p, "is a folder; name a file")
    if p.exists():
        try:
            doc = json.loads(p.read_text())
        except (UnicodeDecodeError, json.JSONDecodeError):
            doc = None
        if not isinstance(doc, dict) or not set(keys) <= doc.keys():
            raise _refused(path, p, f"exists and is not a tunepilot {what}; choose a new file or remove it yourself")
    return p


def new_sibling(dest: Path) -> Path:
    """An empty hidden folder beside `dest` (same file system, so it can be renamed into place)."""
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")  # mkdtemp's would be 0700
    tmp.mkdir(parents=True)
    return tmp


def replace_dir(tmp: Path, dest: Path) -> None:
    """Put the finished folder `tmp` at `dest`, a sibling. An earlier `dest` is swapped out in one
    atomic exchange (Linux), else renamed to a hidden sibling first; it is deleted last. A crash
    leaves the old or the new folder complete at `dest` (in the fallback, for the instant between its
    two renames, the old one complete at the hidden sibling)."""
    if not dest.exists():
        os.rename(tmp, dest)
    elif _exchange(tmp, dest):
        shutil.rmtree(tmp)  # it holds the old folder now
    else:
        old = tmp.with_name(tmp.name + ".old")
        os.rename(dest, old)
        os.rename(tmp, dest)
        shutil.rmtree(old)
    fsync_dir(dest.parent)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (renameat2 RENAME_EXCHANGE); False where the system has no such call."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _resolved(path: Path) -> Path:
    p = Path(path).expanduser().resolve()
    cwd, home = Path.cwd().resolve(), Path.home().resolve()
    if p in (cwd, *cwd.parents, home, *home.parents):
        raise _refused(path, p, "is the current folder, the home folder or a folder above them; choose a new folder")
    return p


def _refused(given: Path, resolved: Path, why: str) -> TunepilotError:
    name = str(given) if Path(given) == resolved else f"{given} ({resolved})"
    return TunepilotError(f"--out {name}: {why}")
