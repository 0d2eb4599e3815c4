"""tunepilot/precision.py: the dtype follows what the device can do, for train, eval and merge.

The "no native bf16" branch is forced by patching torch's own capability queries (what an AVX2-only
CPU answers); the training child then runs for real with what the parent chose."""

import json
from pathlib import Path

import pytest
import torch

from tunepilot import TunepilotError
from tunepilot import precision as P


@pytest.fixture
def cpu_kind(monkeypatch):
    """Make this process see a CPU of the given kind (ISA, native bf16), as torch reports it."""

    def set_kind(capability: str, native_bf16: bool, mkldnn: bool | None = None):
        flags = {"avx2", "avx512f"} | ({"avx512_bf16"} if native_bf16 else set())
        monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: capability)
        monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: native_bf16 if mkldnn is None else mkldnn)
        monkeypatch.setattr(P, "_read_cpuinfo", lambda: ("Test CPU", flags))
        monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
        P.cpu_info.cache_clear()

    yield set_kind
    P.cpu_info.cache_clear()


def test_cpu_without_native_bf16_gets_fp32_and_says_why(cpu_kind):
    cpu_kind("AVX2", False)
    p = P.choose_precision("auto")
    assert (p.dtype, p.autocast, p.device) == ("fp32", False, "cpu")
    assert p.torch_dtype is torch.float32
    assert p.reason.startswith("fp32: this CPU has no native bf16 (AVX2)")
    assert P.cpu_info().key.split("|")[1:3] == ["AVX2", "nobf16"]


def test_avx512_without_bf16_instructions_gets_fp32(cpu_kind):
    """Reported defect: on a Xeon with avx512f but no avx512_bf16, oneDNN answers "bf16 supported"
    (it emulates), so training and evaluation ran in bf16 at a tenth of fp32's speed."""
    cpu_kind("AVX512", False, mkldnn=True)
    p = P.choose_precision("auto")
    assert p.dtype == "fp32" and "no native bf16 (AVX512)" in p.reason


def test_cpu_with_native_bf16_keeps_bf16_and_autocast(cpu_kind):
    cpu_kind("AVX512", True)
    p = P.choose_precision("auto")
    assert (p.dtype, p.autocast) == ("bf16", True)
    assert "native bf16 (AVX512)" in p.reason


def test_explicit_precision_overrides_the_capability(cpu_kind):
    cpu_kind("AVX2", False)
    p = P.choose_precision("bf16")
    assert p.dtype == "bf16" and "asked for" in p.reason and "emulated" in p.reason
    assert P.choose_precision("fp32").dtype == "fp32"
    with pytest.raises(TunepilotError, match="fp16 .* need a GPU"):
        P.choose_precision("fp16")


def test_matmul_probe_measures_both_dtypes():
    r = P.matmul_probe(seconds=0.2)
    assert r["fp32_gflops"] > 0 and r["bf16_gflops"] > 0 and r["shape"] == [1024, 576, 1536]


@pytest.mark.parametrize("asked, want", [("auto", "fp32"), ("bf16", "bf16")])
def test_training_runs_in_the_chosen_dtype(cpu_kind, tiny_model, tiny_data, tmp_path, asked, want):
    """No native bf16: auto trains in fp32 (weights loaded as fp32 in the child); --precision bf16 is honoured."""
    from tunepilot.tools.train import TrainSpec, train

    cpu_kind("AVX2", False)
    r = train(TrainSpec(data=tiny_data, out=tmp_path / "t", model=tiny_model, max_steps=1, eval_steps=100,
                        max_length=512, precision=asked))
    cfg = json.loads((tmp_path / "t" / "training_config.json").read_text())
    assert cfg["precision"] == asked and cfg["precision_chosen"]["dtype"] == want
    assert cfg["precision_chosen"]["autocast"] is (want == "bf16")
    assert r.model_dtype == {"fp32": "torch.float32", "bf16": "torch.bfloat16"}[want]
    assert r.precision.startswith(f"{want}: ")


def test_evaluation_generates_in_fp32_without_native_bf16(cpu_kind, tiny_model, tiny_data):
    from tunepilot.tools.evaluate import EvalSpec, evaluate

    cpu_kind("AVX2", False)
    rep = evaluate(EvalSpec(data=tiny_data, model=tiny_model, limit=2, latency_probe=0, general_probe=False,
                            max_new_tokens=8))
    assert rep.precision.startswith("fp32: this CPU has no native bf16 (AVX2)")
    from tunepilot.tools.evaluate import Generator

    assert Generator(tiny_model).model.dtype == torch.float32
    assert Generator(tiny_model, precision="bf16").model.dtype == torch.bfloat16


def test_merge_happens_in_fp32_without_native_bf16(cpu_kind, tiny_model, tmp_path):
    from safetensors import safe_open

    from tunepilot.tools.export import ExportSpec, merge

    cpu_kind("AVX2", False)
    dest, _, prec = merge(ExportSpec(model=tiny_model, out=tmp_path), tmp_path / "merged")
    assert prec.dtype == "fp32"
    with safe_open(str(next(Path(dest).glob("*.safetensors"))), "pt") as f:
        assert {f.get_tensor(k).dtype for k in f.keys()} == {torch.float32}
