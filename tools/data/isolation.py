"""Run code that a model or an endpoint wrote: an empty environment, limits, and the kernel's namespaces.

    r = run_isolated([sys.executable, "-c", code], root=project, timeout=5)
    r.output, r.timed_out, r.returncode

Every command gets:
- an empty environment (PATH, HOME = the project, LANG, PYTHONDONTWRITEBYTECODE): no API keys,
  no tokens, nothing the parent process was given;
- rlimits (address space, CPU seconds, processes, file size, open files, no core dumps);
- its own session, killed as a whole when the time is up.

Where the kernel allows unprivileged user namespaces (util-linux `unshare`), it also gets:
- no network (a new network namespace has only a downed loopback: nothing to connect to);
- its own PID namespace: when its first process dies, every process it started dies too, even
  one that detached with setsid;
- a read-only view of the whole filesystem except the project folder (bind mounts remounted ro).

`isolation()` probes once per process what this machine allows and says it in words; the dataset
generator records it in metadata.json and refuses to execute code written by a remote teacher
when the namespaces are missing, unless the user passes --allow-unisolated-exec.
"""

from __future__ import annotations

import functools
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

LIMITS = {  # per command: generous for a unit-test run of a small project, tight for anything else
    resource.RLIMIT_AS: 1 << 30,  # 1 GiB of address space
    resource.RLIMIT_CPU: 20,  # CPU seconds (the wall-clock timeout is separate and shorter)
    resource.RLIMIT_NPROC: 64,  # new processes: the limit counts all of this user's, so it is set to what the user
    # already runs plus this (not enforced for real root: the PID namespace bounds it there)
    resource.RLIMIT_FSIZE: 8 << 20,  # 8 MiB per file written
    resource.RLIMIT_NOFILE: 64,
    resource.RLIMIT_CORE: 0,
}

MAX_OUTPUT = 64 << 10  # bytes of output kept

# Runs inside the new namespaces, before the command: the project stays writable, everything else
# is remounted read-only. Mount points are read from /proc/self/mountinfo (field 5).
_SETUP = r"""
set -e
mount --bind "$1" "$1"
root="$1"; shift
awk '{print $5}' /proc/self/mountinfo | while read -r mp; do
  [ "$mp" = "$root" ] && continue
  mount -o remount,bind,ro "$mp" 2>/dev/null || true
done
cd "$root"  # the working directory must be the new (writable) mount, not the one below it
exec "$@"
"""


@dataclass(frozen=True)
class Isolation:
    namespaces: bool  # network, PID and mount namespaces via unshare
    detail: str

    def summary(self) -> dict:
        return {"namespaces": self.namespaces, "network": "none" if self.namespaces else "host",
                "filesystem": "read-only outside the project" if self.namespaces else "host",
                "environment": "empty", "rlimits": {k: v for k, v in _limit_names().items()}, "detail": self.detail}


@dataclass(frozen=True)
class Result:
    returncode: int | None
    output: str  # stdout + stderr
    timed_out: bool


def _limit_names() -> dict[str, int]:
    return {name: LIMITS[getattr(resource, name)] for name in dir(resource)
            if name.startswith("RLIMIT_") and getattr(resource, name) in LIMITS}


def _env(root: Path) -> dict[str, str]:
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(root), "LANG": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0", "PYTHONNOUSERSITE": "1"}


def _user_processes() -> int:
    uid = os.getuid()
    n = 0
    for entry in os.scandir("/proc"):
        try:
            n += entry.name.isdigit() and entry.stat().st_uid == uid
        except OSError:
            pass
    return n


def _limits(nproc: int) -> None:  # in the child, before exec
    for kind, value in LIMITS.items():
        value = nproc + value if kind == resource.RLIMIT_NPROC else value
        soft, hard = resource.getrlimit(kind)
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(kind, (value, value))


def _wrap(cmd: list[str], root: Path) -> list[str]:
    return ["unshare", "--user", "--map-root-user", "--net", "--mount", "--pid", "--fork", "--kill-child",
            "--mount-proc", "sh", "-c", _SETUP, "sh", str(root), *cmd]


_PROBE = """
import errno, pathlib, socket, sys
pathlib.Path(sys.argv[1], "ok").touch()
try:
    open(sys.argv[2], "w")
    sys.exit("wrote outside the project")
except OSError:
    pass
try:
    socket.create_connection(("127.0.0.1", 9), timeout=2)
    sys.exit("reached the network")
except OSError as e:
    if e.errno != errno.ENETUNREACH:
        sys.exit(f"network not isolated ({e})")
"""


@functools.lru_cache(maxsize=1)
def isolation() -> Isolation:
    """What this machine allows, probed for real: the project writable, a file outside refused, no network."""
    if os.environ.get("TUNEPILOT_NO_NAMESPACES"):  # tests of the fallback path
        return Isolation(False, "namespaces turned off by TUNEPILOT_NO_NAMESPACES")
    if not shutil.which("unshare"):
        return Isolation(False, "no `unshare` (util-linux) on PATH")
    with tempfile.TemporaryDirectory() as tmp:
        inside, outside = Path(tmp, "project"), Path(tmp, "outside")
        inside.mkdir()
        try:
            r = subprocess.run(_wrap([sys.executable, "-c", _PROBE, str(inside), str(outside)], inside),
                               capture_output=True, text=True, timeout=30, env=_env(inside))
        except (OSError, subprocess.TimeoutExpired) as e:
            return Isolation(False, f"unshare failed: {e}")
        if r.returncode != 0 or outside.exists() or not (inside / "ok").exists():
            why = (r.stderr.strip().splitlines() or [f"exit {r.returncode}"])[-1]
            return Isolation(False, f"the kernel refused unprivileged namespaces ({why[:160]})")
    return Isolation(True, "user, network, PID and mount namespaces (util-linux unshare)")


def run_isolated(cmd: list[str], *, root: Path, timeout: float) -> Result:
    """Run `cmd` in `root` with an empty environment and the limits; namespaces where `isolation()` has them."""
    root = Path(root).resolve()
    full = _wrap(cmd, root) if isolation().namespaces else cmd
    with tempfile.TemporaryFile() as out:  # a file, not a pipe: a grandchild holding it cannot stall the read
        running = _user_processes() if os.path.isdir("/proc") else 0
        proc = subprocess.Popen(full, cwd=root, env=_env(root), stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=lambda: _limits(running))
        try:
            proc.wait(timeout=timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            _kill(proc)  # the whole session (and, with namespaces, every process the command started)
            proc.wait()
        out.seek(0)
        text = out.read(MAX_OUTPUT).decode(errors="replace")
    return Result(None if timed_out else proc.returncode, text, timed_out)


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
