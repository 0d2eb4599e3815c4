"""llama.cpp, pinned: its own converters and quantizer, a generator for evaluation, and `doctor`.

    python -m tunepilot.tools.llamacpp --install     # what scripts/bootstrap.sh runs: build + converters
    tunepilot doctor                       # versions, converters, a smoke conversion of a tiny model

One version of llama.cpp for everything: `llama-cpp-python==LLAMA_CPP_PYTHON` vendors it. Its sdist
is fetched once from the package registry into the cache; the Python binding is built from it, and
`convert_hf_to_gguf.py`, `convert_lora_to_gguf.py`, `conversion/` and `gguf-py/` are extracted from
the same file, so converter, GGUF writer and runtime always come from one llama.cpp commit.
K-quants (Q4_K_M, Q5_K_M) are made by llama.cpp's quantizer (`llama_model_quantize`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

from tunepilot import TunepilotError
from tunepilot.paths import home

LLAMA_CPP_PYTHON = "0.3.36"
QUANTS = {"f16": 1, "q8_0": 7, "q4_k_m": 15, "q5_k_m": 17}  # llama_ftype values (llama.h)
_VENDOR = f"llama_cpp_python-{LLAMA_CPP_PYTHON}/vendor/llama.cpp/"
_EXTRACT = ("convert_hf_to_gguf.py", "convert_lora_to_gguf.py", "conversion/", "gguf-py/", "LICENSE")


def cache() -> Path:
    return home() / "llama.cpp" / LLAMA_CPP_PYTHON


def sdist(download: bool = True) -> Path:
    """The pinned llama-cpp-python sdist, downloaded once (pip, from the configured index)."""
    found = sorted(cache().glob("llama_cpp_python-*.tar.gz"))
    if found:
        return found[0]
    if not download:
        raise TunepilotError(f"llama.cpp {LLAMA_CPP_PYTHON} sources are not cached; run `tunepilot doctor --install`")
    cache().mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache()) as tmp:
        r = subprocess.run([sys.executable, "-m", "pip", "download", f"llama-cpp-python=={LLAMA_CPP_PYTHON}",
                            "--no-deps", "--no-binary", ":all:", "-d", tmp, "-q"], capture_output=True, text=True)
        files = list(Path(tmp).glob("llama_cpp_python-*.tar.gz"))
        if r.returncode != 0 or not files:
            raise TunepilotError(f"could not download llama-cpp-python=={LLAMA_CPP_PYTHON}: {r.stderr.strip()[-300:]}")
        os.replace(files[0], cache() / files[0].name)
    return cache() / files[0].name


def converters(download: bool = True) -> Path:
    """Folder with llama.cpp's converter scripts (extracted atomically from the pinned sdist)."""
    out = cache() / "convert"
    if (out / "convert_hf_to_gguf.py").exists():
        return out
    src = sdist(download)
    with tempfile.TemporaryDirectory(dir=cache()) as tmp:
        with tarfile.open(src) as tar:
            members = [m for m in tar.getmembers() if m.name.startswith(_VENDOR)
                       and m.name[len(_VENDOR):].startswith(_EXTRACT) and (m.isfile() or m.isdir())]
            tar.extractall(tmp, members=members, filter="data")
        shutil.rmtree(out, ignore_errors=True)
        os.replace(Path(tmp) / _VENDOR, out)
    return out


def binding_version() -> str | None:
    try:
        import llama_cpp
    except ImportError:
        return None
    return llama_cpp.__version__


def install_binding() -> None:
    """Build llama-cpp-python from the cached sdist unless the pinned version is importable.
    CPU build without the multimodal part (FACTS: ~4.5 min on 2 cores); a GPU user can pass their
    own CMAKE_ARGS (e.g. -DGGML_CUDA=on)."""
    if binding_version() == LLAMA_CPP_PYTHON:
        return
    env = dict(os.environ)
    env.setdefault("CMAKE_ARGS", "-DLLAVA_BUILD=OFF -DLLAMA_BUILD_TOOLS=OFF")
    env.setdefault("CMAKE_BUILD_PARALLEL_LEVEL", str(os.cpu_count() or 2))
    r = subprocess.run([sys.executable, "-m", "pip", "install", "-q", str(sdist())], env=env)
    if r.returncode != 0:
        raise TunepilotError("building llama-cpp-python failed (needs gcc/g++ and cmake); see the pip output above")


def _run_converter(args: list[str], what: str) -> None:
    conv = converters()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(conv / "gguf-py"), str(conv)]), "NO_LOCAL_GGUF": ""}
    r = subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, cwd=conv)
    if r.returncode != 0:
        tail = "\n".join((r.stderr or r.stdout).strip().splitlines()[-6:])
        raise TunepilotError(f"{what} failed (llama.cpp {LLAMA_CPP_PYTHON} converter):\n{tail}")


def convert_hf(model_dir: Path, out_file: Path, outtype: str = "f16") -> Path:
    """HF folder -> GGUF (f16/bf16/q8_0/f32) with llama.cpp's convert_hf_to_gguf.py."""
    tmp = out_file.with_name(out_file.name + ".part")
    _run_converter([str(converters() / "convert_hf_to_gguf.py"), str(model_dir), "--outfile", str(tmp),
                    "--outtype", outtype], f"converting {model_dir} to GGUF")
    os.replace(tmp, out_file)
    return out_file


def convert_lora(adapter_dir: Path, base_dir: Path, out_file: Path, outtype: str = "f16") -> Path:
    """PEFT LoRA adapter -> GGUF LoRA (load with llama.cpp's --lora on the base GGUF)."""
    tmp = out_file.with_name(out_file.name + ".part")
    _run_converter([str(converters() / "convert_lora_to_gguf.py"), str(adapter_dir), "--base", str(base_dir),
                    "--outfile", str(tmp), "--outtype", outtype], f"converting adapter {adapter_dir} to GGUF")
    os.replace(tmp, out_file)
    return out_file


def quantize(src: Path, dst: Path, quant: str, threads: int | None = None) -> Path:
    """f16 GGUF -> `quant` (q8_0, q4_k_m, q5_k_m) with llama.cpp's quantizer."""
    import llama_cpp

    if quant not in QUANTS:
        raise TunepilotError(f"--quant {quant}: unknown; choose from {', '.join(QUANTS)}")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = QUANTS[quant]
    params.nthread = threads or os.cpu_count() or 2
    tmp = dst.with_name(dst.name + ".part")
    with _quiet(dst.with_name(dst.name + ".log")):  # llama.cpp logs every tensor to the C stdio
        rc = llama_cpp.llama_model_quantize(str(src).encode(), str(tmp).encode(), params)
    if rc != 0 or not tmp.exists():
        tmp.unlink(missing_ok=True)
        raise TunepilotError(f"quantizing {src.name} to {quant} failed (llama_model_quantize returned {rc})")
    os.replace(tmp, dst)
    return dst


def load(gguf: Path, n_ctx: int = 2048, threads: int | None = None):
    """llama_cpp.Llama on `gguf`, quiet. On builds with AMX kernels, llama.cpp's extra CPU buffer
    types (AMX / repacked weights) are turned off: with them every quantized model (Q8_0, Q4_K_M)
    segfaulted in its first decode on this project's Sapphire Rapids VMs, while f16 ran. Set
    TUNEPILOT_LLAMA_EXTRA_BUFTS=1 to keep them."""
    import llama_cpp
    import llama_cpp.llama_cpp as api

    default = api.llama_model_default_params
    amx = "AMX_INT8 = 1" in llama_cpp.llama_print_system_info().decode(errors="ignore")
    if amx and os.environ.get("TUNEPILOT_LLAMA_EXTRA_BUFTS") != "1":
        def params():
            p = default()
            p.use_extra_bufts = False
            return p

        api.llama_model_default_params = params
    try:
        gpu = -1 if llama_cpp.llama_supports_gpu_offload() else 0  # a CUDA/Metal build: every layer on the GPU
        return llama_cpp.Llama(model_path=str(gguf), n_ctx=n_ctx, n_threads=threads or os.cpu_count(), verbose=False,
                               seed=0, n_gpu_layers=gpu)
    finally:
        api.llama_model_default_params = default


@contextmanager
def _quiet(log: Path):
    """Send the C library's stdout/stderr to `log` for the duration (Python's streams are untouched)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with open(log, "ab") as f:
        os.dup2(f.fileno(), 1)
        os.dup2(f.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


class LlamaCppGenerator:
    """The evaluator's generator interface on a GGUF in llama.cpp: prompts rendered with the GGUF's
    own embedded chat template (what the runtime does), greedy, one request at a time."""

    def __init__(self, gguf: Path, n_ctx: int = 2048, threads: int | None = None, constrained: bool = False):

        import psutil

        from tunepilot.tools.modelfile import embedded_template

        self.path = Path(gguf)
        self._proc = psutil.Process()
        self._rss0 = self._proc.memory_info().rss
        self.model_memory_mb = 0.0  # RSS the model added to this process: weights touched, KV cache, buffers
        self.template = embedded_template(self.path)
        if not self.template:
            raise TunepilotError(f"{gguf}: no tokenizer.chat_template in the GGUF metadata")
        self.llm = load(self.path, n_ctx=n_ctx, threads=threads)
        self.bos, self.eos = (self.llm.detokenize([t], special=True).decode(errors="ignore") if t >= 0 else ""
                              for t in (self.llm.token_bos(), self.llm.token_eos()))
        self.stop = [s for s in {self.eos, "<|im_end|>"} if s]
        self.constrained = constrained
        self._lltok = None

    def _constraint(self, record: dict, required: bool = False):
        """Schema-constrained tool calls (tools/constrained.py) as a llama-cpp-python logits processor;
        `required`: the reply must open with a call (tool_choice "required" or a named function)."""
        if not self.constrained or not record.get("tools"):
            return None
        import llama_cpp
        from llguidance.llamacpp import lltokenizer_from_vocab

        from tunepilot.tools.constrained import Constraint

        if self._lltok is None:
            end = self.llm.tokenize(b"<|im_end|>", add_bos=False, special=True)
            stop = [t for t in {self.llm.token_eos(), *(end if len(end) == 1 else [])} if t >= 0]
            vocab = llama_cpp.llama_model_get_vocab(self.llm.model)
            with warnings.catch_warnings():  # llguidance reads token attributes with a deprecated call, once per token
                warnings.simplefilter("ignore", DeprecationWarning)
                self._lltok = lltokenizer_from_vocab(vocab, n_vocab=self.llm.n_vocab(), eos_token=stop)
        return llama_cpp.LogitsProcessorList([Constraint(self._lltok, [record["tools"]], required).llama_cpp()])

    def prompt(self, record: dict) -> str:
        from tunepilot.tools.modelfile import render_jinja
        from tunepilot.chat import render_messages

        return render_jinja(self.template, render_messages(record), add_generation_prompt=True,
                            bos_token=self.bos, eos_token=self.eos)

    def complete(self, record: dict, max_new_tokens: int = 192, required: bool = False) -> dict:
        """One greedy reply to `record` (its messages end before the reply): {"text", "latency_s",
        "new_tokens", "finish_reason"}. The evaluator and `tunepilot serve` both decode through here."""
        prompt = self.prompt(record)
        t0 = time.perf_counter()
        res = self.llm.create_completion(prompt, max_tokens=max_new_tokens, temperature=0.0, top_k=1,
                                         stop=self.stop, seed=0, logits_processor=self._constraint(record, required))
        dt = time.perf_counter() - t0
        self.model_memory_mb = max(self.model_memory_mb, (self._proc.memory_info().rss - self._rss0) / 2**20)
        choice = res["choices"][0]
        return {"text": choice["text"].strip(), "latency_s": dt, "new_tokens": res["usage"]["completion_tokens"],
                "prompt_tokens": res["usage"]["prompt_tokens"], "finish_reason": choice.get("finish_reason") or "stop"}

    def generate(self, records: list[dict], max_new_tokens: int = 192, batch_size: int = 1) -> list:
        from tunepilot.chat import Generation

        out = []
        for r in records:
            c = self.complete(r, max_new_tokens)
            out.append(Generation(c["text"], c["latency_s"], c["new_tokens"]))
        return out


def doctor(smoke_model: str | None = None) -> dict:
    """Check the export toolchain before a long run needs it: versions, converters, quantizer, and a
    smoke conversion (HF -> f16 GGUF -> q8_0 -> load -> generate) of a small model."""
    import gguf
    import torch
    import transformers

    checks = []

    def check(name, fn):
        t0 = time.perf_counter()
        try:
            detail = fn()
            checks.append({"check": name, "ok": True, "detail": detail, "s": round(time.perf_counter() - t0, 1)})
        except Exception as e:  # noqa: BLE001 - every failure becomes a report line
            checks.append({"check": name, "ok": False, "detail": str(e).splitlines()[-1][:300] if str(e) else repr(e),
                           "s": round(time.perf_counter() - t0, 1)})

    check("llama-cpp-python", lambda: _need(binding_version() == LLAMA_CPP_PYTHON,
                                            f"{binding_version() or 'not installed'} (pinned {LLAMA_CPP_PYTHON})"))
    check("converters", lambda: str(converters(download=False)))
    check("python packages", lambda: f"torch {torch.__version__}, transformers {transformers.__version__}, "
                                     f"gguf {getattr(gguf, '__version__', '?')}")
    check("ollama", lambda: shutil.which("ollama") or "not found (optional: the Modelfile bundle is written anyway)")
    if all(c["ok"] for c in checks[:2]):
        check("smoke conversion", lambda: _smoke(smoke_model))
    return {"ok": all(c["ok"] for c in checks), "llama_cpp_python": LLAMA_CPP_PYTHON, "checks": checks}


def _need(ok: bool, detail: str) -> str:
    if not ok:
        raise TunepilotError(detail)
    return detail


def _smoke(model: str | None) -> str:
    """HF folder -> f16 -> q8_0 and q4_k_m -> load each -> generate a few tokens."""
    from tunepilot.models import resolve_model, tiny_llama

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(resolve_model(model)) if model else tiny_llama(Path(tmp) / "tiny", hidden=256, ffn=512)
        f16 = convert_hf(src, Path(tmp) / "m-f16.gguf")
        done = []
        for q in ("q8_0", "q4_k_m"):
            g = quantize(f16, Path(tmp) / f"m-{q}.gguf", q)
            gen = LlamaCppGenerator(g, n_ctx=256).generate([{"messages": [{"role": "user", "content": "Hi"}]}],
                                                         max_new_tokens=4)[0]
            done.append(f"{q} {g.stat().st_size / 2**20:.1f} MB ({gen.new_tokens} tokens generated)")
        return f"{model or 'tiny llama'}: f16 {f16.stat().st_size / 2**20:.1f} MB, " + ", ".join(done)


if __name__ == "__main__":
    if "--install" in sys.argv:
        install_binding()
        print(json.dumps({"llama_cpp_python": binding_version(), "converters": str(converters())}))
    else:
        print(json.dumps(doctor(sys.argv[1] if len(sys.argv) > 1 else None), indent=2))
