"""The typed tools both planners call, bound to one run.

Each tool is a method with one pydantic input and one pydantic output; its docstring is what the
LLM planner sees. Every call lands in the journal (input, output summary); the budget is enforced
here, so no planner can exceed it: a training whose estimate does not fit in the remaining wall
time, or one more iteration than allowed, is refused with `BudgetExceeded`.

    tb = Toolbox(run_folder, request, journal, actor="planner:playbook")
    tb.generate_data(DataArgs())
    tb.train(TrainArgs(epochs=1))
    tb.evaluate(EvalArgs())
    tb.decide()
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from agent.criteria import decide
from agent.journal import Journal, write_json
from agent.schemas import Decision, EvaluationPlan, Plan, Request, TrainingConfig, validate_file
from tunepilot import TunepilotError


class BudgetExceeded(TunepilotError):
    pass


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataArgs(_Args):
    """Make the training data. Omitted fields keep the request's values."""

    n_examples: int | None = Field(None, ge=10, le=20000)  # examples to generate (80/10/10 split)
    seed: int | None = None


class DataSummary(BaseModel):
    path: str
    splits: dict[str, int]
    mean_tokens: float
    rejected: dict[str, int]


class TrainArgs(_Args):
    """Train one iteration. Omitted fields keep the current config (the request's, then each
    iteration's changes)."""

    epochs: float | None = Field(None, gt=0, le=5)
    rank: int | None = Field(None, ge=1, le=256)
    targets: str | None = Field(None, pattern="^(attn|attn\\+mlp)$")
    learning_rate: float | None = Field(None, gt=0, lt=1)
    batch_size: int | None = Field(None, ge=1)
    max_steps: int | None = Field(None, ge=1)


class TrainSummary(BaseModel):
    iteration: int
    adapter: str | None
    steps: int
    train_loss: float | None
    eval_loss: float | None
    tokens_per_s: float | None
    peak_memory_gb: float
    wall_s: float
    stopped_early: bool
    signals: list[str]  # underfit (val loss still falling) / overfit (val loss rose)
    estimate: dict  # what the estimator said before, and its error in percent
    precision: str | None = None  # the dtype trained in and why (tunepilot/precision.py)


class EvalArgs(_Args):
    """Evaluate the latest adapter on the held-out test split (never trained on)."""

    limit: int | None = Field(None, ge=1)


class EvalSummary(BaseModel):
    iteration: int
    success_rate: float
    latency_avg_s: float
    latency_p95_s: float
    memory_gb: float
    per_role: dict[str, float | None]
    failures: dict[str, int]
    general_probe: float | None = None  # 20 general questions: forgetting check against the base
    base: dict | None  # the untuned model on the same items (first evaluation of a run)
    comparison: dict | None
    report: str
    wall_s: float | None = None  # how long the evaluation took (what the budget check expects of the next one)
    precision: str | None = None  # the dtype generated in and why
    base_reused_from: str | None = None  # the base report was reused from this cache file (tools/eval_cache.py)


class ExportArgs(_Args):
    """Export the latest adapter for deployment: merge, GGUF, seed 004's quant ladder (Q4_K_M, then
    Q5_K_M, then Q8_0 while success drops beyond the margin), each verified in llama.cpp on the
    same test items. Afterwards the decision is judged on the exported model."""

    limit: int | None = Field(None, ge=1)  # test items scored per quant level (default: the evaluation's)


class ExportSummary(BaseModel):
    iteration: int
    quant: str
    gguf: str
    modelfile: str
    folder: str
    success_rate: float
    latency_avg_s: float
    latency_p95_s: float
    memory_gb: float  # what the GGUF adds in llama.cpp: weights touched, KV cache, buffers
    per_role: dict[str, float | None]
    failures: dict[str, int]
    template_ok: bool
    ladder: list[dict]
    report: str


class Toolbox:
    def __init__(self, folder: Path, request: Request, journal: Journal, actor: str = "planner:playbook",
                 progress=None, memory=None, hardware: dict | None = None):
        self.folder, self.request, self.journal, self.actor = Path(folder), request, journal, actor
        self.progress, self.memory, self.hardware = progress, memory, hardware or {}
        self.t0 = time.monotonic()
        self.config: dict = _effective(request.training_config)
        self.n_examples = request.dataset.n_examples
        self.data: DataSummary | None = None
        self.iteration = 0
        self.trained: TrainSummary | None = None
        self.evaluated: EvalSummary | None = None
        self.exported: ExportSummary | None = None
        self.base: dict | None = None
        self.decisions: list[Decision] = []
        self.fixes: list[dict] = []
        self.eval_s: list[float] = []  # wall time of each evaluation of this run (the budget check's measure)
        self.export_s: list[float] = []

    def replay(self, events: list[dict]) -> None:
        """Rebuild the state a killed run had reached from its journal, so `resume` redoes nothing
        that finished: data, trained iterations, evaluations and decisions come back; a training
        that was cut off restarts from its last checkpoint (same folder); its config comes back
        with every playbook change journaled after it."""
        from datetime import datetime

        times = [datetime.fromisoformat(e["time"]) for e in events]
        if times:  # the budget counts the time spent before the interruption
            self.t0 -= (times[-1] - times[0]).total_seconds()
        for e in events:
            kind, tool, out = e["kind"], e.get("tool"), e.get("output") or {}
            if kind == "tool" and tool == "generate_data":
                self.data = DataSummary(**out)
                self.n_examples = sum(out["splits"].values())
            elif kind == "tool_start" and tool == "train":
                self.config.update({k: v for k, v in e["input"].items() if k in self.config})
            elif kind == "tool" and tool == "train":
                self.trained = TrainSummary(**out)
                self.iteration = self.trained.iteration
            elif kind == "tool" and tool == "evaluate":
                self.evaluated = EvalSummary(**out)
                if self.evaluated.wall_s:
                    self.eval_s.append(self.evaluated.wall_s)
                self.base = out.get("base") or self.base
            elif kind == "tool" and tool == "export":
                self.exported = ExportSummary(**out)
            elif kind == "decision":
                self.decisions.append(Decision(action=e["decision"], reasons=out["reasons"], metrics=out["metrics"],
                                               criteria=self.request.criteria))
            elif kind == "iterate":
                self.config.update({k: v["to"] for k, v in out.items() if k in self.config})
                if "n_examples" in out:
                    self.n_examples = out["n_examples"]["to"]
            elif kind == "recover":
                pass  # fixes apply inside the train tool; its next "tool" event carries the outcome

    # --- budget ------------------------------------------------------------------------------
    def elapsed_s(self) -> float:
        return time.monotonic() - self.t0

    def remaining_s(self) -> float:
        return self.request.budget.max_wall_s - self.elapsed_s()

    def _refuse(self, tool: str, why: str):
        self.journal.log(self.actor, "refused", tool=tool, rationale=why)
        raise BudgetExceeded(why)

    def _check_budget(self, tool: str, need_s: float = 0.0, what: str = "") -> None:
        """Every tool asks before it starts: refused when the wall-time budget is spent, or when what
        it is expected to take (`need_s`, from measurements of this run or of this machine) does not
        fit in what is left."""
        left, total = self.remaining_s(), self.request.budget.max_wall_s
        if left <= 0:
            self._refuse(tool, f"wall-time budget spent ({total / 60:.1f} min, {self.elapsed_s() / 60:.1f} used)")
        if need_s > left:
            self._refuse(tool, f"{what or tool} {need_s / 60:.1f} min exceeds the remaining budget {left / 60:.1f} min")

    def _expected_eval_s(self) -> float:
        """How long the next evaluation should take: this run's last one (a first evaluation also scores
        the base model, so a later one takes less), else the memory store's last run on this machine."""
        if self.eval_s:
            return self.eval_s[-1]
        start = self.memory.starting_point(self.request.base_model, self.hardware) if self.memory else None
        return float((start or {}).get("eval_s") or 0.0)

    # --- tools -------------------------------------------------------------------------------
    def generate_data(self, args: DataArgs) -> DataSummary:
        """Generate synthetic agentic tool-use data (or use the request's dataset folder), split
        80/10/10 by role, with the BFCL contamination guard. Returns split sizes and rejections."""
        from tools.dataset import DatasetSpec, generate_dataset

        self._check_budget("generate_data")
        ds = self.request.dataset
        n = args.n_examples or self.n_examples
        self.n_examples = n
        if ds.path and ds.format == "tunepilot":
            out = Path(ds.path)
            meta = json.loads((out / "metadata.json").read_text()) if (out / "metadata.json").exists() else {}
        elif ds.path:
            from tools.dataset import import_dataset

            out = self.folder / "artifacts" / "data"
            meta = import_dataset(Path(ds.path), ds.format, out).metadata
        else:
            out = self.folder / "artifacts" / f"data-n{n}-s{args.seed if args.seed is not None else ds.seed}"
            spec = DatasetSpec(out=out, n=n, seed=args.seed if args.seed is not None else ds.seed,
                               teacher=ds.teacher, model=self.request.base_model)
            done = out / "metadata.json"  # written last: the folder is complete (a resumed run)
            meta = json.loads(done.read_text()) if done.exists() else generate_dataset(spec).metadata
        splits = meta.get("splits") or {s: _count(out / f"{s}.jsonl") for s in ("train", "val", "test")}
        self.data = DataSummary(path=str(out), splits=splits, mean_tokens=(meta.get("tokens") or {}).get("mean", 400.0),
                                rejected=meta.get("rejected", {}))
        self.journal.log(self.actor, "tool", tool="generate_data", input=args.model_dump(exclude_none=True),
                         output=self.data.model_dump())
        return self.data

    def plan(self) -> Plan:
        """The next iteration's plan: reproducible script, config files, evaluation plan and the
        resource estimate. Written to plan.json (and artifacts/iter-N/plan.json)."""
        from agent.estimate import estimate

        it = self.iteration + 1
        spec = self._train_spec(it)
        n_tokens = int(self.data.mean_tokens * self.data.splits.get("train", 0)) if self.data else 0
        from tunepilot.precision import choose_precision

        cuda = self.hardware.get("device") == "cuda"
        precision = choose_precision(self.config["precision"], "cuda" if cuda else "cpu")
        start = self.memory.starting_point(self.request.base_model, self.hardware, self.config["precision"]) \
            if self.memory else None
        probe = self.memory.cpu_probe() if self.memory and not cuda else None  # measured once per kind of CPU
        res = estimate(self.model_path, TrainingConfig(**_request_fields(self.config)), n_train_tokens=n_tokens,
                       device="cuda" if cuda else "cpu", gpus=self.hardware.get("gpus", 0),
                       tokens_per_s=(start or {}).get("tokens_per_s"), precision=precision.dtype, cpu_probe=probe,
                       basis=f"memory store: {start['why']}" if start and start.get("tokens_per_s") else None)
        ev = self.request.evaluation
        plan = Plan(iteration=it, planner=self.actor.split(":", 1)[-1], training_script=_script(self, spec, it),
                    config_files=_config_files(spec),
                    evaluation_plan=EvaluationPlan(limit=ev.limit, compare_base=self.base is None and ev.compare_base,
                                                   metrics=["success_rate", "latency_s.avg", "latency_s.p95",
                                                            "peak_memory", "per_role", "failures"],
                                                   criteria=self.request.criteria),
                    estimated_resources=res)
        d = self.folder / "artifacts" / f"iter-{it}"
        d.mkdir(parents=True, exist_ok=True)
        doc = plan.model_dump(mode="json")
        write_json(d / "plan.json", doc)
        (d / "train.sh").write_text(plan.training_script)
        write_json(self.folder / "plan.json", doc)
        validate_file("plan", self.folder / "plan.json")
        self.planned = plan
        self.journal.log(self.actor, "plan", tool="plan", input={"iteration": it, **self.config},
                         output={"training_time": res.training_time, "peak_memory": res.gpu_memory,
                                 "storage": res.storage, "basis": res.basis},
                         rationale=f"iteration {it} of at most {self.request.budget.max_iterations}")
        return plan

    def train(self, args: TrainArgs) -> TrainSummary:
        """Fine-tune one iteration with the current config plus the given changes (LoRA/QLoRA/full,
        as the request says). Refused when the iteration budget or the wall-time budget would be
        exceeded. Returns losses, throughput, peak memory and underfit/overfit signals."""
        from tools.diagnose import train_with_recovery
        from tools.train import TrainFailed

        if self.data is None:
            self.generate_data(DataArgs())
        if self.iteration >= self.request.budget.max_iterations:
            self._refuse("train", f"iteration budget spent ({self.request.budget.max_iterations})")
        changes = {k: v for k, v in args.model_dump(exclude_none=True).items()}
        self.config.update(changes)
        plan = self.plan()
        est = plan.estimated_resources
        after = self._expected_eval_s()  # a training whose evaluation cannot finish in the budget is refused too
        self._check_budget("train", est.training_time_s + after,
                           f"estimated training time {est.training_time}" + (f" + evaluation {after / 60:.1f} min" if after else ""))
        self.iteration += 1
        spec = self._train_spec(self.iteration)
        self.journal.log(self.actor, "tool_start", tool="train", input={"iteration": self.iteration, **self.config})
        p95 = (json.loads((Path(self.data.path) / "metadata.json").read_text()).get("tokens") or {}).get("p95") \
            if (Path(self.data.path) / "metadata.json").exists() else None
        try:
            r, spec, fixes = train_with_recovery(
                spec, progress=self.progress, p95_tokens=p95,
                log=lambda kind, **kw: self.journal.log(self.actor, kind, **kw))
        except TrainFailed as e:
            if self.memory:
                self.memory.record(self.folder.name, self.request.base_model, self.hardware, self._resolved(),
                                   {}, _outcome(e), [{"fault": _outcome(e), "fix": None, "fixed": False}])
            raise
        for field, key in (("batch_size", "batch_size"), ("grad_accum", "grad_accum"), ("lr", "learning_rate"),
                           ("gradient_checkpointing", "gradient_checkpointing"), ("max_length", "max_length"),
                           ("method", "method"), ("rank", "rank"), ("epochs", "epochs")):
            self.config[key] = getattr(spec, field)
        self.fixes = fixes
        for f in fixes:  # remember what did not fit, so the next run starts below it
            if f["fault"].endswith("oom") and "batch_size" in f["changes"] and self.memory:
                self.memory.record(self.folder.name, self.request.base_model, self.hardware,
                                   self._resolved() | {"batch_size": f["changes"]["batch_size"][0]}, {}, "oom",
                                   [{"fault": f["fault"], "fix": f["id"], "fixed": True}])
        peak = (r.peak_vram_mb or r.peak_rss_mb) / 1024
        err = 100 * (est.peak_memory_gb - peak) / peak if peak else None
        self.trained = TrainSummary(
            iteration=self.iteration, adapter=str(r.adapter) if r.adapter else None, steps=r.steps,
            train_loss=r.train_loss, eval_loss=r.eval_loss, tokens_per_s=r.tokens_per_s, peak_memory_gb=round(peak, 3),
            wall_s=round(r.wall_s, 1), stopped_early=r.stopped_early, signals=_signals(Path(spec.out) / "metrics.jsonl"),
            precision=r.precision,
            estimate={"peak_memory_gb": est.peak_memory_gb, "training_time_s": est.training_time_s,
                      "memory_error_pct": round(err, 1) if err is not None else None,
                      "time_error_pct": round(100 * (est.training_time_s - r.wall_s) / r.wall_s, 1) if r.wall_s else None})
        self.journal.log(self.actor, "tool", tool="train", input={"iteration": self.iteration},
                         output=self.trained.model_dump())
        return self.trained

    def evaluate(self, args: EvalArgs) -> EvalSummary:
        """Score the latest adapter on the test split (tool-call success, latency, memory, per role,
        failure kinds). The first evaluation of a run also scores the base model on the same items."""
        if self.trained is None or not self.trained.adapter:
            raise TunepilotError("evaluate needs a trained adapter: call train first")
        ev = self.request.evaluation
        limit = args.limit or ev.limit
        out = self.folder / "artifacts" / f"iter-{self.iteration}" / "eval.json"
        cmd = [sys.executable, "-m", "tunepilot.cli", "eval", "--data", self.data.path, "--model",
               self.request.base_model, "--adapter", self.trained.adapter, "--batch-size", str(ev.batch_size),
               "--out", str(out), "--json"]
        if limit:
            cmd += ["--limit", str(limit)]
        compare = self.base is None and ev.compare_base
        if compare:
            cmd += ["--compare-base"]
        self._check_budget("evaluate", self.eval_s[-1] if self.eval_s else 0.0, "the last evaluation's")
        self.journal.log(self.actor, "tool_start", tool="evaluate", input={"limit": limit, "compare_base": compare})
        t0 = time.monotonic()
        p = subprocess.run(cmd, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
        self.eval_s.append(round(time.monotonic() - t0, 1))
        if p.returncode != 0:
            raise TunepilotError(f"evaluation failed (exit {p.returncode}): {p.stderr.strip()[-500:]}")
        rep = json.loads(out.read_text())
        tuned = rep.get("tuned", rep)
        if compare:
            b = rep["base"]
            self.base = {"success_rate": b["success_rate"], "latency_avg_s": b["latency_s"]["avg"],
                         "per_role": b["per_role"], "failures": b["failures"], "general_probe": b.get("general_probe")}
        mem = (tuned.get("peak_vram_mb") or tuned["peak_rss_mb"]) / 1024
        self.evaluated = EvalSummary(
            iteration=self.iteration, success_rate=tuned["success_rate"], latency_avg_s=tuned["latency_s"]["avg"],
            latency_p95_s=tuned["latency_s"]["p95"], memory_gb=round(mem, 3), per_role=tuned["per_role"],
            failures=tuned["failures"], general_probe=tuned.get("general_probe"), base=self.base,
            comparison=rep.get("comparison"), report=str(out), wall_s=self.eval_s[-1], precision=tuned.get("precision"),
            base_reused_from=(rep.get("base") or {}).get("reused_from"))
        self.journal.log(self.actor, "tool", tool="evaluate", input={"iteration": self.iteration},
                         output=self.evaluated.model_dump())
        return self.evaluated

    def export(self, args: ExportArgs) -> ExportSummary:
        """Merge + GGUF + quant ladder, each level verified in llama.cpp (see ExportArgs)."""
        if self.trained is None or not self.trained.adapter or self.evaluated is None:
            raise TunepilotError("export needs a trained and evaluated adapter: call train and evaluate first")
        limit = args.limit or self.request.evaluation.limit or 30
        folder = self.folder / "artifacts" / f"iter-{self.iteration}" / "export"
        cmd = [sys.executable, "-m", "tunepilot.cli", "export", "--adapter", self.trained.adapter, "--model",
               self.request.base_model, "--data", self.data.path, "--ladder", "--verify", str(limit),
               "--reference-success", str(self.evaluated.success_rate), "--out", str(folder), "--json"]
        self._check_budget("export", self.export_s[-1] if self.export_s else 0.0, "the last export's")
        self.journal.log(self.actor, "tool_start", tool="export", input={"limit": limit, "ladder": "q4_k_m,q5_k_m,q8_0"})
        t0 = time.monotonic()
        p = subprocess.run(cmd, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
        self.export_s.append(round(time.monotonic() - t0, 1))
        if p.returncode != 0:
            raise TunepilotError(f"export failed (exit {p.returncode}): {p.stderr.strip()[-500:]}")
        rep = json.loads((folder / "export_report.json").read_text())
        q = rep["chosen"]
        v = rep["verification"][q]
        self.exported = ExportSummary(
            iteration=self.iteration, quant=q, gguf=rep["files"][q]["path"], modelfile=rep["modelfile"], folder=str(folder),
            success_rate=v["success_rate"], latency_avg_s=v["latency_s"]["avg"], latency_p95_s=v["latency_s"]["p95"],
            memory_gb=round((v.get("model_memory_mb") or v["peak_rss_mb"]) / 1024, 3), per_role=v.get("per_role") or {}, failures=v["failures"],
            template_ok=rep["template_check"]["ok"], ladder=rep["ladder"], report=str(folder / "export_report.json"))
        for step in rep["ladder"]:
            self.journal.log(self.actor, "note", tool="export", output=step, rationale=f"{step['quant']}: {step['why']}")
        self.journal.log(self.actor, "tool", tool="export", input={"iteration": self.iteration},
                         output=self.exported.model_dump())
        return self.exported

    def decide(self) -> Decision:
        """Apply the request's deploy / iterate / abort criteria to the latest evaluation; when the
        adapter was exported, to the exported GGUF as llama.cpp ran it (what would be deployed)."""
        if self.evaluated is None:
            raise TunepilotError("decide needs an evaluation: call evaluate first")
        if self.needs_export():
            self.export(ExportArgs())
        e = self.evaluated
        metrics = {"success_rate": e.success_rate, "latency_avg_s": e.latency_avg_s, "memory_gb": e.memory_gb,
                   "per_role": e.per_role, "general_probe": e.general_probe, "runtime": "transformers"}
        x = self.exported
        if x is not None and x.iteration == self.iteration:
            metrics |= {"success_rate": x.success_rate, "latency_avg_s": x.latency_avg_s, "memory_gb": x.memory_gb,
                        "per_role": x.per_role or e.per_role, "runtime": f"llama.cpp {x.quant.upper()}",
                        "transformers_success_rate": e.success_rate}
        d = decide(metrics, self.request.criteria, self.base)
        if x is not None and x.iteration == self.iteration and not x.template_ok:
            d = d.model_copy(update={"action": "iterate" if d.action == "deploy" else d.action,
                                     "reasons": d.reasons + ["exported chat template does not match training"]})
        if any(r.startswith("general probe fell") for r in d.reasons):
            from tools.diagnose import Failure, diagnose

            dx = diagnose(Failure(probe_before=self.base["general_probe"], probe_after=e.general_probe,
                                  forgetting_drop=self.request.criteria.max_general_drop))
            self.journal.log(self.actor, "diagnosis", tool="diagnose", output={"fault": dx.fault, "evidence": dx.evidence},
                             rationale=f"{dx.fault}: {dx.evidence}; fixes: " + ", ".join(s["id"] for s in dx.ladder))
        self.decisions.append(d)
        if self.memory:
            self.memory.record(self.folder.name, self.request.base_model, self.hardware, self._resolved(),
                               {"success_rate": e.success_rate, "latency_avg_s": e.latency_avg_s,
                                "peak_memory_gb": self.trained.peak_memory_gb, "tokens_per_s": self.trained.tokens_per_s,
                                "wall_s": self.trained.wall_s, "eval_loss": self.trained.eval_loss,
                                "eval_s": e.wall_s,
                                "batch_size": self._resolved()["batch_size"]}, "ok",
                               [{"fault": f["fault"], "fix": f["id"], "fixed": True} for f in self.fixes])
        self.journal.log(self.actor, "decision", tool="decide", input={"iteration": self.iteration},
                         output={"metrics": d.metrics, "reasons": d.reasons}, decision=d.action,
                         rationale="; ".join(d.reasons))
        return d

    def needs_export(self) -> bool:
        """Whatever the planner, the decision is judged on the exported model: export once per
        iteration when llama.cpp is installed and success is not already below the abort bar (then
        no runtime can save it)."""
        from agent.playbook import CAPABILITIES

        return (CAPABILITIES["export"] and self.request.evaluation.export and self.evaluated is not None and self.evaluated.iteration == self.iteration
                and (self.exported is None or self.exported.iteration != self.iteration)
                and self.evaluated.success_rate >= self.request.criteria.iterate_success)

    def _resolved(self) -> dict:
        """The config with the device default batch size filled in (the memory store needs it)."""
        cuda = self.hardware.get("device") == "cuda"
        return dict(self.config) | {"batch_size": self.config.get("batch_size") or (4 if cuda else 1)}

    # --- helpers -----------------------------------------------------------------------------
    def _train_spec(self, it: int):
        from tools.train import TrainSpec
        from tunepilot.models import resolve_model

        c = self.config
        return TrainSpec(data=Path(self.data.path) if self.data else self.folder / "artifacts" / "data",
                         out=self.folder / "artifacts" / f"iter-{it}" / "train", model=resolve_model(self.request.base_model),
                         method=c["method"], epochs=c["epochs"], max_steps=c.get("max_steps"),
                         batch_size=c.get("batch_size"), grad_accum=c["grad_accum"], lr=c["learning_rate"],
                         rank=c["rank"], targets=c["targets"], max_length=c["max_length"],
                         gradient_checkpointing=c["gradient_checkpointing"], memory_limit_gb=c.get("memory_limit_gb"),
                         eval_steps=c["eval_steps"], precision=c["precision"],
                         num_processes=max(1, self.request.hardware.gpus))

    @property
    def model_path(self) -> str:
        from tunepilot.models import resolve_model

        return resolve_model(self.request.base_model)


def _outcome(e) -> str:
    d = getattr(e, "diagnosis", None) or ""
    return next((k for k in ("cpu_oom", "gpu_oom", "nan", "diverged", "data_error") if k in d), "failed")


def _effective(cfg: TrainingConfig) -> dict:
    """The request's training config with the train tool's defaults filled in (the playbook
    changes real values, not None)."""
    c = cfg.model_dump()
    if c["learning_rate"] is None:
        c["learning_rate"] = 2e-5 if c["method"] == "full" else 1e-3
    return c


def _request_fields(config: dict) -> dict:
    return {k: v for k, v in config.items() if k in TrainingConfig.model_fields}


def _count(path: Path) -> int:
    return sum(1 for line in open(path) if line.strip()) if path.exists() else 0


def _signals(metrics: Path) -> list[str]:
    """underfit: the last val loss was still the best and falling; overfit: val loss rose at the
    last two evals while train loss fell."""
    rows = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()] if metrics.exists() else []
    ev = [r["eval_loss"] for r in rows if r.get("event") == "eval" and r.get("eval_loss") is not None]
    tr = [r["loss"] for r in rows if r.get("loss") is not None]
    out = []
    if len(ev) >= 2 and ev[-1] < ev[-2]:
        out.append("underfit")
    if len(ev) >= 3 and ev[-1] > ev[-2] > ev[-3] and len(tr) >= 2 and tr[-1] < tr[0]:
        out.append("overfit")
    return out


def _config_files(spec) -> dict[str, dict]:
    t = json.loads(spec.model_dump_json())
    return {"train.json": t,
            "lora.json": {"r": spec.rank, "lora_alpha": spec.alpha or 2 * spec.rank, "lora_dropout": spec.dropout,
                          "targets": spec.targets, "method": spec.method},
            "accelerate.json": {"num_processes": spec.num_processes, "num_machines": 1, "mixed_precision": "no",
                                "dynamo_backend": "no", "cpu": spec.num_processes <= 1 and spec.precision != "fp16"}}


def _script(tb: Toolbox, spec, it: int) -> str:
    d = tb.folder / "artifacts" / f"iter-{it}"
    data = tb.data.path if tb.data else "DATA"
    lines = ["#!/usr/bin/env bash", f"# Reproduces iteration {it} of run {tb.folder.name}: train, then evaluate.",
             "# Paste from the repository root; the config is artifacts/iter-N/plan.json -> config_files.", "set -euo pipefail"]
    if tb.request.dataset.path is None:
        lines.append(f"tunepilot data generate --out {data} --n {tb.n_examples} --seed {tb.request.dataset.seed}")
    steps = f"--max-steps {spec.max_steps}" if spec.max_steps else f"--epochs {spec.epochs}"
    lines.append(f"tunepilot train --data {data} --out {spec.out} --model {tb.request.base_model} --method {spec.method} "
                 f"{steps} --grad-accum {spec.grad_accum} --lr {spec.lr} --rank {spec.rank} --targets {spec.targets} "
                 f"--max-length {spec.max_length}" + (f" --batch-size {spec.batch_size}" if spec.batch_size else "")
                 + (" --gradient-checkpointing" if spec.gradient_checkpointing else ""))
    lines.append(f"# which runs: accelerate launch --num_processes {spec.num_processes} -m tools.train "
                 f"--config {spec.out}/training_config.json")
    limit = tb.request.evaluation.limit
    lines.append(f"tunepilot eval --data {data} --model {tb.request.base_model} --adapter {spec.out}/adapter "
                 + (f"--limit {limit} " if limit else "") + f"--out {d}/eval.json")
    return "\n".join(lines) + "\n"
