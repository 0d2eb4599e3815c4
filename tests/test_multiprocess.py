"""Data-parallel training for real: `accelerate launch` with 2 CPU processes (gloo) on the tiny model,
against one process with the same effective batch; a rank killed with SIGKILL, diagnosed and resumed."""

from __future__ import annotations

import json
import os
import re
import signal
import threading
import time

import pytest

from tunepilot import TunepilotError
from tunepilot.tools.distributed import launch_args
from tunepilot.tools.train import TrainSpec, train

pytestmark = pytest.mark.slow

LOSS_TOLERANCE = 0.02  # relative, per logged step: the same rows and updates, summed in another order


def _losses(out) -> dict[int, float]:
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: r["loss"] for r in rows if r["event"] == "log" and "loss" in r}


def _common(tiny_model, tiny_data, **kw) -> dict:
    return dict(data=tiny_data, model=tiny_model, learning_rate=1e-2, max_length=512, logging_steps=1, batch_size=1,
                dropout=0.0, seed=3) | kw  # no dropout: each rank would draw its own masks


def test_two_cpu_processes_train_like_one(tiny_model, tiny_data, tmp_path):
    common = _common(tiny_model, tiny_data, max_steps=6, eval_steps=3, max_length=1024)  # rows of several conversations
    one = train(TrainSpec(out=tmp_path / "one", grad_accum=2, **common))
    # the two ranks also cut their rows into conversation-aligned chunks (each rank's gradient reduced once,
    # after its row's last chunk): the losses must still be one process's with whole rows
    two = train(TrainSpec(out=tmp_path / "two", grad_accum=1, num_processes=2, chunk_tokens=96, **common))
    assert two.memory_phases["phases"]["forward"]["count"] > 6  # rank 0 ran more forwards than micro-steps

    log = (tmp_path / "two" / "train.log").read_text()
    assert re.search(r"\[rank 0/2\] pid \d+", log) and re.search(r"\[rank 1/2\] pid \d+", log)
    assert "[rank 1/2] done: 6 steps" in log  # rank 1 trained to the end, not just started
    assert (one.world_size, one.effective_batch) == (1, 2) and (two.world_size, two.effective_batch) == (2, 2)
    assert json.loads((tmp_path / "two" / "launch.json").read_text())["world_size"] == 2
    assert (tmp_path / "two" / "adapter" / "adapter_model.safetensors").exists()
    assert sorted(p.name for p in (tmp_path / "two").iterdir() if p.name.startswith("adapter")) == ["adapter"]
    a, b = _losses(tmp_path / "one"), _losses(tmp_path / "two")
    assert sorted(a) == sorted(b) == list(range(1, 7))
    worst = max(abs(a[s] - b[s]) / abs(a[s]) for s in a)
    assert worst <= LOSS_TOLERANCE, (a, b)
    assert a[6] < a[1]  # and it learned: the comparison is not between two flat lines


def test_resume_with_another_process_count_is_refused(tiny_model, tiny_data, tmp_path):
    out = tmp_path / "run"
    train(TrainSpec(out=out, max_steps=2, eval_steps=2, **_common(tiny_model, tiny_data)))
    with pytest.raises(TunepilotError, match=r"written by 1 process\(es\), this run would use 2; resume with "
                                             r"--num-processes 1, or start over with --no-resume"):
        train(TrainSpec(out=out, max_steps=4, eval_steps=2, num_processes=2, **_common(tiny_model, tiny_data)))


def test_launcher_arguments_for_one_machine_and_a_cluster(tiny_model, tiny_data, tmp_path):
    base = dict(data=tiny_data, out=tmp_path, model=tiny_model)
    assert launch_args(TrainSpec(**base), 1) == []
    two = launch_args(TrainSpec(**base, num_processes=2), 2)
    assert two[:6] == ["-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines"]
    cluster = launch_args(TrainSpec(**base, num_processes=2, num_machines=2, machine_rank=1, main_process_ip="10.0.0.1",
                                    main_process_port=29400), 2)
    flags = {cluster[i]: cluster[i + 1] for i in range(3, len(cluster), 2)}  # after -m MODULE --multi_gpu
    assert flags["--num_processes"] == "4" and flags["--num_machines"] == "2" and flags["--machine_rank"] == "1"
    assert flags["--main_process_ip"] == "10.0.0.1" and flags["--main_process_port"] == "29400"
    with pytest.raises(TunepilotError, match="--main-process-ip"):
        launch_args(TrainSpec(**base, num_machines=2), 1)


def test_a_killed_rank_is_diagnosed_and_training_resumes(tiny_model, tiny_data, tmp_path):
    """SIGKILL one of two ranks after the first checkpoint: torchrun stops the other, the diagnosis
    names the lost rank, and the ladder's first step resumes both from the checkpoint."""
    from tunepilot.tools.diagnose import train_with_recovery

    out = tmp_path / "run"
    spec = TrainSpec(out=out, grad_accum=1, num_processes=2, **_common(tiny_model, tiny_data, max_steps=80, eval_steps=4,
                                                                           early_stopping_patience=100))
    killed: list[int] = []

    def kill_rank_1():
        deadline = time.time() + 300
        while time.time() < deadline and not killed:
            log = out / "train.log"
            m = re.search(r"\[rank 1/2\] pid (\d+)", log.read_text()) if log.exists() else None
            if m and (out / "checkpoints" / "checkpoint-4" / "trainer_state.json").exists():  # a finished save
                os.kill(int(m.group(1)), signal.SIGKILL)
                killed.append(int(m.group(1)))
            time.sleep(0.05)

    killer = threading.Thread(target=kill_rank_1, daemon=True)
    killer.start()
    events: list[tuple[str, dict]] = []
    result, _, fixes = train_with_recovery(spec, log=lambda kind, **kw: events.append((kind, kw)))
    killer.join(timeout=5)
    assert killed, "rank 1 was never seen running with a checkpoint behind it"
    diagnosis = next(kw for kind, kw in events if kind == "diagnosis")
    assert diagnosis["output"]["fault"] == "rank_lost", diagnosis
    assert [f["id"] for f in fixes] == ["resume_after_lost_rank"]
    assert result.steps == 80 and result.world_size == 2
    assert result.resumed_from and re.search(r"checkpoint-\d+$", result.resumed_from)
    assert int(result.resumed_from.rsplit("-", 1)[1]) >= 4


def test_a_save_cut_short_is_not_resumed_from(tiny_model, tiny_data, tmp_path):
    """Found by the kill test above: a rank killed while checkpoint-4 was being written left a folder
    without trainer_state.json, and the resumed run crashed reading it. The last complete one is used."""
    from tunepilot.tools.train import complete_checkpoints

    out = tmp_path / "run"
    train(TrainSpec(out=out, max_steps=4, eval_steps=2, save_total_limit=3, **_common(tiny_model, tiny_data)))
    (out / "checkpoints" / "checkpoint-4" / "trainer_state.json").unlink()  # what a kill mid-save leaves
    assert [p.name for p in complete_checkpoints(out)] == ["checkpoint-2"]
    again = train(TrainSpec(out=out, max_steps=6, eval_steps=2, save_total_limit=3, **_common(tiny_model, tiny_data)))
    assert again.resumed_from.endswith("checkpoint-2") and again.steps == 6
