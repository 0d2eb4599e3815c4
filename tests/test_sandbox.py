"""The sandbox holds: code written by a model or an endpoint sees no secrets, no network, nothing
outside the project, and dies whole at its time limit; bad arguments are observations, not crashes.

Each test reproduces a finding of the security review of 9f2b393 (issue 14)."""

import random
import socket
import threading
import time

import pytest

from tunepilot.tools.data.isolation import isolation
from tunepilot.tools.data.sandbox import Sandbox

CANARY = "sk-canary-7f3a9b2c4d5e6f708192"

needs_namespaces = pytest.mark.skipif(not isolation().namespaces, reason=f"no namespaces here: {isolation().detail}")


@pytest.fixture
def sb(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", CANARY)
    monkeypatch.setenv("HF_TOKEN", "hf_" + CANARY[3:])
    return Sandbox.create(tmp_path / "project", random.Random(0))


def test_executed_code_sees_no_secrets(sb):
    obs = sb.execute("run_python", {"code": "import os; print(sorted(os.environ.items()))"})
    assert "PATH" in obs and "canary" not in obs and "OPENAI_API_KEY" not in obs and "HF_TOKEN" not in obs
    tests = sb.execute("write_file", {"path": "tests/test_env.py", "content":
                       "import os, unittest\n\nclass T(unittest.TestCase):\n    def test_env(self):\n"
                       "        self.assertNotIn('OPENAI_API_KEY', os.environ)\n        self.assertNotIn('HF_TOKEN', os.environ)\n"})
    assert tests.startswith("wrote")
    assert sb.execute("run_tests", {"path": "tests/test_env.py"}).endswith("OK")


@needs_namespaces
def test_executed_code_reaches_no_network(sb):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(3)
    seen = []
    threading.Thread(target=lambda: seen.append(_accept(listener)), daemon=True).start()
    port = listener.getsockname()[1]
    obs = sb.execute("run_python", {"code": f"import urllib.request\nurllib.request.urlopen('http://127.0.0.1:{port}/', timeout=2)"})
    time.sleep(0.5)
    listener.close()
    assert "Network is unreachable" in obs
    assert seen in ([], [None])  # the listener saw no connection


def _accept(listener):
    try:
        return listener.accept()
    except OSError:
        return None


@needs_namespaces
def test_executed_code_cannot_write_outside_the_project(sb, tmp_path):
    outside = tmp_path / "outside.txt"
    obs = sb.execute("run_python", {"code": f"open({str(outside)!r}, 'w').write('x')"})
    assert "Read-only file system" in obs and not outside.exists()
    assert sb.execute("run_python", {"code": "open('inside.txt', 'w').write('ok'); print(open('inside.txt').read())"}) == "ok"


def test_file_tools_refuse_escapes_and_symlinks(sb, tmp_path):
    assert sb.execute("write_file", {"path": "../escaped.txt", "content": "x"}).startswith("error:")
    assert sb.execute("write_file", {"path": str(tmp_path / "abs.txt"), "content": "x"}).startswith("error:")
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path / "abs.txt").exists()
    (sb.root / "passwd").symlink_to("/etc/passwd")  # as code run in the sandbox could leave behind
    (sb.root / "linked").symlink_to(tmp_path)
    assert "symlinks are refused" in sb.execute("read_file", {"path": "passwd"})
    assert "symlinks are refused" in sb.execute("write_file", {"path": "linked/x.txt", "content": "x"})
    assert "root:" not in sb.execute("search_code", {"query": "root"})
    assert "passwd" not in sb.execute("list_files", {"directory": "."})
    assert "version control" in sb.execute("write_file", {"path": ".git/config", "content": "[core]\n"})


@needs_namespaces
def test_a_detached_grandchild_dies_with_the_timeout(sb, tmp_path):
    marker = sb.root / "late.txt"
    code = ("import os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(2.5)\n"
            f"    open({str(marker)!r}, 'w').write('alive')\nelse:\n    time.sleep(30)\n")
    t = time.monotonic()
    obs = sb.execute("run_python", {"code": code, "timeout": 1})
    assert "limit" in obs and time.monotonic() - t < 5
    time.sleep(3)
    assert not marker.exists()


def test_memory_and_file_size_are_limited(sb):
    assert "MemoryError" in sb.execute("run_python", {"code": "x = bytearray(2 << 30)"})
    assert "File too large" in sb.execute("run_python", {"code": "open('big', 'wb').write(b'0' * (64 << 20))"})


@pytest.mark.parametrize("name,args,message", [
    ("run_python", {"code": "print(1)", "timeout": -1}, "timeout"),
    ("run_python", {"code": "print(1)", "timeout": 10 ** 6}, "timeout"),
    ("run_python", {"code": 5}, "code"),
    ("search_code", {"query": "(unclosed", "regex": True}, "not a valid regular expression"),
    ("list_files", {"directory": ".", "pattern": "/etc/*"}, "relative glob"),
    ("list_files", {"directory": ".", "pattern": "../*"}, "relative glob"),
    ("read_file", {"path": "README.md", "start_line": 0}, "start_line"),
    ("read_file", {"path": "README.md", "bogus": 1}, "bogus"),
    ("read_file", {"path": "no/such/file.py"}, "no such file"),
    ("run_tests", {"path": "nowhere"}, "no such file"),
    ("delete_everything", {}, "unknown tool"),
])
def test_bad_arguments_are_observations_not_crashes(sb, name, args, message):
    obs = sb.execute(name, args)
    assert obs.startswith("error:") and message in obs


def test_without_namespaces_a_remote_teachers_code_is_refused(tmp_path):
    sb = Sandbox.create(tmp_path / "project", random.Random(0), allow_exec=False)
    obs = sb.execute("run_python", {"code": "print(1)"})
    assert obs.startswith("error:") and "--allow-unisolated-exec" in obs
    assert sb.execute("read_file", {"path": "README.md"}).startswith("1: #")


def test_reset_undoes_what_code_wrote(sb):
    sb.execute("run_python", {"code": "open('junk.txt', 'w').write('x')"})
    sb.execute("write_file", {"path": "README.md", "content": "changed\n"})
    sb.reset()
    assert not (sb.root / "junk.txt").exists()
    assert (sb.root / "README.md").read_text().startswith("# ")
