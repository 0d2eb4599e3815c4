"""A small throwaway Python project, and a catalog of coding tools that really run against it.

The dataset generator builds one `Sandbox` per seed, then every tool call in a trajectory is
executed here, so each observation is true.

    sb = Sandbox.create(tmpdir / "project", random.Random(0))
    sb.execute("read_file", {"path": "src/geometry.py"})

What a call may touch: arguments are validated against the tool's schema first; paths are
relative, inside the project, never through a symlink and never into version control (the git
folder lives beside the project, not in it). `run_python` and `run_tests` execute in a child
with an empty environment, rlimits and, where the kernel allows, no network, its own PID
namespace and a read-only filesystem outside the project (tools/data/isolation.py). Any bad
argument becomes an `error: ...` observation, never an exception.
"""

from __future__ import annotations

import ast
import json
import os
import random
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import jsonschema

from tunepilot.tools.data.isolation import run_isolated

# name -> (description, parameters JSON Schema). additionalProperties=false: no invented keys.
CATALOG: dict[str, tuple[str, dict]] = {
    "read_file": ("Read a text file of the project, optionally a range of lines.", {
        "path": {"type": "string", "description": "File path relative to the project root."},
        "start_line": {"type": "integer", "minimum": 1, "description": "First line to return (1-based)."},
        "end_line": {"type": "integer", "minimum": 1, "description": "Last line to return (inclusive)."},
    }, ["path"]),
    "write_file": ("Create or overwrite a file with the given content.", {
        "path": {"type": "string", "description": "File path relative to the project root."},
        "content": {"type": "string", "description": "Full new content of the file."},
    }, ["path", "content"]),
    "list_files": ("List files under a directory of the project.", {
        "directory": {"type": "string", "description": "Directory relative to the project root."},
        "pattern": {"type": "string", "description": "Glob pattern such as '*.py'."},
    }, ["directory"]),
    "search_code": ("Search the project's files for a text or regular expression.", {
        "query": {"type": "string", "description": "Text to look for."},
        "path": {"type": "string", "description": "Limit the search to this directory or file."},
        "regex": {"type": "boolean", "description": "Treat the query as a regular expression."},
    }, ["query"]),
    "find_definition": ("Find where a function or class is defined.", {
        "symbol": {"type": "string", "description": "Function or class name."},
    }, ["symbol"]),
    "run_tests": ("Run the project's unit tests and report the outcome.", {
        "path": {"type": "string", "description": "Test file or directory to run."},
        "verbose": {"type": "boolean", "description": "List every test with its outcome."},
    }, ["path"]),
    "run_python": ("Run a Python snippet and return what it prints.", {
        "code": {"type": "string", "description": "Python source to execute."},
        "timeout": {"type": "integer", "minimum": 1, "maximum": 10, "description": "Time limit in seconds (1-10)."},
    }, ["code"]),
    "git_diff": ("Show uncommitted changes in the project.", {
        "path": {"type": "string", "description": "Limit the diff to this path."},
        "stat": {"type": "boolean", "description": "Show only a summary of changed files."},
    }, []),
    "code_complexity": ("Cyclomatic complexity of the functions in a Python file.", {
        "path": {"type": "string", "description": "Python file relative to the project root."},
        "function": {"type": "string", "description": "Only this function."},
    }, ["path"]),
    "count_lines": ("Count the lines of a file.", {
        "path": {"type": "string", "description": "File path relative to the project root."},
    }, ["path"]),
}

# Small function templates for the sandbox's modules: (name, source, [(args, expected)]).
_FUNCS = [
    ("clamp", "def {n}(value, low, high):\n    if value < low:\n        return low\n    if value > high:\n        return high\n    return value\n", [("5, 0, 3", "3"), ("-1, 0, 3", "0")]),
    ("mean", "def {n}(values):\n    if not values:\n        raise ValueError('empty')\n    return sum(values) / len(values)\n", [("[1, 2, 3]", "2.0")]),
    ("is_palindrome", "def {n}(text):\n    cleaned = ''.join(c.lower() for c in text if c.isalnum())\n    return cleaned == cleaned[::-1]\n", [("'Abba'", "True"), ("'abc'", "False")]),
    ("word_count", "def {n}(text):\n    return len(text.split())\n", [("'a b c'", "3")]),
    ("fizzbuzz", "def {n}(k):\n    if k % 15 == 0:\n        return 'FizzBuzz'\n    if k % 3 == 0:\n        return 'Fizz'\n    if k % 5 == 0:\n        return 'Buzz'\n    return str(k)\n", [("15", "'FizzBuzz'"), ("7", "'7'")]),
    ("slugify", "def {n}(title):\n    words = [w for w in title.lower().split() if w]\n    return '-'.join(words)\n", [("'Hello World'", "'hello-world'")]),
    ("factorial", "def {n}(k):\n    result = 1\n    for i in range(2, k + 1):\n        result *= i\n    return result\n", [("5", "120")]),
    ("chunk", "def {n}(items, size):\n    return [items[i:i + size] for i in range(0, len(items), size)]\n", [("[1, 2, 3], 2", "[[1, 2], [3]]")]),
    ("parse_version", "def {n}(text):\n    parts = text.split('.')\n    return tuple(int(p) for p in parts)\n", [("'1.2.3'", "(1, 2, 3)")]),
    ("merge_dicts", "def {n}(a, b):\n    out = dict(a)\n    for key, value in b.items():\n        if key in out and isinstance(out[key], dict) and isinstance(value, dict):\n            out[key] = {n}(out[key], value)\n        else:\n            out[key] = value\n    return out\n", [("{'x': 1}, {'y': 2}", "{'x': 1, 'y': 2}")]),
    ("median", "def {n}(values):\n    s = sorted(values)\n    mid = len(s) // 2\n    if len(s) % 2:\n        return s[mid]\n    return (s[mid - 1] + s[mid]) / 2\n", [("[3, 1, 2]", "2")]),
    ("celsius_to_f", "def {n}(c):\n    return c * 9 / 5 + 32\n", [("100", "212.0")]),
]
_BUGS = [(" < ", " > "), (" / ", " // "), ("[::-1]", ""), (" % 15", " % 5"), ("return 1", "return 0"),
         ("(2, ", "(1, "), ("len(s) // 2", "len(s) // 3"), (" * 9 / 5", " * 5 / 9"), (".split()", ".split(' ')[:2]"),
         ("'-'", "'_'"), ("int(p)", "p"), ("out = dict(a)", "out = {}")]  # planted bugs: (good, bad)
_MODULES = ["utils", "mathx", "text", "helpers", "core", "tools", "numbers", "strings", "lists", "convert"]
_PREFIX = ["", "safe_", "fast_", "simple_", "compute_", "get_"]


def schema(name: str) -> dict:
    desc, props, required = CATALOG[name]
    return {"type": "function", "function": {"name": name, "description": desc, "parameters": {
        "type": "object", "properties": props, "required": required, "additionalProperties": False}}}


EXECUTES = {"run_python", "run_tests"}  # tools that run code (the rest only read or write project files)
MAX_READ = 1 << 20  # bytes of one file a tool reads


class ToolError(Exception):
    """A bad call: becomes the observation `error: ...`."""


@dataclass
class Sandbox:
    root: Path
    functions: dict[str, str] = field(default_factory=dict)  # function name -> module path
    broken: set[str] = field(default_factory=set)  # functions whose tests fail on purpose
    allow_exec: bool = True  # False: run_python / run_tests refused (a remote teacher without isolation)

    @property
    def git_dir(self) -> Path:
        return self.root.with_name(self.root.name + ".git")  # beside the project: code in it cannot plant hooks

    @classmethod
    def create(cls, root: Path, rng: random.Random, allow_exec: bool = True) -> "Sandbox":
        root.mkdir(parents=True, exist_ok=True)
        sb = cls(root.resolve(), allow_exec=allow_exec)
        root = sb.root
        pkg = rng.choice(["app", "lib", "proj", "core", "pkg"])
        (root / pkg).mkdir(exist_ok=True)
        (root / pkg / "__init__.py").write_text("")
        (root / "tests").mkdir(exist_ok=True)
        (root / "tests" / "__init__.py").write_text("")
        funcs = rng.sample(_FUNCS, len(_FUNCS))
        mods = rng.sample(_MODULES, 4)
        for i, (base, src, cases) in enumerate(funcs):
            mod = mods[i % len(mods)]
            name = rng.choice(_PREFIX) + base
            rel = f"{pkg}/{mod}.py"
            body = src.format(n=name)
            if rng.random() < 0.3:  # plant a bug; the real test run below decides what broke
                for good, bad in _BUGS:
                    if good in body:
                        body = body.replace(good, bad, 1)
                        break
            with open(root / rel, "a") as f:
                f.write(("\n\n" if f.tell() else "") + body)
            sb.functions[name] = rel
            test = root / "tests" / f"test_{mod}.py"
            if not test.exists():
                test.write_text(f"import unittest\n\nfrom {pkg}.{mod} import *\n\n\nclass Test{mod.title()}(unittest.TestCase):\n")
            with open(test, "a") as f:
                for j, (args, expected) in enumerate(cases):
                    f.write(f"    def test_{name}_{j}(self):\n        self.assertEqual({name}({args}), {expected})\n\n")
        (root / "README.md").write_text(f"# {pkg}\n\nSmall utility package.\n\nTODO: add docs for {mods[0]}.\n")
        sb._git("init", "-q")
        sb._git("add", "-A")
        sb._git("-c", "user.name=gen", "-c", "user.email=gen@localhost", "commit", "-qm", "init")
        report = sb._run_tests("tests", verbose=True)
        sb.broken = {n for n in sb.functions if re.search(rf"^test_{n}_\d+ .* \.\.\. (FAIL|ERROR)", report, re.M)}
        return sb

    def _git(self, *args: str, check: bool = True) -> str:
        """git on the host, with its folder outside the project and nothing configurable from inside it."""
        cmd = ["git", f"--git-dir={self.git_dir}", f"--work-tree={self.root}", "-c", "core.hooksPath=/dev/null",
               "-c", "core.fsmonitor=false", "-c", "diff.external=", "-c", "core.pager=cat", *args]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.git_dir), "GIT_CONFIG_NOSYSTEM": "1",
               "LANG": "C.UTF-8"}
        return subprocess.run(cmd, cwd=self.root, capture_output=True, text=True, check=check, env=env).stdout

    def _path(self, rel) -> Path:
        """A project path: relative, inside the project, no symlink anywhere on the way."""
        if not isinstance(rel, str) or not rel.strip() or "\0" in rel:
            raise ToolError(f"path {rel!r}: give a file path relative to the project root")
        if Path(rel).is_absolute():
            raise ToolError(f"path {rel!r}: absolute paths are refused; use a path relative to the project root")
        p = self.root
        for part in Path(rel).parts:
            if part == "..":
                raise ToolError(f"path escapes the project: {rel}")
            if part in (".git", self.git_dir.name):
                raise ToolError(f"path {rel!r}: version control files are not part of the project")
            p = p / part
            if p.is_symlink():
                raise ToolError(f"path {rel!r}: symlinks are refused")
        return p

    def _files(self, base: Path, pattern: str = "*"):
        """Regular files under `base` matching `pattern`, never through a symlink."""
        if Path(pattern).is_absolute() or ".." in Path(pattern).parts:
            raise ToolError(f"pattern {pattern!r}: use a relative glob such as '*.py'")
        if base.is_file():
            return [base]
        out = []
        for p in base.rglob(pattern):
            parts = p.relative_to(self.root).parts
            if p.is_file() and not any(self.root.joinpath(*parts[:i]).is_symlink() for i in range(1, len(parts) + 1)):
                out.append(p)
        return sorted(out)

    def _read(self, p: Path) -> str:
        if not p.is_file():
            raise ToolError(f"{p.relative_to(self.root)}: no such file")
        if p.stat().st_size > MAX_READ:
            raise ToolError(f"{p.relative_to(self.root)}: larger than {MAX_READ >> 20} MiB")
        return p.read_text(errors="replace")

    def execute(self, name: str, args: dict) -> str:
        """Run one catalog tool; the returned string is the observation the model sees (errors included)."""
        if name not in CATALOG:
            return f"error: unknown tool {name!r}"
        try:
            jsonschema.validate(args, schema(name)["function"]["parameters"])
        except jsonschema.ValidationError as e:
            where = "/".join(str(x) for x in e.absolute_path) or "arguments"
            return f"error: {where}: {e.message}"
        if name in EXECUTES and not self.allow_exec:
            return (f"error: {name} is refused here: this machine cannot isolate executed code "
                    "(no network/PID/mount namespaces); pass --allow-unisolated-exec to run it anyway")
        try:
            return getattr(self, "_" + name)(**args)
        except (ToolError, OSError, ValueError, SyntaxError, re.error, RecursionError, NotImplementedError) as e:
            return f"error: {e}"

    def _read_file(self, path, start_line=None, end_line=None):
        lines = self._read(self._path(path)).splitlines()
        lo = (start_line or 1) - 1
        hi = end_line or len(lines)
        return "\n".join(f"{i + 1}: {l}" for i, l in enumerate(lines[lo:hi], start=lo))

    def _write_file(self, path, content):
        p = self._path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "w") as f:
            f.write(content)
        return f"wrote {len(content.encode())} bytes to {path}"

    def _list_files(self, directory, pattern="*"):
        files = [str(p.relative_to(self.root)) for p in self._files(self._path(directory), pattern)]
        return "\n".join(files) if files else "no files"

    def _search_code(self, query, path=".", regex=False):
        try:
            rx = re.compile(query if regex else re.escape(query))
        except re.error as e:
            raise ToolError(f"query {query!r} is not a valid regular expression ({e})") from None
        hits = []
        for p in self._files(self._path(path)):
            for i, line in enumerate(self._read(p).splitlines(), 1):
                if rx.search(line):
                    hits.append(f"{p.relative_to(self.root)}:{i}: {line.strip()}")
        return "\n".join(hits[:20]) if hits else "no matches"

    def _find_definition(self, symbol):
        for p in self._files(self.root, "*.py"):
            for node in ast.walk(ast.parse(self._read(p))):
                if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name == symbol:
                    return f"{p.relative_to(self.root)}:{node.lineno}"
        return f"{symbol} is not defined in the project"

    def _run_tests(self, path, verbose=False):
        target = self._path(path)
        if not target.exists():
            raise ToolError(f"{path}: no such file or directory")
        cmd = [sys.executable, "-m", "unittest"]
        cmd += ["discover", "-s", path, "-t", "."] if target.is_dir() else [path.replace("/", ".").removesuffix(".py")]
        cmd += ["-v"] if verbose else []
        r = run_isolated(cmd, root=self.root, timeout=60)
        if r.timed_out:
            return "error: the tests ran past the 60 s limit and were stopped"
        keep = [l for l in r.output.strip().splitlines() if l.startswith(("Ran ", "OK", "FAILED"))
                or (verbose and " ... " in l) or l.startswith("FAIL:")]
        return re.sub(r" in \d+\.\d+s", "", "\n".join(keep))  # drop timings: same seed -> same bytes

    def _run_python(self, code, timeout=5):
        r = run_isolated([sys.executable, "-c", code], root=self.root, timeout=timeout)
        if r.timed_out:
            return f"error: the code ran past its {timeout} s limit and was stopped"
        return r.output.strip()[-500:] or "(no output)"

    def _git_diff(self, path=None, stat=False):
        if path is not None:
            self._path(path)
        out = self._git("diff", *(["--stat"] if stat else []), *(["--", path] if path else []), check=False).strip()
        return out or "no changes"

    def _code_complexity(self, path, function=None):
        tree = ast.parse(self._read(self._path(path)))
        rows = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and (function is None or node.name == function):
                branches = sum(isinstance(n, (ast.If, ast.For, ast.While, ast.IfExp, ast.BoolOp, ast.ExceptHandler,
                                               ast.comprehension)) for n in ast.walk(node))
                rows[node.name] = 1 + branches
        return json.dumps(rows) if rows else f"no function {function} in {path}"

    def _count_lines(self, path):
        return str(len(self._read(self._path(path)).splitlines()))

    def reset(self) -> None:
        """Undo what a trajectory wrote or ran, so the next one sees the pristine project."""
        self._git("checkout", "-q", "--", ".")
        self._git("clean", "-qfdx")

