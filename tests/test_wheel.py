"""One installable package: build the wheel, install it into a fresh venv, and run `tunepilot doctor`
and a tiny-model `tunepilot run` from a folder outside the repository (prompts, schemas, YAML and
JSONL data must come from the wheel)."""

import json
import os
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_wheel_works_outside_the_repository(tmp_path, tiny_model):
    whl_dir, src = tmp_path / "wheel", tmp_path / "src"  # built from a copy: setuptools writes build/ beside it
    shutil.copytree(REPO, src, symlinks=True, ignore=shutil.ignore_patterns(".venv", ".git", "runs", "build", "*.egg-info",
                                                                            "__pycache__", ".pytest_cache"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(whl_dir),
                    str(src)], check=True, capture_output=True)
    wheel = next(whl_dir.glob("tunepilot-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"tunepilot"}  # no top-level agent/, tools/, memory/ to clash with other projects
    for data in ("tunepilot/agent/playbook.yaml", "tunepilot/tools/faults.yaml", "tunepilot/prompts/planner.md",
                 "tunepilot/schemas/request.schema.json", "tunepilot/tools/data/general_probe.jsonl"):
        assert data in names, data

    # a fresh venv; its dependencies come from this interpreter's site-packages (no download, no build),
    # but not this checkout: the editable install's finder is not loaded there
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    purelib = subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    deps = [p for p in site.getsitepackages() + [site.getusersitepackages()] if Path(p).is_dir()]
    Path(purelib, "_deps.pth").write_text("\n".join(deps) + "\n")
    subprocess.run([py, "-m", "pip", "install", "-q", "--no-deps", str(wheel)], check=True, capture_output=True)

    outside = tmp_path / "elsewhere"
    outside.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    where = subprocess.run([py, "-c", "import tunepilot, importlib.util as u; print(tunepilot.__file__); "
                                      "print(u.find_spec('agent'))"], cwd=outside, env=env, capture_output=True,
                           text=True, check=True).stdout.split()
    assert where[0].startswith(purelib) and where[1] == "None"

    tp = str(venv / "bin" / "tunepilot")
    doc = subprocess.run([tp, "doctor", "--json"], cwd=outside, env=env, capture_output=True, text=True)
    assert doc.returncode == 0, doc.stderr[-2000:]
    assert "cpu" in json.loads(doc.stdout)["machine"]

    run = subprocess.run([tp, "run", "tool calls: at least 0% success, under 600 s per answer, at most 100 GB",
                          "--model", tiny_model, "--runs-dir", str(outside / "runs"), "--run-id", "w-1",
                          "--n-examples", "40", "--max-steps", "2", "--eval-limit", "3",
                          "--set", "evaluation.export=false", "--set", "evaluation.suites=[]", "--json"],
                         cwd=outside, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout)
    assert out["decision"] == "deploy" and out["status"] == "awaiting_approval"
    assert (outside / "runs" / "w-1" / "artifacts" / "iter-1" / "train" / "adapter" / "adapter_config.json").exists()
