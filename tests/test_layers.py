"""The package's shape: one `tunepilot` package, no import cycles (function-level imports included),
imports point down the layers of ARCHITECTURE.md, modules stay small."""

import ast
import os
from pathlib import Path

import tunepilot

PKG = Path(tunepilot.__file__).parent
LAYERS = {"core": 0, "tools": 1, "memory": 1, "agent": 2, "cli": 3}  # may import its own layer and below
SIZE_EXEMPT = {"tunepilot/tools/data/apis.py"}  # a data table: the API catalogue


def _modules() -> dict[str, Path]:
    out = {}
    files = [Path(d) / f for d, _, names in os.walk(PKG, followlinks=True) for f in names if f.endswith(".py")]
    for f in sorted(files):
        rel = f.relative_to(PKG).with_suffix("")
        parts = ["tunepilot", *rel.parts]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = f
    return out


def _imports(path: Path, modules: dict) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for n in names:
            while n and n not in modules:
                n = n.rpartition(".")[0]
            if n and n != "tunepilot":
                found.add(n)
    return found


def _layer(mod: str) -> str:
    part = mod.split(".")[1] if mod.count(".") else "core"
    return {"cli": "cli", "ui": "cli", "web": "cli"}.get(part, part if part in LAYERS else "core")


def test_no_top_level_agent_tools_or_memory_modules_are_imported():
    for mod in _modules():
        assert mod.startswith("tunepilot"), mod
    src = "\n".join(p.read_text() for p in _modules().values())
    for bad in ("from agent", "from tools", "from memory", "import agent", "import tools", "import memory"):
        assert f"\n{bad}" not in src and f"    {bad}" not in src, bad


def test_no_import_cycles():
    modules = _modules()
    graph = {m: _imports(p, modules) - {m} for m, p in modules.items()}
    state, stack, cycles = {}, [], []

    def visit(m):
        state[m] = "open"
        stack.append(m)
        for n in sorted(graph[m]):
            if n.startswith(m + ".") or m.startswith(n + "."):
                continue  # a package and its own modules
            if state.get(n) == "open":
                cycles.append(stack[stack.index(n):] + [n])
            elif n not in state:
                visit(n)
        stack.pop()
        state[m] = "done"

    for m in graph:
        if m not in state:
            visit(m)
    assert cycles == []


def test_imports_point_down_the_layers():
    modules = _modules()
    up = []
    for m, p in modules.items():
        for n in _imports(p, modules):
            if LAYERS[_layer(n)] > LAYERS[_layer(m)]:
                up.append(f"{m} -> {n}")
    assert up == []


def test_modules_stay_small():
    big = {str(p.relative_to(PKG.parent)): n for p in _modules().values()
           if (n := len(p.read_text().splitlines())) > 400}
    assert set(big) <= SIZE_EXEMPT, big
