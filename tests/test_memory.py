"""memory/store.py: a real SQLite file under a temp TUNEPILOT_HOME; no torch, no network."""

from __future__ import annotations

import sqlite3
import sys
from contextlib import closing

import pytest

from tunepilot.memory.store import SCHEMA_VERSION, Memory, detect_hardware, hardware_key
from tunepilot.config import TrainingConfig

MODEL = "smollm2-135m-instruct"
CPU = {"device": "cpu", "cpus": 2, "ram_gb": 23.4, "gpus": 0, "gpu_name": None, "vram_gb": None}
GPU = {"device": "cuda", "cpus": 16, "ram_gb": 128.0, "gpus": 1, "gpu_name": "NVIDIA H100 80GB HBM3", "vram_gb": 79.1}


def cfg(batch_size: int, rank: int = 16, lr: float = 1e-3) -> dict:
    return TrainingConfig(batch_size=batch_size, learning_rate=lr, rank=rank).model_dump()


@pytest.fixture
def mem(tmp_path, monkeypatch) -> Memory:
    monkeypatch.setenv("TUNEPILOT_HOME", str(tmp_path))
    return Memory()


@pytest.fixture
def seeded(mem) -> Memory:
    """r-a: ok at batch 4 (0.80); r-b: OOM at batch 8; r-c: ok at batch 2, rank 32 (0.87)."""
    mem.record("r-a", MODEL, CPU, cfg(4), {"success_rate": 0.80, "tokens_per_s": 400.0}, "ok")
    mem.record("r-b", MODEL, CPU, cfg(8), {}, "cpu_oom",
               failures=[{"fault": "cpu_oom", "fix": "halve_batch", "fixed": True}])
    mem.record("r-c", MODEL, CPU, cfg(2, rank=32, lr=5e-4), {"success_rate": 0.87, "tokens_per_s": 380.0}, "ok")
    return mem


def test_db_lands_under_tunepilot_home(mem, tmp_path):
    assert mem.path == tmp_path / "memory.sqlite"
    assert mem.path.exists()
    with closing(sqlite3.connect(mem.path)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_hardware_key():
    assert hardware_key(CPU) == "cpu:2c/23GB"
    assert hardware_key(GPU) == "cuda:1xNVIDIA H100 80GB HBM3/79GB"


def test_cpu_kind_keeps_throughput_apart():
    """An AVX2 machine never plans with an AVX-512 bf16 machine's tokens/s, nor an fp32 run with a bf16 one's."""
    avx512 = CPU | {"cpu_kind": "AMD EPYC|AVX512|bf16|2c"}
    avx2 = CPU | {"cpu_kind": "AMD EPYC|AVX2|nobf16|2c"}
    assert hardware_key(avx2) == "cpu:2c/23GB/AMD EPYC|AVX2|nobf16|2c" != hardware_key(avx512)
    mem = Memory()
    mem.record("r-fast", MODEL, avx512, cfg(1) | {"precision": "auto"}, {"tokens_per_s": 290.0, "eval_s": 300.0}, "ok")
    assert mem.starting_point(MODEL, avx2) is None
    mem.record("r-slow", MODEL, avx2, cfg(1) | {"precision": "auto"}, {"tokens_per_s": 113.0}, "ok")
    assert mem.starting_point(MODEL, avx2)["tokens_per_s"] == 113.0
    assert mem.starting_point(MODEL, avx512, "auto")["tokens_per_s"] == 290.0
    assert mem.starting_point(MODEL, avx512, "auto")["eval_s"] == 300.0
    assert mem.starting_point(MODEL, avx512, "fp32")["tokens_per_s"] is None  # no fp32 run measured there


def test_cpu_probe_is_measured_once_per_cpu_kind_and_refreshed_on_demand(mem):
    calls = []

    def measure():
        calls.append(1)
        return {"fp32_gflops": 100.0 + len(calls), "bf16_gflops": 5.0}

    first = mem.cpu_probe(measure)
    again = Memory(mem.path).cpu_probe(measure)
    assert len(calls) == 1 and again["fp32_gflops"] == first["fp32_gflops"] == 101.0
    assert again["key"] == first["key"] and "|" in again["key"] and again["cpu"]["capability"]
    assert mem.cpu_probe(measure, refresh=True)["fp32_gflops"] == 102.0 and len(calls) == 2


def test_schema_1_database_gains_the_probes_table(tmp_path):
    path = tmp_path / "old.sqlite"
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE runs (id INTEGER PRIMARY KEY, time TEXT, run_id TEXT, model TEXT, hardware_key TEXT,"
                     " hardware TEXT, config TEXT, metrics TEXT, outcome TEXT)")
        conn.execute("INSERT INTO runs VALUES (1, 't', 'r-old', 'm', 'cpu:2c/23GB', '{}', '{}', '{}', 'ok')")
        conn.execute("PRAGMA user_version = 1")
        conn.commit()
    mem = Memory(path)
    assert mem.cpu_probe(lambda: {"fp32_gflops": 1.0, "bf16_gflops": 1.0})["fp32_gflops"] == 1.0
    assert mem.history()[0]["run_id"] == "r-old"
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2


def test_detect_hardware_without_torch(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch -> ImportError
    hw = detect_hardware()
    assert hw["device"] == "cpu" and hw["cpus"] >= 1 and hw["ram_gb"] > 0
    assert hardware_key(hw).startswith("cpu:")


def test_starting_point_picks_best_config_and_batch_bounds(seeded):
    sp = seeded.starting_point(MODEL, CPU)
    assert sp["config"] == cfg(2, rank=32, lr=5e-4)
    assert sp["success_rate"] == 0.87
    assert sp["max_ok_batch_size"] == 4
    assert sp["min_oom_batch_size"] == 8
    assert sp["tokens_per_s"] == 380.0  # latest ok run
    assert sp["source"] == ["r-a", "r-b", "r-c"]
    assert sp["rows"] == [1, 2, 3]
    assert sp["why"] == ("run r-c reached 0.87 success with lora rank 32, lr 0.0005; "
                         "batch 4 fit (r-a), batch 8 OOMed (r-b)")


def test_starting_point_ties_go_to_newest(mem):
    mem.record("r-old", MODEL, CPU, cfg(1, rank=8), {"success_rate": 0.9}, "ok")
    mem.record("r-new", MODEL, CPU, cfg(1, rank=16), {"success_rate": 0.9}, "ok")
    assert mem.starting_point(MODEL, CPU)["config"]["rank"] == 16


def test_starting_point_other_hardware_or_model_is_none(seeded):
    assert seeded.starting_point(MODEL, GPU) is None
    assert seeded.starting_point("qwen2.5-0.5b-instruct", CPU) is None


def test_starting_point_with_only_ooms_keeps_batch_knowledge(mem):
    mem.record("r-x", MODEL, GPU, cfg(16), {}, "cpu_oom")
    sp = mem.starting_point(MODEL, GPU)
    assert sp["config"] is None and sp["max_ok_batch_size"] is None and sp["min_oom_batch_size"] == 16
    assert sp["why"] == "no run trained ok yet; batch 16 OOMed (r-x)"


def test_fixes_ranked_by_frequency(mem):
    mem.record("r-1", MODEL, CPU, cfg(8), {}, "cpu_oom", failures=[
        {"fault": "cpu_oom", "fix": "gradient_checkpointing", "fixed": False},
        {"fault": "cpu_oom", "fix": "halve batch_size", "fixed": True}])
    mem.record("r-2", MODEL, CPU, cfg(8), {}, "cpu_oom", failures=[{"fault": "cpu_oom", "fix": "qlora", "fixed": True}])
    mem.record("r-3", MODEL, GPU, cfg(8), {}, "cpu_oom", failures=[{"fault": "cpu_oom", "fix": "halve batch_size", "fixed": True}])
    mem.record("r-4", MODEL, CPU, cfg(4), {}, "nan", failures=[{"fault": "nan", "fix": "lower lr", "fixed": True}])

    assert [(f["fix"], f["count"]) for f in mem.fixes("cpu_oom")] == [("halve batch_size", 2), ("qlora", 1)]
    assert mem.fixes("cpu_oom")[0]["runs"] == ["r-1", "r-3"]
    # per machine: ties go to the most recent
    assert [f["fix"] for f in mem.fixes("cpu_oom", hardware_key(CPU))] == ["qlora", "halve batch_size"]
    assert mem.fixes("nan") == [{"fix": "lower lr", "count": 1, "runs": ["r-4"]}]
    assert mem.fixes("disk_full") == []


def test_history_newest_first_and_filtered(seeded):
    seeded.record("r-g", MODEL, GPU, cfg(16), {"success_rate": 0.9}, "ok")
    assert [h["run_id"] for h in seeded.history()] == ["r-g", "r-c", "r-b", "r-a"]
    assert [h["run_id"] for h in seeded.history(hardware_key=hardware_key(CPU), limit=2)] == ["r-c", "r-b"]
    assert seeded.history(model="other") == []
    oom = seeded.history(model=MODEL)[2]
    assert oom["outcome"] == "cpu_oom" and oom["config"]["batch_size"] == 8 and oom["hardware"] == CPU
    assert oom["failures"] == [{"fault": "cpu_oom", "fix": "halve_batch", "fixed": True}]
    assert oom["time"].endswith("+00:00")


def test_survives_reopen(seeded):
    again = Memory(seeded.path)
    assert again.starting_point(MODEL, CPU)["max_ok_batch_size"] == 4
    assert len(again.history()) == 3


def test_failed_record_leaves_no_row(seeded):
    with pytest.raises(TypeError):
        seeded.record("r-bad", MODEL, CPU, cfg(4), {"success_rate": object()}, "ok")
    with pytest.raises(KeyError):  # the run row is already inserted when the bad failure entry is reached
        seeded.record("r-bad", MODEL, CPU, cfg(4), {}, "cpu_oom", failures=[{"fault": "cpu_oom"}])
    assert [h["run_id"] for h in seeded.history()] == ["r-c", "r-b", "r-a"]
    with closing(sqlite3.connect(seeded.path)) as conn:
        assert conn.execute("SELECT COUNT(*) FROM failures").fetchone()[0] == 1
    assert seeded.record("r-d", MODEL, CPU, cfg(4), {}, "ok") == 4  # no gap: nothing was written


def test_explicit_path(tmp_path):
    m = Memory(tmp_path / "sub" / "m.sqlite")
    m.record("r-1", MODEL, CPU, cfg(1), {}, "ok")
    assert (tmp_path / "sub" / "m.sqlite").exists()


def test_the_learning_rate_and_oom_outcomes_round_trip_under_one_name(mem):
    """Reproduces the old defects: `_why` read cfg["lr"], which the agent never recorded, and the agent
    stored OOMs as "cpu_oom" while starting_point counted only "oom" (the memory of a batch that did
    not fit was lost)."""
    mem.record("r-1", MODEL, CPU, TrainingConfig(batch_size=2, learning_rate=5e-4), {"success_rate": 0.5}, "ok")
    mem.record("r-2", MODEL, CPU, TrainingConfig(batch_size=8), {}, "cpu_oom",
               [{"fault": "cpu_oom", "fix": "halve_batch", "fixed": True}])
    sp = mem.starting_point(MODEL, CPU)
    assert sp["config"]["learning_rate"] == 5e-4 and "lr 0.0005" in sp["why"]
    assert sp["min_oom_batch_size"] == 8 and "batch 8 OOMed (r-2)" in sp["why"]
    assert mem.fixes("cpu_oom")[0]["fix"] == "halve_batch"
    assert TrainingConfig.model_validate(sp["config"])  # what is stored is a config, field for field
