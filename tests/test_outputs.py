"""Outputs are created, never clobbered: every --out is claimed before any work (tunepilot/outputs.py)."""

import json
from pathlib import Path

import pytest

from tunepilot import TunepilotError, outputs
from tunepilot.cli import main


def _alpaca(path: Path, n: int = 20, word: str = "Say") -> Path:
    path.write_text("".join(json.dumps({"instruction": f"{word} {i}", "output": f"{i}"}) + "\n" for i in range(n)))
    return path


def _import(src: Path, out) -> int:
    return main(["data", "import", str(src), "--format", "alpaca", "--out", str(out)])


def _foreign(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "notes.txt").write_text("mine\n")
    return folder


def _error(capsys) -> str:
    """The one-line error the CLI printed last (earlier successful commands print their summaries)."""
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines and lines[-1].startswith("tunepilot: error: --out ") and sum("error" in x for x in lines) == 1, lines
    return lines[-1]


# --- datasets: generate / import ---------------------------------------------------------------

def test_import_into_a_folder_holding_notes_is_refused(tmp_path, capsys):
    out = _foreign(tmp_path / "mine")
    assert _import(_alpaca(tmp_path / "a.jsonl"), out) == 2
    assert (out / "notes.txt").read_text() == "mine\n" and sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    err = _error(capsys)
    assert str(out) in err and "exists and is not a tunepilot dataset (no metadata.json)" in err
    assert "choose a new folder or remove it yourself" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jsonl", "mine"]  # no temp folder left behind


@pytest.mark.parametrize("target", ["..", ".", "/", "link"])
def test_out_dotdot_dot_root_or_a_link_to_them_is_refused(tmp_path, monkeypatch, capsys, target):
    parent = tmp_path / "parent"
    cwd = parent / "sub"
    cwd.mkdir(parents=True)
    (parent / "keep.txt").write_text("keep\n")
    src = _alpaca(parent / "a.jsonl")
    (cwd / "link").symlink_to(parent)
    monkeypatch.chdir(cwd)
    assert _import(src, target) == 2
    assert (parent / "keep.txt").read_text() == "keep\n" and cwd.is_dir() and src.exists()
    assert sorted(p.name for p in parent.iterdir()) == ["a.jsonl", "keep.txt", "sub"]
    assert "current folder" in _error(capsys)


def test_an_empty_existing_folder_is_filled(tmp_path):
    out = tmp_path / "empty"
    out.mkdir()
    assert _import(_alpaca(tmp_path / "a.jsonl"), out) == 0
    assert sorted(p.name for p in out.iterdir()) == ["metadata.json", "test.jsonl", "train.jsonl", "val.jsonl"]


def test_regenerate_replaces_an_earlier_tunepilot_dataset(tmp_path, tiny_model):
    out = tmp_path / "data"
    gen = ["data", "generate", "--out", str(out), "--n", "20", "--model", tiny_model]
    assert main(gen + ["--seed", "0"]) == 0
    first = (out / "train.jsonl").read_text()
    assert main(gen + ["--seed", "1"]) == 0
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["seed"] == 1 and meta["written_by"] == "tunepilot" and (out / "train.jsonl").read_text() != first
    assert [p.name for p in tmp_path.iterdir()] == ["data"]  # no temp or hidden old folder left


def test_a_dataset_from_before_the_marker_is_replaced_only_while_its_hash_matches(tmp_path, capsys):
    src, out = _alpaca(tmp_path / "a.jsonl"), tmp_path / "data"
    assert _import(src, out) == 0
    meta = json.loads((out / "metadata.json").read_text())
    del meta["written_by"]  # as the code before the marker wrote it
    (out / "metadata.json").write_text(json.dumps(meta))
    assert _import(_alpaca(src, word="Echo"), out) == 0
    assert "Echo" in (out / "train.jsonl").read_text()

    (out / "train.jsonl").write_text((out / "train.jsonl").read_text() + "\n")  # edited since
    assert _import(src, out) == 2
    assert "do not match metadata.json's content_hash" in _error(capsys)


def test_a_dataset_holding_someone_elses_file_is_refused(tmp_path, capsys):
    src, out = _alpaca(tmp_path / "a.jsonl"), tmp_path / "data"
    assert _import(src, out) == 0
    (out / "notes.txt").write_text("mine\n")
    assert _import(src, out) == 2
    assert (out / "notes.txt").exists() and "notes.txt" in _error(capsys)


def test_metadata_not_written_by_tunepilot_is_refused(tmp_path):
    from tunepilot.tools.data.io import not_our_dataset

    out = tmp_path / "other"
    out.mkdir()
    (out / "metadata.json").write_text(json.dumps({"written_by": "someone", "content_hash": "x"}))
    with pytest.raises(TunepilotError, match="not written by tunepilot"):
        outputs.claim_dir(out, "dataset", not_our_dataset)


@pytest.mark.parametrize("exchange", [True, False])
def test_replace_dir_swaps_in_the_new_folder_and_leaves_nothing(tmp_path, monkeypatch, exchange):
    if not exchange:
        monkeypatch.setattr(outputs, "_exchange", lambda a, b: False)  # the two-rename fallback
    dest = tmp_path / "d"
    dest.mkdir()
    (dest / "old.txt").write_text("old")
    tmp = outputs.new_sibling(dest)
    (tmp / "new.txt").write_text("new")
    outputs.replace_dir(tmp, dest)
    assert [p.name for p in dest.iterdir()] == ["new.txt"] and [p.name for p in tmp_path.iterdir()] == ["d"]


def test_a_crash_before_the_old_folder_is_deleted_leaves_the_new_one_complete(tmp_path, monkeypatch):
    dest = tmp_path / "d"
    dest.mkdir()
    (dest / "old.txt").write_text("old")
    tmp = outputs.new_sibling(dest)
    (tmp / "new.txt").write_text("new")

    def crash(path, *a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(outputs.shutil, "rmtree", crash)
    with pytest.raises(KeyboardInterrupt):
        outputs.replace_dir(tmp, dest)
    assert [p.name for p in dest.iterdir()] == ["new.txt"]


# --- train / eval / export ---------------------------------------------------------------------

def test_train_out_on_a_foreign_folder_is_refused_before_any_work(tmp_path):
    from tunepilot.tools.train import TrainSpec, train

    out = _foreign(tmp_path / "mine")
    with pytest.raises(TunepilotError, match="exists and is not a tunepilot training output"):
        train(TrainSpec(data=tmp_path / "no-data", out=out, model="no-such/model", max_steps=1))
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    from tunepilot.tools.train import TRAIN_MARKERS

    ours = tmp_path / "run"
    ours.mkdir()
    (ours / "training_config.json").write_text("{}")  # an earlier training output: resumed as today
    assert outputs.claim_dir(ours, "training output", TRAIN_MARKERS) == ours


def test_eval_out_over_a_foreign_file_is_refused(tmp_path, capsys):
    report = tmp_path / "report.json"
    report.write_text("my notes\n")
    assert main(["eval", "--data", str(tmp_path), "--model", "no-such/model", "--out", str(report)]) == 2
    assert report.read_text() == "my notes\n"
    assert "exists and is not a tunepilot eval report" in _error(capsys)
    report.write_text(json.dumps({"model": "m", "source": "s", "n": 1, "success_rate": 0.5}))  # an earlier report
    assert outputs.claim_file(report, "eval report", ("model", "source", "n", "success_rate")) == report


def test_export_into_a_foreign_folder_is_refused_before_any_work(tmp_path, capsys):
    out = _foreign(tmp_path / "mine")
    assert main(["export", "--model", "no-such/model", "--out", str(out), "--verify", "0"]) == 2
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    assert "exists and is not a tunepilot export" in _error(capsys)
