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
import time
from pathlib import Path

from tunepilot.agent.criteria import decide
from tunepilot.agent.journal import Journal, write_json
from tunepilot.agent.planfiles import config_files, count_lines, train_script
from tunepilot.agent.records import (BudgetExceeded, DataArgs, DataSummary, EvalArgs, EvalSummary, ExportArgs, ExportSummary,
                           Rejected, Stopped, TrainArgs, TrainSummary)
from tunepilot.agent.schemas import Decision, EvaluationPlan, Plan, Request, validate_file
from tunepilot.agent.state import RunState
from tunepilot import TunepilotError
from tunepilot.config import TrainingConfig

__all__ = ["BudgetExceeded", "DataArgs", "DataSummary", "EvalArgs", "EvalSummary", "ExportArgs", "ExportSummary",
           "Rejected", "Stopped", "Toolbox", "TrainArgs", "TrainSummary"]


class Toolbox:
    """The tools of one run. Everything it knows comes from the run state, which the journal's events
    fold into as they are written (agent/state.py): a tool logs, the state follows."""

    def __init__(self, folder: Path, journal: Journal, state: RunState, actor: str = "planner:playbook",
                 progress=None, memory=None, hardware: dict | None = None):
        self.folder, self.journal, self.state, self.actor = Path(folder), journal, state, actor
        self.progress, self.memory, self.hardware = progress, memory, hardware or {}
        if state.fold not in journal.listeners:
            journal.listeners.append(state.fold)
        self.t0 = time.monotonic() - state.elapsed_s  # the budget counts the time spent before an interruption

    @classmethod
    def for_request(cls, folder: Path, request: Request, actor: str = "planner:playbook", **kw) -> "Toolbox":
        """A toolbox on a new run folder whose journal starts with this request (scripts, notebooks, tests):
        the goal and request events a run's first steps write."""
        journal = Journal(folder)
        journal.log("user", "goal", input={"goal": request.goal})
        journal.log("system", "request", output={"request": request.model_dump(mode="json")})
        return cls(folder, journal, RunState.replay(journal.events, run_id=Path(folder).name), actor=actor, **kw)

    # --- the state, read-only views -----------------------------------------------------------
    request: Request = property(lambda self: self.state.request)
    config: TrainingConfig = property(lambda self: self.state.config)
    data = property(lambda self: self.state.data)
    iteration = property(lambda self: self.state.iteration)
    trained = property(lambda self: self.state.trained)
    evaluated = property(lambda self: self.state.evaluated)
    exported = property(lambda self: self.state.exported)
    base = property(lambda self: self.state.base)
    decisions = property(lambda self: self.state.decisions)
    n_examples = property(lambda self: self.state.n_examples)

    # --- budget ------------------------------------------------------------------------------
    def elapsed_s(self) -> float:
        return time.monotonic() - self.t0

    def remaining_s(self) -> float:
        return self.request.budget.max_wall_s - self.elapsed_s()

    def _refuse(self, tool: str, why: str, exc=BudgetExceeded):
        self.journal.log(self.actor, "refused", tool=tool, rationale=why)
        raise exc(why)

    def _check_budget(self, tool: str, need_s: float = 0.0, what: str = "") -> None:
        """Every tool asks before it starts: refused when a person rejected the run meanwhile, when the
        wall-time budget is spent, or when what it is expected to take (`need_s`, from measurements of
        this run or of this machine) does not fit in what is left."""
        self.journal.refresh()  # events other writers appended (a reject from another terminal)
        if self.state.rejection:
            r = self.state.rejection
            self._refuse(tool, f"run rejected by {r.by}: {r.why}", Rejected)
        left, total = self.remaining_s(), self.request.budget.max_wall_s
        if left <= 0:
            self._refuse(tool, f"wall-time budget spent ({total / 60:.1f} min, {self.elapsed_s() / 60:.1f} used)")
        if need_s > left:
            self._refuse(tool, f"{what or tool} {need_s / 60:.1f} min exceeds the remaining budget {left / 60:.1f} min")

    def _expected_eval_s(self) -> float:
        """How long the next evaluation should take: this run's last one (a first evaluation also scores
        the base model, so a later one takes less), else the memory store's last run on this machine."""
        if self.state.eval_s:
            return self.state.eval_s[-1]
        start = self.memory.starting_point(self.request.base_model, self.hardware) if self.memory else None
        return float((start or {}).get("eval_s") or 0.0)

    # --- tools -------------------------------------------------------------------------------
    def generate_data(self, args: DataArgs) -> DataSummary:
        """Generate synthetic agentic tool-use data (or use the request's dataset folder), split
        80/10/10 by role, with the BFCL contamination guard. Returns split sizes and rejections."""
        from tunepilot.tools.dataset import DatasetSpec, generate_dataset

        self._check_budget("generate_data")
        ds = self.request.dataset
        n = args.n_examples or self.n_examples
        seed = args.seed if args.seed is not None else ds.seed
        if ds.path and ds.format == "tunepilot":
            out = Path(ds.path)
            meta = json.loads((out / "metadata.json").read_text()) if (out / "metadata.json").exists() else {}
        elif ds.path:
            from tunepilot.tools.dataset import import_dataset

            out = self.folder / "artifacts" / "data"
            meta = import_dataset(Path(ds.path), ds.format, out).metadata
        else:
            out = self.folder / "artifacts" / f"data-n{n}-s{seed}"
            spec = DatasetSpec(out=out, n=n, seed=seed, teacher=ds.teacher, model=self.request.base_model)
            done = out / "metadata.json"  # written last: the folder is complete (a resumed run)
            meta = json.loads(done.read_text()) if done.exists() else generate_dataset(spec).metadata
        splits = meta.get("splits") or {s: count_lines(out / f"{s}.jsonl") for s in ("train", "val", "test")}
        tokens = meta.get("tokens") or {}
        data = DataSummary(path=str(out), splits=splits, mean_tokens=tokens.get("mean", 400.0),
                           max_tokens=tokens.get("max"), rejected=meta.get("rejected", {}))
        self.journal.log(self.actor, "tool", tool="generate_data", input=args.model_dump(exclude_none=True),
                         output=data.model_dump())
        return data

    def plan(self, config: TrainingConfig | None = None) -> Plan:
        """The next iteration's plan: reproducible script, config files, evaluation plan and the
        resource estimate. Written to plan.json (and artifacts/iter-N/plan.json)."""
        from tunepilot.agent.estimate import estimate
        from tunepilot.precision import choose_precision

        config = config or self.config
        it = self.iteration + 1
        spec = self._train_spec(it, config)
        n_tokens = int(self.data.mean_tokens * self.data.splits.get("train", 0)) if self.data else 0
        cuda = self.hardware.get("device") == "cuda"
        precision = choose_precision(config.precision, "cuda" if cuda else "cpu")
        start = self.memory.starting_point(self.request.base_model, self.hardware, config.precision) \
            if self.memory else None
        probe = self.memory.cpu_probe() if self.memory and not cuda else None  # measured once per kind of CPU
        kw = dict(tokens_per_s=(start or {}).get("tokens_per_s"), cpu_probe=probe,
                  basis=f"memory store: {start['why']}" if start and start.get("tokens_per_s") else None)
        hw = self.request.hardware
        gpus = hw.gpus or (self.hardware.get("gpus", 0) if cuda else 0)
        dist = None
        if gpus:  # the engine for the requested GPUs; the config may change so it fits (said in the plan)
            from tunepilot.agent.engines import plan_distribution, write_engine_files

            dist = plan_distribution(self.model_path, config, gpus=gpus, precision=precision.dtype, n_train_tokens=n_tokens,
                                     vram_gb=float(hw.vram_per_gpu[:-2]) if hw.vram_per_gpu else None, **kw)
            config, res = TrainingConfig(**dist.config), dist.resources
            planned = write_engine_files(self._train_spec(it, config), dist, self.folder / "artifacts" / f"iter-{it}")
            spec = planned if cuda else self._train_spec(it, config)  # no GPU here: train.sh is for the GPU machine
        else:
            res = estimate(self.model_path, config, n_train_tokens=n_tokens, device="cuda" if cuda else "cpu",
                           gpus=self.hardware.get("gpus", 0), precision=precision.dtype,
                           longest_example=self.data.max_tokens if self.data else None, **kw)
        self._planned = (config, spec)
        ev = self.request.evaluation
        plan = Plan(iteration=it, planner=self.actor.split(":", 1)[-1], training_script=train_script(self, planned if dist else spec, it),
                    config_files=config_files(planned if dist else spec) | (dist.files if dist else {}),
                    distribution=dist.summary() if dist else None,
                    evaluation_plan=EvaluationPlan(limit=ev.limit, compare_base=self.base is None and ev.compare_base,
                                                   suites=ev.suites, suite_limit=ev.suite_limit,
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
        self.journal.log(self.actor, "plan", tool="plan", input={"iteration": it, "config": config.model_dump()},
                         output={"training_time": res.training_time, "peak_memory": res.gpu_memory,
                                 "storage": res.storage, "basis": res.basis},
                         rationale=f"iteration {it} of at most {self.request.budget.max_iterations}")
        return plan

    def train(self, args: TrainArgs) -> TrainSummary:
        """Fine-tune one iteration with the current config plus the given changes (LoRA/QLoRA/full,
        as the request says). Refused when the iteration budget or the wall-time budget would be
        exceeded. Returns losses, throughput, peak memory and underfit/overfit signals."""
        from tunepilot.tools.diagnose import train_with_recovery
        from tunepilot.tools.signals import read_metrics, training_signals
        from tunepilot.tools.train import TrainFailed

        if self.data is None:
            self.generate_data(DataArgs())
        if self.iteration >= self.request.budget.max_iterations:
            self._refuse("train", f"iteration budget spent ({self.request.budget.max_iterations})")
        config = TrainingConfig.model_validate(self.config.model_dump() | args.model_dump(exclude_none=True))
        plan = self.plan(config)
        config, spec = self._planned  # as planned: the engine may have changed it to fit the GPUs
        est = plan.estimated_resources
        after = self._expected_eval_s()  # a training whose evaluation cannot finish in the budget is refused too
        self._check_budget("train", est.training_time_s + after,
                           f"estimated training time {est.training_time}" + (f" + evaluation {after / 60:.1f} min" if after else ""))
        it = self.iteration + 1
        self.journal.log(self.actor, "tool_start", tool="train", input={"iteration": it, "config": config.model_dump()})
        meta = Path(self.data.path) / "metadata.json"
        p95 = (json.loads(meta.read_text()).get("tokens") or {}).get("p95") if meta.exists() else None
        try:
            r, spec, fixes = train_with_recovery(
                spec, progress=self.progress, p95_tokens=p95,
                log=lambda kind, **kw: self.journal.log(self.actor, kind, **kw))
        except TrainFailed as e:
            if self.memory:
                fault = e.fault or "failed"
                self.memory.record(self.folder.name, self.request.base_model, self.hardware, self._resolved(config),
                                   {}, fault, [{"fault": fault, "fix": None, "fixed": False}])
            raise
        for f in fixes:  # remember what did not fit, so the next run starts below it
            if f["fault"].endswith("oom") and "batch_size" in f["changes"] and self.memory:
                self.memory.record(self.folder.name, self.request.base_model, self.hardware,
                                   self._resolved(config).model_copy(update={"batch_size": f["changes"]["batch_size"][0]}),
                                   {}, f["fault"], [{"fault": f["fault"], "fix": f["id"], "fixed": True}])
        peak = (r.peak_vram_mb or r.peak_rss_mb) / 1024
        err = 100 * (est.peak_memory_gb - peak) / peak if peak else None
        trained = TrainSummary(
            iteration=it, adapter=str(r.adapter) if r.adapter else None, steps=r.steps,
            train_loss=r.train_loss, eval_loss=r.eval_loss, tokens_per_s=r.tokens_per_s, peak_memory_gb=round(peak, 3),
            wall_s=round(r.wall_s, 1), stopped_early=r.stopped_early,
            signals=sorted(training_signals(read_metrics(Path(spec.out) / "metrics.jsonl"))),
            precision=r.precision, config=spec.config.model_dump(), fixes=fixes,
            estimate={"peak_memory_gb": est.peak_memory_gb, "training_time_s": est.training_time_s,
                      "memory_error_pct": round(err, 1) if err is not None else None,
                      "time_error_pct": round(100 * (est.training_time_s - r.wall_s) / r.wall_s, 1) if r.wall_s else None})
        self.journal.log(self.actor, "tool", tool="train", input={"iteration": it}, output=trained.model_dump())
        return trained

    def evaluate(self, args: EvalArgs) -> EvalSummary:
        """Score the latest adapter on the test split (tool-call success, latency, memory, per role,
        failure kinds). The first evaluation of a run also scores the base model on the same items."""
        from tunepilot.tools.child import call
        from tunepilot.tools.evaluate import EvalResult, EvalSpec
        from tunepilot.tools.suites import run_suites, suite_items

        if self.trained is None or not self.trained.adapter:
            raise TunepilotError("evaluate needs a trained adapter: call train first")
        ev = self.request.evaluation
        limit = args.limit or ev.limit
        out = self.folder / "artifacts" / f"iter-{self.iteration}" / "eval.json"
        compare = self.base is None and ev.compare_base
        spec = EvalSpec(data=Path(self.data.path), model=self.request.base_model, adapter=Path(self.trained.adapter),
                        batch_size=ev.batch_size, limit=limit, compare_base=compare, precision=self.config.precision)
        self._check_budget("evaluate", self.state.eval_s[-1] if self.state.eval_s else 0.0, "the last evaluation's")
        self.journal.log(self.actor, "tool_start", tool="evaluate", input={"limit": limit, "compare_base": compare})
        t0 = time.monotonic()
        rep = call("tunepilot.tools.evaluate:evaluate", spec, EvalResult, out=out, progress=self.progress)  # own process
        # Suite sample: the request's size, else the first iteration's, else sized to the budget at this eval's pace.
        n = ev.suite_limit or next(iter((self.evaluated.suites if self.evaluated else {}).values()), {}).get("items") or \
            suite_items(self.request.budget.max_wall_s, (time.monotonic() - t0) / (rep.n * (2 if compare else 1)),
                        ev.suites, self.request.budget.max_iterations)
        if ev.suites:
            self.journal.log(self.actor, "note", tool="evaluate", output={"suites": ev.suites, "items_per_suite": n},
                             rationale=f"third-party suites, base vs tuned: {n} items each")
        suites = run_suites(spec.model_copy(update={"limit": n}), ev.suites, out.parent, self.progress)
        wall = round(time.monotonic() - t0, 1)
        base = self.base
        if rep.base is not None:
            b = rep.base
            base = {"success_rate": b.success_rate, "latency_avg_s": b.latency_s["avg"], "per_role": b.per_role,
                    "failures": b.failures, "general_probe": b.general_probe}
        evaluated = EvalSummary(
            iteration=self.iteration, success_rate=rep.success_rate, latency_avg_s=rep.latency_s["avg"],
            latency_p95_s=rep.latency_s["p95"], memory_gb=round((rep.peak_vram_mb or rep.peak_rss_mb) / 1024, 3),
            per_role=rep.per_role, failures=rep.failures, general_probe=rep.general_probe, base=base,
            comparison=rep.comparison, report=str(out), wall_s=wall, precision=rep.precision,
            base_reused_from=rep.base.reused_from if rep.base else None, suites=suites, items=rep.n)
        self.journal.log(self.actor, "tool", tool="evaluate", input={"iteration": self.iteration},
                         output=evaluated.model_dump())
        return evaluated

    def export(self, args: ExportArgs) -> ExportSummary:
        """Merge + GGUF + quant ladder, each level verified in llama.cpp (see ExportArgs)."""
        from tunepilot.tools.child import call
        from tunepilot.tools.export import ExportReport, ExportSpec

        if self.trained is None or not self.trained.adapter or self.evaluated is None:
            raise TunepilotError("export needs a trained and evaluated adapter: call train and evaluate first")
        limit = args.limit or self.request.evaluation.limit or 30
        folder = self.folder / "artifacts" / f"iter-{self.iteration}" / "export"
        spec = ExportSpec(adapter=Path(self.trained.adapter), model=self.request.base_model, data=Path(self.data.path),
                          ladder=True, verify=limit, reference_success=self.evaluated.success_rate, out=folder,
                          precision=self.config.precision)  # no Ollama here: that waits for a person's approval
        self._check_budget("export", self.state.export_s[-1] if self.state.export_s else 0.0, "the last export's")
        self.journal.log(self.actor, "tool_start", tool="export", input={"limit": limit, "ladder": "q4_k_m,q5_k_m,q8_0"})
        t0 = time.monotonic()
        rep = call("tunepilot.tools.export:export", spec, ExportReport, out=folder.with_name("export.result.json"))
        q = rep.chosen
        v = rep.verification[q]
        http = rep.verification.get("http")
        lat = (http or v)["latency_s"]  # the decision's latency: what a client of the served model sees
        exported = ExportSummary(
            iteration=self.iteration, quant=q, gguf=rep.files[q]["path"], modelfile=rep.modelfile, folder=str(folder),
            success_rate=v["success_rate"], latency_avg_s=lat["avg"], latency_p95_s=lat["p95"],
            http={k: http[k] for k in ("success_rate", "latency_s", "n")} if http else None,
            latency_source="HTTP (tunepilot serve, openai client)" if http else "llama.cpp in-process",
            memory_gb=round((v.get("model_memory_mb") or v["peak_rss_mb"]) / 1024, 3), per_role=v.get("per_role") or {},
            failures=v["failures"], template_ok=rep.template_check["ok"], ladder=rep.ladder,
            report=str(folder / "export_report.json"), wall_s=round(time.monotonic() - t0, 1))
        for step in rep.ladder:
            self.journal.log(self.actor, "note", tool="export", output=step, rationale=f"{step['quant']}: {step['why']}")
        self.journal.log(self.actor, "tool", tool="export", input={"iteration": self.iteration},
                         output=exported.model_dump())
        return exported

    def decide(self) -> Decision:
        """Apply the request's deploy / iterate / abort criteria to the latest evaluation; when the
        adapter was exported, to the exported GGUF as llama.cpp ran it (what would be deployed)."""
        from tunepilot.agent import evidence

        if self.evaluated is None:
            raise TunepilotError("decide needs an evaluation: call evaluate first")
        not_exported = None
        if self.needs_export():
            try:
                self.export(ExportArgs())
            except BudgetExceeded as refused:  # this iteration is still decided, on the merged model's numbers
                not_exported = f"not exported ({refused}): judged on the merged model in transformers"
        e = self.evaluated
        metrics = {"success_rate": e.success_rate, "latency_avg_s": e.latency_avg_s, "memory_gb": e.memory_gb,
                   "per_role": e.per_role, "general_probe": e.general_probe, "runtime": "transformers",
                   **({"suites": e.suites} if e.suites else {}), **({"items": e.items} if e.items else {})}
        x = self.exported if self.exported is not None and self.exported.iteration == self.iteration else None
        if x is not None:
            metrics |= {"success_rate": x.success_rate, "latency_avg_s": x.latency_avg_s, "memory_gb": x.memory_gb,
                        "per_role": x.per_role or e.per_role, "runtime": f"llama.cpp {x.quant.upper()}",
                        "transformers_success_rate": e.success_rate}
        d = decide(metrics, self.request.criteria, self.base)
        if not_exported:
            d = d.model_copy(update={"reasons": d.reasons + [not_exported]})
        if x is not None and not x.template_ok:
            d = d.model_copy(update={"action": "iterate" if d.action == "deploy" else d.action,
                                     "failing": sorted(set(d.failing) | {"template"}),
                                     "reasons": d.reasons + ["exported chat template does not match training"]})
        if "regression" in d.failing and self.base and self.base.get("general_probe") is not None \
                and e.general_probe is not None:
            from tunepilot.tools.diagnose import Failure, diagnose

            dx = diagnose(Failure(probe_before=self.base["general_probe"], probe_after=e.general_probe,
                                  forgetting_drop=self.request.criteria.max_general_drop))
            if dx.fault == "forgetting":
                self.journal.log(self.actor, "diagnosis", tool="diagnose", output={"fault": dx.fault, "evidence": dx.evidence},
                                 rationale=f"{dx.fault}: {dx.evidence}; fixes: " + ", ".join(s["id"] for s in dx.ladder))
        if self.memory:
            self.memory.record(self.folder.name, self.request.base_model, self.hardware, self._resolved(self.config),
                               {"success_rate": e.success_rate, "latency_avg_s": e.latency_avg_s,
                                "peak_memory_gb": self.trained.peak_memory_gb, "tokens_per_s": self.trained.tokens_per_s,
                                "wall_s": self.trained.wall_s, "eval_loss": self.trained.eval_loss, "eval_s": e.wall_s},
                               "ok", [{"fault": f["fault"], "fix": f["id"], "fixed": True} for f in self.trained.fixes])
        judged = evidence.hashes(evidence.artifacts(self.trained.adapter, x.model_dump() if x else None))
        self.journal.log(self.actor, "decision", tool="decide", input={"iteration": self.iteration},
                         output={"metrics": d.metrics, "reasons": d.reasons, "failing": d.failing,
                                 "next_step": d.next_step, "iteration": self.iteration, "evidence": judged,
                                 "adapter": self.trained.adapter, "export": x.model_dump() if x else None},
                         decision=d.action, rationale="; ".join(d.reasons))
        return self.decisions[-1]

    def needs_export(self) -> bool:
        """Whatever the planner, the decision is judged on the exported model: export once per
        iteration when llama.cpp is installed and success is not already below the abort bar (then
        no runtime can save it)."""
        from tunepilot.agent.playbook import CAPABILITIES

        return (CAPABILITIES["export"] and self.request.evaluation.export and self.evaluated is not None
                and self.evaluated.iteration == self.iteration
                and (self.exported is None or self.exported.iteration != self.iteration)
                and self.evaluated.success_rate >= self.request.criteria.iterate_success)

    def _resolved(self, config: TrainingConfig) -> TrainingConfig:
        """The config with the device default batch size filled in (the memory store needs it)."""
        cuda = self.hardware.get("device") == "cuda"
        return config.resolved().model_copy(update={"batch_size": config.batch_size or (4 if cuda else 1)})

    # --- helpers -----------------------------------------------------------------------------
    def _train_spec(self, it: int, config: TrainingConfig):
        from tunepilot.tools.train import TrainSpec
        from tunepilot.models import resolve_model

        data = Path(self.data.path) if self.data else self.folder / "artifacts" / "data"
        return TrainSpec(**config.model_dump(), data=data, out=self.folder / "artifacts" / f"iter-{it}" / "train",
                         model=resolve_model(self.request.base_model),
                         num_processes=max(1, self.request.hardware.gpus) if self.hardware.get("device") == "cuda" else 1)

    @property
    def model_path(self) -> str:
        from tunepilot.models import resolve_model

        return resolve_model(self.request.base_model)
