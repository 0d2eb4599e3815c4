import json
import random
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from tunepilot.tools.data.sandbox import Sandbox
from tunepilot.tools.data.validate import Deduper, call_errors
from tunepilot.tools.dataset import DatasetSpec, generate_dataset
from tunepilot import TunepilotError


def _all(folder: Path) -> list[dict]:
    rows = [json.loads(l) for s in ("train", "val", "test") for l in (folder / f"{s}.jsonl").read_text().splitlines()]
    return sorted(rows, key=lambda r: r["id"])


def test_splits_metadata_and_schema_validity(tiny_data):
    meta = json.loads((tiny_data / "metadata.json").read_text())
    assert meta["splits"] == {"train": 48, "val": 6, "test": 6}
    rows = _all(tiny_data)
    assert len(rows) == 60 and len({r["id"] for r in rows}) == 60
    n_calls = 0
    for r in rows:
        assert call_errors(r) == []
        for t in r["tools"]:
            jsonschema.Draft202012Validator.check_schema(t["function"]["parameters"])
        n_calls += sum(len(m.get("tool_calls") or []) for m in r["messages"])
    assert n_calls >= 30  # most records call (a quarter answer without: no tool fits, ask, write code)
    assert set(meta["by_role"]) <= {"coder", "tester", "researcher", "coordinator"}
    assert {"tokens", "rejected", "content_hash", "by_tool", "by_kind", "by_steps", "seed", "teacher"} <= set(meta)


def test_split_ratios_and_role_mix(tmp_path, tiny_model):
    card = generate_dataset(DatasetSpec(out=tmp_path / "d", n=300, seed=3, model=tiny_model))
    assert card.splits == {"train": 240, "val": 30, "test": 30}
    by_role = card.metadata["by_role"]
    assert by_role["coder"] > by_role["tester"] > by_role["researcher"] >= 1 and by_role["coordinator"] >= 1
    assert abs(by_role["coder"] / 300 - 0.58) < 0.08
    assert {"single", "multi", "no_tool", "ask"} <= set(card.metadata["by_kind"])
    assert card.metadata["distinct_tools_offered"] >= 100  # schema diversity is what generalises


def test_same_seed_same_bytes(tmp_path, tiny_model):
    a = generate_dataset(DatasetSpec(out=tmp_path / "a", n=40, seed=7, model=tiny_model))
    b = generate_dataset(DatasetSpec(out=tmp_path / "b", n=40, seed=7, model=tiny_model))
    c = generate_dataset(DatasetSpec(out=tmp_path / "c", n=40, seed=8, model=tiny_model))
    for s in ("train.jsonl", "val.jsonl", "test.jsonl"):
        assert (tmp_path / "a" / s).read_bytes() == (tmp_path / "b" / s).read_bytes()
    assert a.content_hash == b.content_hash != c.content_hash


def test_observations_are_true(tiny_data):
    """Replay every sandbox trajectory on a fresh sandbox: each observation must come out identical."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        sb = Sandbox.create(Path(tmp) / "project", random.Random(1))
        replayed = 0
        for r in _all(tiny_data):
            if r["meta"]["source"] in ("template:api",) or not r["meta"]["source"].startswith("template:"):
                continue
            wrote = False
            msgs = r["messages"]
            for i, m in enumerate(msgs):
                for c in m.get("tool_calls") or []:
                    obs = sb.execute(c["function"]["name"], json.loads(c["function"]["arguments"]))
                    assert obs == msgs[i + 1]["content"], (r["id"], c)
                    wrote |= c["function"]["name"] == "write_file"
                    replayed += 1
            if wrote:
                sb.reset()
    assert replayed >= 10


def test_final_answers_agree_with_observations(tiny_data):
    for r in _all(tiny_data):
        final = r["messages"][-1]
        assert final["role"] == "assistant" and not final.get("tool_calls")
        for k in r["meta"]["answer_keywords"]:
            assert k.lower() in final["content"].lower(), (r["id"], k)


def test_deduper():
    rec = {"tools": [], "messages": [{"role": "user", "content": "What is the capital of France, please?"},
                                     {"role": "assistant", "content": "Paris"}]}
    near = {"tools": [], "messages": [{"role": "user", "content": "What is the capital of France, please!"},
                                      {"role": "assistant", "content": "Paris."}]}
    other = {"tools": [], "messages": [{"role": "user", "content": "How many lines does utils.py have?"},
                                       {"role": "assistant", "content": "12"}]}
    d = Deduper(0.9)
    assert d.check(rec) is None
    assert d.check(json.loads(json.dumps(rec))) == "exact_duplicate"
    assert d.check(near) == "near_duplicate"
    assert d.check(other) is None


def test_sandbox_paths_cannot_escape(tmp_path):
    sb = Sandbox.create(tmp_path / "p", random.Random(0))
    assert sb.execute("read_file", {"path": "../../etc/passwd"}).startswith("error: path escapes")
    assert sb.execute("write_file", {"path": "/tmp/evil", "content": "x"}).startswith("error: path '/tmp/evil': absolute")


def test_no_bfcl_contamination(tmp_path, tiny_model):
    """Evaluation sets are never training data: no BFCL question or function name, no HumanEval
    prompt, entry point or canonical solution in ours."""
    from tunepilot.tools.bfcl import CATEGORIES, bfcl_texts

    card = generate_dataset(DatasetSpec(out=tmp_path / "d", n=300, seed=0, model=tiny_model))
    bfcl = {t.strip().lower() for cat in CATEGORIES for t in bfcl_texts(cat)}
    assert len(bfcl) > 3000
    for r in _all(tmp_path / "d"):
        for m in r["messages"]:
            if m["role"] == "user":
                assert m["content"].strip().lower() not in bfcl, r["id"]
        for t in r["tools"]:
            assert t["function"]["name"].lower() not in bfcl, (r["id"], t["function"]["name"])
    assert card.rejected.get("contamination", 0) >= 1  # the guard did fire: the generator can collide by chance
    from tunepilot.tools.humaneval import problems  # and no HumanEval prompt, entry point or solution either

    he = problems().values()
    names = {p["entry_point"].lower() for p in he}
    texts = "\n".join(m["content"] for r in _all(tmp_path / "d") for m in r["messages"] if m.get("content"))
    for p in he:
        assert p["prompt"].strip() not in texts
        body = p["canonical_solution"].strip()
        assert len(body) < 40 or body not in texts, p["task_id"]
    assert not names & {t["function"]["name"].lower() for r in _all(tmp_path / "d") for t in r["tools"]}


def test_teacher_openai_needs_base_url(tmp_path, tiny_model):
    with pytest.raises(TunepilotError, match="--base-url"):
        generate_dataset(DatasetSpec(out=tmp_path / "d", n=10, teacher="openai", model=tiny_model))


def test_cli_import_and_malformed_line(tmp_path):
    good = tmp_path / "a.jsonl"
    good.write_text("\n".join(json.dumps({"instruction": f"Say {i}", "output": f"{i}"}) for i in range(20)) + "\n")
    out = tmp_path / "imported"
    r = subprocess.run([sys.executable, "-m", "tunepilot.cli", "data", "import", str(good), "--format", "alpaca",
                        "--out", str(out), "--json"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["splits"] == {"train": 16, "val": 2, "test": 2}
    bad = tmp_path / "b.jsonl"
    bad.write_text(json.dumps({"instruction": "x", "output": "y"}) + "\n{not json\n")
    out2 = tmp_path / "bad_out"
    r = subprocess.run([sys.executable, "-m", "tunepilot.cli", "data", "import", str(bad), "--format", "alpaca",
                        "--out", str(out2)], capture_output=True, text=True)
    assert r.returncode == 2
    assert f"{bad}:2:" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not out2.exists() and not (tmp_path / "bad_out.partial").exists()
