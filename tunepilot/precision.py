"""Compute precision chosen by what the device can really do, in one place.

    from tunepilot.precision import choose_precision, cpu_info, matmul_probe
    p = choose_precision("auto")   # Precision(dtype='fp32', autocast=False, reason='fp32: this CPU has no native bf16 (AVX2)')
    model = AutoModelForCausalLM.from_pretrained(path, dtype=p.torch_dtype)
    matmul_probe()                 # {'fp32_gflops': 64.1, 'bf16_gflops': 148.3, ...}: what `tunepilot doctor` prints

The rule (training, evaluation, merging; the packed-attention path follows the dtype it is given):
  CUDA with bf16         -> bf16
  CUDA without bf16      -> fp16
  CPU with native bf16   -> bf16 weights + bf16 autocast (oneDNN bf16 with the instructions listed:
                            avx512_bf16 or amx_bf16; oneDNN alone also says yes on plain AVX-512)
  any other CPU          -> fp32, no autocast: bf16 is emulated there (a 1024x576 @ 576x1536 matmul took
                            28 ms in fp32 and 1,400 ms in bf16 on an AVX2-capped AMD EPYC, 2 cores)
`--precision bf16|fp16|fp32` overrides; the choice and its reason go into training_config.json, the
evaluation report and the journal.
"""

from __future__ import annotations

import functools
import os
import platform
import time
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from tunepilot import TunepilotError

PrecisionName = Literal["auto", "bf16", "fp16", "fp32"]


class CpuInfo(BaseModel):
    """What this CPU can do, as torch and the kernel see it."""

    model: str  # /proc/cpuinfo "model name", e.g. "AMD EPYC"
    capability: str  # torch's vector ISA: AVX2, AVX512, DEFAULT (aarch64 NEON/SVE report their own)
    native_bf16: bool  # oneDNN has bf16 kernels here (avx512_bf16 / AMX / aarch64 bf16)
    flags: list[str]  # the bf16/AMX/AVX-512 flags of /proc/cpuinfo that matter for speed
    cores: int  # os.cpu_count()
    threads: int  # torch intra-op threads

    @property
    def kind(self) -> str:
        """The CPU kind as reported beside every speed: "AMD EPYC, AVX512, native bf16"."""
        return f"{self.model}, {self.capability}, {'native bf16' if self.native_bf16 else 'no native bf16'}"

    @property
    def key(self) -> str:
        """Stable key for caches and the memory store: numbers measured on one kind of CPU never
        serve another (model, ISA, bf16 support, cores)."""
        return f"{self.model}|{self.capability}|{'bf16' if self.native_bf16 else 'nobf16'}|{self.cores}c"


class Precision(BaseModel):
    """The dtype one tool computes in, and why."""

    requested: PrecisionName  # what the user asked for (--precision)
    dtype: Literal["bf16", "fp16", "fp32"]  # weights and activations
    autocast: bool  # CPU: bf16 autocast around the forward (fp32 LoRA matmuls run in bf16)
    device: Literal["cpu", "cuda"]
    reason: str  # one line for the journal: "fp32: this CPU has no native bf16 (AVX2)"

    @property
    def torch_dtype(self):
        import torch

        return {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[self.dtype]


_INTERESTING = ("avx2", "avx512f", "avx512_bf16", "avx512_fp16", "amx_bf16", "amx_tile", "bf16", "sve", "asimd")


_BF16_INSTRUCTIONS = {"avx512_bf16", "amx_bf16", "bf16"}  # x86 AVX512-BF16 / AMX-BF16, aarch64 FEAT_BF16


def _read_cpuinfo() -> tuple[str, set[str]]:
    """(model name, flags) from /proc/cpuinfo; ("", set()) where there is none."""
    model, flags = "", set()
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        lines = []
    for line in lines:
        key, _, value = line.partition(":")
        key = key.strip()
        if key in ("model name", "Model") and not model:
            model = value.strip()
        elif key in ("flags", "Features") and not flags:  # x86 / aarch64
            flags = set(value.split())
    return model, flags


@functools.lru_cache(maxsize=1)
def cpu_info() -> CpuInfo:
    """This machine's CPU (cached per process; the environment can cap oneDNN's ISA, e.g.
    ONEDNN_MAX_CPU_ISA=AVX2, and torch's with ATEN_CPU_CAPABILITY, which this honours)."""
    import torch

    model, flags = _read_cpuinfo()
    try:
        mkldnn = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        mkldnn = False
    # oneDNN also says "supported" on AVX-512 CPUs without bf16 instructions (it emulates them there: a
    # 2.8 GHz Xeon with avx512f but no avx512_bf16 probed 32 GFLOP/s in bf16 and trained at 77 tokens/s):
    # native means the instructions are there too, where the kernel lists them
    listed = bool(flags & _BF16_INSTRUCTIONS) if flags else None
    native = mkldnn and listed is not False
    return CpuInfo(model=model or platform.machine() or "unknown", capability=torch.backends.cpu.get_cpu_capability(), native_bf16=native,
                   flags=sorted(f for f in flags if f in _INTERESTING), cores=os.cpu_count() or 1,
                   threads=torch.get_num_threads())


def choose_precision(requested: PrecisionName = "auto", device: Literal["cpu", "cuda"] | None = None) -> Precision:
    """The compute precision for this device (module docstring). `device` None: CUDA if available."""
    import torch

    if requested not in ("auto", "bf16", "fp16", "fp32"):
        raise TunepilotError(f"--precision {requested}: use auto, bf16, fp16 or fp32")
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
        name = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "GPU"
        if requested == "auto":
            dtype, why = ("bf16", f"{name} supports bf16") if bf16 else ("fp16", f"{name} has no bf16")
        else:
            dtype, why = requested, "asked for (--precision)"
        return Precision(requested=requested, dtype=dtype, autocast=False, device="cuda", reason=f"{dtype}: {why}")
    cpu = cpu_info()
    if requested == "fp16":
        raise TunepilotError("--precision fp16: fp16 training and inference need a GPU; on CPU use bf16 or fp32")
    if requested == "auto":
        if cpu.native_bf16:
            dtype, why = "bf16", f"this CPU has native bf16 ({cpu.capability})"
        else:
            dtype, why = "fp32", f"this CPU has no native bf16 ({cpu.capability}), bf16 would be emulated"
    elif requested == "bf16":
        why = "asked for (--precision)" + ("" if cpu.native_bf16 else
                                           f"; this CPU has no native bf16 ({cpu.capability}): emulated, slow")
        dtype = "bf16"
    else:
        dtype, why = "fp32", "asked for (--precision)"
    return Precision(requested=requested, dtype=dtype, autocast=dtype == "bf16", device="cpu",
                     reason=f"{dtype}: {why}")


def matmul_probe(seconds: float = 2.0) -> dict:
    """GFLOP/s of a training-shaped matmul (1024 tokens x 576 -> 1536, a SmolLM2 MLP projection) in
    fp32 and bf16 on this machine's CPU, about `seconds` in all. Each dtype is timed in short blocks
    and the fastest block counts: on a shared VM a neighbour's burst slows some blocks, never speeds
    one up. The estimator's CPU rate comes from it (cached per CPU kind in the memory store)."""
    import torch

    m, k, n = 1024, 576, 1536
    out = {"shape": [m, k, n], "threads": torch.get_num_threads()}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        a, b = torch.randn(m, k, dtype=dtype), torch.randn(k, n, dtype=dtype)
        t0 = time.perf_counter()
        a @ b  # warm-up: oneDNN picks and caches its kernel
        best = time.perf_counter() - t0
        end = time.perf_counter() + seconds / 2
        while best < seconds / 8 and time.perf_counter() < end:  # an emulated dtype: one slow call says enough
            runs, t0 = 0, time.perf_counter()
            while runs < 1 or time.perf_counter() - t0 < seconds / 16:
                a @ b
                runs += 1
            best = min(best, (time.perf_counter() - t0) / runs)
        out[f"{name}_gflops"] = round(2 * m * k * n / best / 1e9, 1)
        out[f"{name}_ms"] = round(best * 1e3, 2)
    return out


def machine_report(probe: dict | None = None) -> dict:
    """What `tunepilot doctor` prints about compute: the CPU (ISA, native bf16, AMX, cores, threads), a
    GPU if any, the matmul probe, and the dtype each tool will use with `--precision auto`."""
    import torch

    cpu = cpu_info()
    p = choose_precision("auto")
    gpu = None
    if torch.cuda.is_available():
        gpu = {"name": torch.cuda.get_device_name(0), "count": torch.cuda.device_count(),
               "bf16": torch.cuda.is_bf16_supported()}
    return {"cpu": cpu.model_dump() | {"kind": cpu.kind, "key": cpu.key,
                                       "amx": any(f.startswith("amx") for f in cpu.flags)},
            "gpu": gpu, "probe": probe or matmul_probe(),
            "tools": {tool: p.reason for tool in ("train", "eval", "export merge")}}
