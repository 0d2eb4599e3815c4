"""tools/export.py and tools/llamacpp.py with the real llama.cpp: a tiny model trained a few steps ->
merge -> GGUF f16 / Q8_0 / Q4_K_M -> reloaded and scored in llama.cpp -> Modelfile; `doctor`."""

import json
from pathlib import Path

import pytest

from tunepilot.tools.export import ExportSpec, export
from tunepilot.tools.llamacpp import LLAMA_CPP_PYTHON, LlamaCppGenerator, binding_version, doctor
from tunepilot.tools.train import TrainSpec, train

pytestmark = pytest.mark.skipif(binding_version() != LLAMA_CPP_PYTHON,
                                reason="llama-cpp-python not installed (scripts/bootstrap.sh installs it)")


@pytest.fixture(scope="module")
def tiny_adapter(tiny_model, tiny_data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("train")
    train(TrainSpec(data=tiny_data, out=out, model=tiny_model, max_steps=2, eval_steps=100))
    return out / "adapter"


@pytest.fixture(scope="module")
def exported(tiny_model, tiny_data, tiny_adapter, tmp_path_factory):
    out = tmp_path_factory.mktemp("export")
    steps = []
    report = export(ExportSpec(adapter=tiny_adapter, model=tiny_model, out=out, quants=["q8_0", "q4_k_m"], verify=3),
                    log=steps.append)
    return out, report, steps


def test_export_writes_every_gguf_and_they_reload_in_llama_cpp(exported):
    out, report, steps = exported
    assert set(report.files) == {"f16", "q8_0", "q4_k_m", "lora"}
    sizes = {k: report.files[k]["mb"] for k in report.files}
    assert sizes["q4_k_m"] < sizes["q8_0"] < sizes["f16"]
    for name in ("f16", "q8_0", "q4_k_m"):
        gen = LlamaCppGenerator(Path(report.files[name]["path"]), n_ctx=512)
        g = gen.generate([{"messages": [{"role": "user", "content": "List the files."}]}], max_new_tokens=8)[0]
        assert g.new_tokens >= 1 and g.latency_s > 0
    assert (out / "merged" / "config.json").exists() and not list(out.glob("*.part"))
    assert steps[0].startswith("merging") and any("Q4_K_M" in s for s in steps)


def test_verification_report_has_success_and_latency_per_quant(exported):
    out, report, _ = exported
    assert set(report.verification) == {"hf", "q8_0", "q4_k_m", "http"}
    assert report.verification["hf"]["runtime"] == "transformers"
    for q in ("q8_0", "q4_k_m"):
        v = report.verification[q]
        assert v["runtime"] == "llama.cpp" and v["n"] == 3
        assert 0.0 <= v["success_rate"] <= 1.0 and v["latency_s"]["avg"] > 0 and v["latency_s"]["p95"] > 0
        assert v["peak_rss_mb"] > 0 and 0 < v["model_memory_mb"] < v["peak_rss_mb"]
    saved = json.loads((out / "export_report.json").read_text())
    assert saved["verification"]["q8_0"]["latency_s"] == report.verification["q8_0"]["latency_s"]


def test_the_chosen_gguf_is_verified_through_tunepilot_serve_over_http(exported):
    """A real server on 127.0.0.1, the openai client, the same items and scorer: the same greedy,
    constrained decoding as in-process, so the same success; latency is the HTTP round trip."""
    out, report, steps = exported
    http, inproc = report.verification["http"], report.verification[report.verification["http"]["quant"]]
    assert http["runtime"] == "http" and http["n"] == inproc["n"] == 3
    assert http["success_rate"] == inproc["success_rate"] and http["failures"] == inproc["failures"]
    assert http["latency_s"]["p95"] > 0 and http["latency_s"]["p50"] > 0
    assert any("tunepilot serve" in s for s in steps) and (out / "serve.log").exists()


def test_template_round_trip_and_modelfile(exported):
    out, report, _ = exported
    check = report.template_check
    assert check["ok"], check
    assert len(check["cases"]) >= 6 and all(c["equal"] for c in check["cases"])
    text = (out / "Modelfile").read_text()
    chosen = report.chosen or "q8_0"
    assert text.startswith(f"FROM ./model-{chosen}.gguf")
    assert 'PARAMETER stop "<|im_end|>"' in text and "TEMPLATE" in text and "<|im_start|>" in text
    assert report.ollama["command"].startswith("ollama create")


def test_doctor_reports_the_toolchain_and_a_smoke_conversion(tiny_model):
    rep = doctor(tiny_model)
    names = {c["check"]: c for c in rep["checks"]}
    assert names["llama-cpp-python"]["ok"] and LLAMA_CPP_PYTHON in names["llama-cpp-python"]["detail"]
    assert names["converters"]["ok"]
    assert names["smoke conversion"]["ok"], names["smoke conversion"]
    assert "q8_0" in names["smoke conversion"]["detail"]


def test_export_rejects_unknown_quant(tmp_path):
    with pytest.raises(ValueError, match="q3_xs"):
        ExportSpec(out=tmp_path, quants=["q3_xs"])


def test_cli_doctor_prints_the_machine_and_stores_its_probe(tiny_model, tmp_path):
    """`tunepilot doctor`: CPU kind, native bf16, threads, the fp32/bf16 matmul probe and each tool's dtype,
    and the probe lands in the memory store where the estimator reads it."""
    import os
    import subprocess
    import sys

    from tunepilot.memory.store import Memory
    from tunepilot.precision import choose_precision, cpu_info

    env = {**os.environ, "TUNEPILOT_MEMORY": str(tmp_path / "m.sqlite")}
    p = subprocess.run([sys.executable, "-m", "tunepilot.cli", "doctor", "--model", tiny_model], capture_output=True,
                       text=True, env=env)
    assert p.returncode == 0, p.stderr[-2000:]
    shown = " ".join(p.stderr.split())  # the console writes to stderr, wrapped at its width
    assert cpu_info().kind in shown and "matmul probe" in shown and "GFLOP/s" in shown
    for tool in ("train", "eval", "export merge"):
        assert f"{tool} {choose_precision('auto').reason}" in shown
    stored = Memory(tmp_path / "m.sqlite").cpu_probe(measure=lambda: pytest.fail("the probe should be stored"))
    assert f"fp32 {stored['fp32_gflops']:.0f} GFLOP/s" in shown and stored["cpu"]["native_bf16"] == cpu_info().native_bf16
