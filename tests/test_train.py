"""Real training on the tiny model, in the real accelerate child process."""

import json
import math

import pytest

from tunepilot.tools.train import TrainSpec, loss_mask_audit, train
from tunepilot import TunepilotError


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_model, tiny_data):
    out = tmp_path_factory.mktemp("train") / "run"
    events = []
    first = train(TrainSpec(data=tiny_data, out=out, model=tiny_model, max_steps=4, eval_steps=2, learning_rate=1e-2,
                            max_length=512, logging_steps=1), progress=events.append)
    return out, first, events


def test_loss_finite_and_falling(trained):
    out, result, events = trained
    rows = [json.loads(l) for l in (out / "metrics.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in rows if "loss" in r]
    assert len(losses) >= 4 and all(math.isfinite(x) for x in losses)
    assert losses[-1] < losses[0]
    assert result.steps == 4 and math.isfinite(result.eval_loss)
    assert events and events[0]["event"] == "start"  # the parent saw the child's progress
    for key in ("loss", "grad_norm", "lr", "tokens_per_s", "peak_rss_mb"):
        assert any(key in r for r in rows), key
    assert any("eval_loss" in r for r in rows)


def test_outputs_written(trained):
    out, result, _ = trained
    assert (out / "adapter" / "adapter_config.json").exists()
    assert (out / "adapter" / "adapter_model.safetensors").stat().st_size > 0
    cfg = json.loads((out / "training_config.json").read_text())
    assert cfg["method"] == "lora" and cfg["rank"] == 16 and cfg["max_steps"] == 4
    audit = json.loads((out / "loss_mask_audit.json").read_text())
    assert 0 < audit["trained_fraction"] < 0.6 and audit["masked_tokens"] > 0
    assert result.tokens_per_s > 0 and result.peak_rss_mb > 0
    # 2 evaluations + 2 checkpoint saves happened inside train(): their time is counted and left out
    assert result.eval_save_s > 0 and result.train_tokens_per_s > result.tokens_per_s
    assert result.wall_s - result.eval_save_s > 0
    # peak RSS per phase: every phase of a step was booked, and the process's peak is the largest
    phases = result.memory_phases["phases"]
    assert {"tokenizer and model load", "forward", "backward", "optimizer step", "evaluation",
            "checkpoint save", "final save"} <= set(phases)
    assert phases["forward"]["count"] == 4 * 2 and phases["optimizer step"]["count"] == 4  # grad_accum 2
    assert result.peak_rss_mb == pytest.approx(max(p["peak_mb"] for p in phases.values()), abs=1.0)


def test_chunked_rows_train_like_whole_rows(tiny_model, tiny_data, tmp_path):
    """The CPU trainer's conversation-aligned chunks (--chunk-tokens) change memory, not training: same
    losses step by step and the same validation loss as whole packed rows, with more forward passes."""
    common = dict(data=tiny_data, model=tiny_model, max_steps=3, eval_steps=3, learning_rate=1e-2, max_length=512,
                  logging_steps=1)
    whole = train(TrainSpec(out=tmp_path / "whole", chunk_tokens=512, **common))
    chunked = train(TrainSpec(out=tmp_path / "chunked", chunk_tokens=64, **common))

    def losses(out):
        rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
        return [r["loss"] for r in rows if r["event"] == "log" and "loss" in r]

    assert whole.memory_phases["phases"]["forward"]["count"] == 3 * 2  # grad_accum 2, rows of <= 512 tokens
    assert chunked.memory_phases["phases"]["forward"]["count"] > 3 * 2
    assert len(losses(tmp_path / "whole")) == 3
    assert losses(tmp_path / "chunked") == pytest.approx(losses(tmp_path / "whole"), rel=1e-4)
    assert chunked.eval_loss == pytest.approx(whole.eval_loss, rel=1e-4)


def test_resume_continues_step_count(trained):
    out, first, _ = trained
    assert sorted(p.name for p in (out / "checkpoints").glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-4"]
    state = (out / "checkpoints" / "checkpoint-4")
    assert (state / "optimizer.pt").exists() and (state / "scheduler.pt").exists()
    assert any(p.name.startswith("rng_state") for p in state.iterdir())
    cfg = json.loads((out / "training_config.json").read_text())
    cfg.pop("model_path"), cfg.pop("precision_chosen")
    cfg["max_steps"] = 6
    second = train(TrainSpec(**cfg))
    assert second.resumed_from.endswith("checkpoint-4")
    assert second.steps == 6
    rows = [json.loads(l) for l in (out / "metrics.jsonl").read_text().splitlines()]
    starts = [r for r in rows if r["event"] == "start"]
    assert [s["step"] for s in starts] == [0, 4]
    steps_after = [r["step"] for r in rows[rows.index(starts[1]):] if r["event"] == "log" and "loss" in r]
    assert steps_after == [5, 6]


def test_audit_rejects_examples_truncated_to_nothing(tiny_model, tiny_data, tmp_path):
    with pytest.raises(TunepilotError, match=r"train\.jsonl:1: no assistant tokens within max_length=40"):
        loss_mask_audit(TrainSpec(data=tiny_data, out=tmp_path, model=tiny_model, max_length=40), tiny_model)


def test_child_crash_is_reported_not_raised_through(tiny_model, tiny_data, tmp_path):
    """Corrupt weights crash the training child for real; the caller gets a report, not a dead process."""
    import shutil

    from tunepilot.tools.train import TrainFailed

    broken = tmp_path / "broken-model"
    shutil.copytree(tiny_model, broken)
    (broken / "model.safetensors").write_bytes(b"\x00" * 100)
    with pytest.raises(TrainFailed) as e:
        train(TrainSpec(data=tiny_data, out=tmp_path / "r", model=str(broken), max_steps=2, max_length=512))
    assert e.value.returncode != 0 and (tmp_path / "r" / "train.log").exists()
    assert "safetensors" in str(e.value).lower() or "error" in str(e.value).lower()
    assert not (tmp_path / "r" / "result.json").exists()


@pytest.mark.parametrize("method", ["qlora", "full"])
def test_qlora_and_full_train(method, tiny_model, tiny_data, tmp_path):
    r = train(TrainSpec(data=tiny_data, out=tmp_path / method, model=tiny_model, method=method, max_steps=2,
                        eval_steps=2, max_length=512))
    assert r.steps == 2 and math.isfinite(r.train_loss)
    if method == "qlora":
        assert (r.adapter / "adapter_config.json").exists()
        assert json.loads((r.adapter / "adapter_config.json").read_text())["r"] == 16
    else:
        assert r.adapter is None and (r.model_dir / "config.json").exists()
        assert json.loads((tmp_path / method / "training_config.json").read_text())["learning_rate"] == 2e-5
