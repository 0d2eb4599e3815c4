"""Memory: what past fine-tuning runs taught us on this machine, in one SQLite file.

    from tunepilot.memory.store import Memory, detect_hardware
    mem = Memory()                                   # <TUNEPILOT_HOME>/memory.sqlite
    hw = detect_hardware()                           # {"device": "cpu", "cpus": 2, "ram_gb": 23.4, ...}
    mem.record("r-20261122-abc", "smollm2-135m-instruct", hw,
               config=TrainingConfig(batch_size=4, learning_rate=1e-3, rank=16),
               metrics={"success_rate": 0.87, "tokens_per_s": 410.0, "wall_s": 560.0},
               outcome="ok", failures=[{"fault": "cpu_oom", "fix": "halve_batch", "fixed": True}])
    mem.starting_point("smollm2-135m-instruct", hw)["why"]
    # 'run r-20261122-abc reached 0.87 success with lora rank 16, lr 0.001; batch 4 fit (r-20261122-abc)'
    mem.fixes("cpu_oom")                             # [{"fix": "halve_batch", "count": 1, ...}]

One row per training attempt (`runs`), its faults and the fixes tried (`failures`). The planner
reads `starting_point` to pick a first config and `fixes` to try a known-good fix first; the
journal quotes the `why` line and the run ids in `source`. Writes are single transactions, the
file is in WAL mode with a 30 s busy timeout so two processes can write at once, and
`PRAGMA user_version` numbers the schema for future migrations.
"""

from __future__ import annotations

import json
import os
import sqlite3
from contextlib import closing, contextmanager
from datetime import datetime, timezone
from pathlib import Path

from tunepilot import paths
from tunepilot.redact import redact

SCHEMA_VERSION = 2  # 2: probes (the CPU matmul probe per kind of CPU)
SCHEMA = [
    """CREATE TABLE IF NOT EXISTS runs (
        id INTEGER PRIMARY KEY,
        time TEXT NOT NULL,            -- UTC ISO 8601
        run_id TEXT NOT NULL,
        model TEXT NOT NULL,
        hardware_key TEXT NOT NULL,    -- hardware_key(hardware)
        hardware TEXT NOT NULL,        -- json
        config TEXT NOT NULL,          -- json: a TrainingConfig (method, batch_size, learning_rate, rank, ...)
        metrics TEXT NOT NULL,         -- json: success_rate, tokens_per_s, peak_rss_mb, wall_s, ...
        outcome TEXT NOT NULL          -- ok or a fault name: cpu_oom, gpu_oom, nan, no_progress, failed, ...
    )""",
    "CREATE INDEX IF NOT EXISTS runs_model_hw ON runs (model, hardware_key)",
    """CREATE TABLE IF NOT EXISTS failures (
        id INTEGER PRIMARY KEY,
        run INTEGER NOT NULL REFERENCES runs (id),
        fault TEXT NOT NULL,
        fix TEXT NOT NULL,             -- json (usually a string)
        fixed INTEGER NOT NULL         -- 1 when the fix made the fault go away
    )""",
    "CREATE INDEX IF NOT EXISTS failures_fault ON failures (fault)",
    """CREATE TABLE IF NOT EXISTS probes (
        key TEXT PRIMARY KEY,          -- tunepilot.precision.CpuInfo.key: model|ISA|bf16|cores
        time TEXT NOT NULL,            -- UTC ISO 8601 of the measurement
        cpu TEXT NOT NULL,             -- json: CpuInfo
        result TEXT NOT NULL           -- json: matmul_probe() (fp32_gflops, bf16_gflops, ...)
    )""",
]
# Outcomes are the fault names of tools/faults.yaml (cpu_oom, gpu_oom, nan, ...) or "ok"; "oom" is what
# rows written before one name per fault said. Outcomes that prove the batch fitted in memory: training
# steps ran, whatever came of them.
FIT_OUTCOMES = ("ok", "nan", "diverged", "no_progress", "overfitting")
OOM_OUTCOMES = ("cpu_oom", "gpu_oom", "oom")


def default_path() -> Path:
    """$TUNEPILOT_MEMORY, else <TUNEPILOT_HOME>/memory.sqlite."""
    return Path(os.environ.get("TUNEPILOT_MEMORY") or paths.home() / "memory.sqlite")


def hardware_key(hw: dict) -> str:
    """Stable fingerprint of a machine: "cpu:2c/23GB/AMD EPYC|AVX2|nobf16|2c" (the kind of CPU included:
    an AVX2 machine never inherits an AVX-512 machine's throughput) or "cuda:1xNVIDIA H100 80GB HBM3/79GB"."""
    if hw["device"] == "cuda":
        return f"cuda:{hw['gpus']}x{hw['gpu_name']}/{hw['vram_gb']:.0f}GB"
    kind = hw.get("cpu_kind")  # absent in rows written before the CPU kind was recorded
    return f"cpu:{hw['cpus']}c/{hw['ram_gb']:.0f}GB" + (f"/{kind}" if kind else "")


def detect_hardware() -> dict:
    """This machine as a dict for `hardware_key`; imports torch to ask about CUDA and the CPU's kind."""
    hw = {"device": "cpu", "cpus": os.cpu_count(), "ram_gb": round(_ram_bytes() / 2**30, 1),
          "gpus": 0, "gpu_name": None, "vram_gb": None, "cpu_kind": None}
    try:
        import torch
    except ImportError:
        return hw
    from tunepilot.precision import cpu_info

    hw["cpu_kind"] = cpu_info().key
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        hw.update(device="cuda", gpus=torch.cuda.device_count(), gpu_name=props.name,
                  vram_gb=round(props.total_memory / 2**30, 1))
    return hw


def _ram_bytes() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


class Memory:
    """Outcomes of fine-tuning runs across sessions. Opens a short connection per call."""

    def __init__(self, path: Path | None = None):
        self.path = Path(path) if path is not None else default_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as conn:
            conn.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
            if conn.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
                with self._write(conn):
                    for stmt in SCHEMA:
                        conn.execute(stmt)
                    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @contextmanager
    def _connect(self):
        # isolation_level=None: we open transactions ourselves (BEGIN IMMEDIATE, see _write)
        with closing(sqlite3.connect(self.path, timeout=30, isolation_level=None)) as conn:
            conn.row_factory = sqlite3.Row
            yield conn

    @staticmethod
    @contextmanager
    def _write(conn: sqlite3.Connection):
        """One transaction: the write lock is taken up front; any exception rolls everything back."""
        conn.execute("BEGIN IMMEDIATE")
        with conn:  # commit on success, rollback on exception
            yield

    def record(self, run_id: str, model: str, hardware: dict, config, metrics: dict, outcome: str,
               failures: list[dict] | None = None) -> int:
        """Store one training attempt (its TrainingConfig, tunepilot/config.py, under that model's field
        names) and its faults ({"fault", "fix", "fixed"}); returns the row id."""
        if hasattr(config, "model_dump"):
            config = config.model_dump()
        model, hardware, config, metrics = redact([model, hardware, config, metrics])  # the store is a record too
        failures = redact(failures or [])
        with self._connect() as conn, self._write(conn):
            cur = conn.execute(
                "INSERT INTO runs (time, run_id, model, hardware_key, hardware, config, metrics, outcome)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (datetime.now(timezone.utc).isoformat(timespec="seconds"), run_id, model,
                 hardware_key(hardware), json.dumps(hardware), json.dumps(config), json.dumps(metrics), outcome))
            row = cur.lastrowid
            for f in failures or []:
                conn.execute("INSERT INTO failures (run, fault, fix, fixed) VALUES (?, ?, ?, ?)",
                             (row, f["fault"], json.dumps(f["fix"]), bool(f["fixed"])))
        return row

    def history(self, model: str | None = None, hardware_key: str | None = None, limit: int = 20) -> list[dict]:
        """Past attempts, newest first, each with its decoded config, metrics and failures."""
        where, args = [], []
        if model is not None:
            where.append("model = ?")
            args.append(model)
        if hardware_key is not None:
            where.append("hardware_key = ?")
            args.append(hardware_key)
        sql = "SELECT * FROM runs" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id DESC LIMIT ?"
        with self._connect() as conn:
            rows = conn.execute(sql, (*args, limit)).fetchall()
            fails = {}
            for f in conn.execute(f"SELECT * FROM failures WHERE run IN ({','.join('?' * len(rows))})",
                                  [r["id"] for r in rows]):
                fails.setdefault(f["run"], []).append(
                    {"fault": f["fault"], "fix": json.loads(f["fix"]), "fixed": bool(f["fixed"])})
        return [{**dict(r), "hardware": json.loads(r["hardware"]), "config": json.loads(r["config"]),
                 "metrics": json.loads(r["metrics"]), "failures": fails.get(r["id"], [])} for r in rows]

    def starting_point(self, model: str, hardware: dict, precision: str | None = None) -> dict | None:
        """Where the planner should start for `model` on this machine, or None if it never ran here.

        config: the ok run with the best success_rate (ties: newest), None if no run was ok yet;
        max_ok_batch_size / min_oom_batch_size: largest batch that fitted, smallest that OOMed;
        tokens_per_s: the latest ok run's (with `precision`, the latest ok run that asked for the same
        precision: an fp32 run's speed never plans a bf16 one); source / rows: run ids / row ids cited;
        why: one line.
        """
        with self._connect() as conn:
            rows = conn.execute("SELECT id, run_id, config, metrics, outcome FROM runs"
                                " WHERE model = ? AND hardware_key = ? ORDER BY id",
                                (model, hardware_key(hardware))).fetchall()
        if not rows:
            return None
        runs = [{"id": r["id"], "run_id": r["run_id"], "outcome": r["outcome"],
                 "config": json.loads(r["config"]), "metrics": json.loads(r["metrics"])} for r in rows]
        ok = [r for r in runs if r["outcome"] == "ok"]
        best = max(ok, key=lambda r: (r["metrics"].get("success_rate") or 0.0, r["id"]), default=None)
        same = [r for r in ok if precision is None or r["config"].get("precision", "auto") == precision]
        latest_ok = same[-1] if same else None
        fit = [r for r in runs if r["outcome"] in FIT_OUTCOMES and r["config"].get("batch_size")]
        oom = [r for r in runs if r["outcome"] in OOM_OUTCOMES and r["config"].get("batch_size")]
        # largest fitting batch (ties: newest); smallest OOMing batch (ties: newest)
        max_fit = max(fit, key=lambda r: (r["config"]["batch_size"], r["id"]), default=None)
        min_oom = min(oom, key=lambda r: (r["config"]["batch_size"], -r["id"]), default=None)

        cited = [r for r in (best, max_fit, min_oom, latest_ok) if r is not None]
        seen = sorted({r["id"]: r for r in cited}.values(), key=lambda r: r["id"])
        return {
            "config": best["config"] if best else None,
            "success_rate": best["metrics"].get("success_rate") if best else None,
            "max_ok_batch_size": max_fit["config"]["batch_size"] if max_fit else None,
            "min_oom_batch_size": min_oom["config"]["batch_size"] if min_oom else None,
            "tokens_per_s": latest_ok["metrics"].get("tokens_per_s") if latest_ok else None,
            "eval_s": ok[-1]["metrics"].get("eval_s") if ok else None,  # the latest ok run's evaluation time
            "source": list(dict.fromkeys(r["run_id"] for r in seen)),
            "rows": [r["id"] for r in seen],
            "why": _why(best, max_fit, min_oom),
        }

    def cpu_probe(self, measure=None, refresh: bool = False) -> dict:
        """This CPU kind's matmul probe (tunepilot.precision.matmul_probe): the stored one, or measured
        now (~2-4 s) and stored when there is none, or always with refresh (`tunepilot doctor`).
        Returns the probe with its "key", "cpu" and "time"."""
        from tunepilot.precision import cpu_info, matmul_probe

        cpu = cpu_info()
        if not refresh:
            with self._connect() as conn:
                row = conn.execute("SELECT * FROM probes WHERE key = ?", (cpu.key,)).fetchone()
            if row is not None:
                return json.loads(row["result"]) | {"key": cpu.key, "cpu": json.loads(row["cpu"]), "time": row["time"]}
        result = (measure or matmul_probe)()
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        with self._connect() as conn, self._write(conn):
            conn.execute("INSERT OR REPLACE INTO probes (key, time, cpu, result) VALUES (?, ?, ?, ?)",
                         (cpu.key, now, cpu.model_dump_json(), json.dumps(result)))
        return result | {"key": cpu.key, "cpu": cpu.model_dump(), "time": now}

    def fixes(self, fault: str, hardware_key: str | None = None) -> list[dict]:
        """Fixes that made `fault` go away before, most frequent first (ties: most recent)."""
        sql = ("SELECT f.fix, COUNT(*) AS n, MAX(f.run) AS last, json_group_array(r.run_id) AS runs"
               " FROM failures f JOIN runs r ON r.id = f.run WHERE f.fault = ? AND f.fixed = 1")
        args = [fault]
        if hardware_key is not None:
            sql += " AND r.hardware_key = ?"
            args.append(hardware_key)
        sql += " GROUP BY f.fix ORDER BY n DESC, last DESC"
        with self._connect() as conn:
            rows = conn.execute(sql, args).fetchall()
        return [{"fix": json.loads(r["fix"]), "count": r["n"], "runs": list(dict.fromkeys(json.loads(r["runs"])))}
                for r in rows]


def _why(best: dict | None, max_fit: dict | None, min_oom: dict | None) -> str:
    """One journal line: "run r-1 reached 0.87 success with lora rank 16, lr 0.001; batch 4 fit (r-1), batch 8 OOMed (r-2)"."""
    if best is None:
        parts = ["no run trained ok yet"]
    else:
        cfg, sr = best["config"], best["metrics"].get("success_rate")
        knobs = []
        if "rank" in cfg:
            knobs.append(f"{cfg.get('method', '')} rank {cfg['rank']}".lstrip())
        lr = cfg.get("learning_rate", cfg.get("lr"))  # "lr": rows written before one name per field
        if lr is not None:
            knobs.append(f"lr {lr:g}")
        result = f"reached {sr:.2f} success" if sr is not None else "trained ok"
        parts = [f"run {best['run_id']} {result}" + (f" with {', '.join(knobs)}" if knobs else "")]
    batch = []
    if max_fit:
        batch.append(f"batch {max_fit['config']['batch_size']} fit ({max_fit['run_id']})")
    if min_oom:
        batch.append(f"batch {min_oom['config']['batch_size']} OOMed ({min_oom['run_id']})")
    return "; ".join(parts + ([", ".join(batch)] if batch else []))
