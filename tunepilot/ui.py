"""Progress and summaries on stderr with rich; silent when --json asks for machine output."""

from __future__ import annotations

from contextlib import contextmanager

from rich.console import Console as RichConsole
from rich.markup import escape
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)
from rich.table import Table


class Console:
    def __init__(self, quiet: bool = False):
        self.quiet = quiet
        self.c = RichConsole(stderr=True)

    def _bar(self):
        return Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[info]}"), console=self.c,
                        disable=self.quiet)

    @contextmanager
    def progress(self, what: str, total: int):
        with self._bar() as p:
            task = p.add_task(what, total=total, info="")
            yield lambda done, info="": p.update(task, completed=done, info=info)

    @contextmanager
    def spinner(self, what: str):
        """Yields a callback that shows the current step next to the spinner."""
        with self._bar() as p:
            task = p.add_task(what, total=None, info="")
            yield lambda info: p.update(task, info=escape(str(info)))

    @contextmanager
    def training(self, what: str = "training"):
        """A bar for steps (training) or answers (an evaluation: events with a "phase"), with ETA."""
        with self._bar() as p:
            task = p.add_task(what, total=None, info="loading model")
            phase = [what]

            def on_event(e: dict):
                now = e.get("phase", "training" if "phase" not in e and what == "training" else what)
                if now != phase[0]:  # a new phase: its own count and its own ETA
                    phase[0] = now
                    p.reset(task, description=now)
                info = []
                if "loss" in e:
                    info.append(f"loss {e['loss']:.3f}")
                if "eval_loss" in e:
                    info.append(f"val {e['eval_loss']:.3f}")
                if e.get("tokens_per_s"):
                    info.append(f"{e['tokens_per_s']:.0f} tok/s")
                p.update(task, total=e.get("max_steps"), completed=e.get("step", 0), info="  ".join(info))

            yield on_event

    def dataset(self, card) -> None:
        if self.quiet:
            return
        m = card.metadata
        self.c.print(f"[green]wrote[/] {card.out}: " + ", ".join(f"{k} {v}" for k, v in card.splits.items()))
        for key in ("by_role", "by_kind", "rejected"):
            if key in m:
                self.c.print(f"  {key}: {m[key]}")
        if "contamination" in m:  # one line: what the finished data shares with every evaluation suite
            c = m["contamination"]
            overlap = {s: v["records_overlapping"] for s, v in c.items() if v["records_overlapping"]}
            rej = sum(v["rejected_while_generating"] for v in c.values())
            self.c.print(f"  contamination: {overlap or f'0 records overlap any of {len(c)} suites'} "
                         f"(questions, names, 13-grams; {rej} candidates rejected while generating)")

    def trained(self, r) -> None:
        if not self.quiet:
            self.c.print(f"[green]trained[/] {r.steps} steps in {r.wall_s:.0f}s: train loss {r.train_loss:.3f}, "
                         f"val loss {r.eval_loss:.3f}, {r.tokens_per_s or 0:.0f} tok/s, peak RSS {r.peak_rss_mb:.0f} MB"
                         f"{' (early stop)' if r.stopped_early else ''} -> {r.adapter or r.model_dir}")

    def suites(self, rows: list[dict]) -> None:
        if self.quiet:
            return
        t = Table(title="third-party suites, base vs tuned")
        for col in ("suite", "items", "base", "tuned", "diff (95 % CI)", "McNemar p"):
            t.add_column(col, justify="left" if col == "suite" else "right")
        for r in rows:
            ci = r["diff_ci95"] or [None, None]
            t.add_row(r["suite"], str(r["items"]), _fmt(r["base"]), _fmt(r["tuned"]),
                      f"{_fmt(r['diff'])} ({_fmt(ci[0])} … {_fmt(ci[1])})", _fmt(r["mcnemar_p"]))
        self.c.print(t)

    def evaluated(self, result) -> None:
        if self.quiet:
            return
        rep = result.model_dump(mode="json", exclude={"items": True, "base": {"items"}})
        cols = [("base", rep["base"]), ("tuned", rep)] if rep.get("base") else [("model", rep)]
        t = Table(title=f"{rep['source']} ({rep['n']} items)")
        t.add_column("metric")
        for name, _ in cols:
            t.add_column(name, justify="right")
        for key in ("success_rate", "tool_call_accuracy", "multi_step_match", "direct_answer_accuracy",
                    "tag_wellformed_rate", "val_loss"):
            t.add_row(key, *[_fmt(r.get(key)) for _, r in cols])
        t.add_row("latency avg / p95 s", *[f"{r['latency_s']['avg']:.2f} / {r['latency_s']['p95']:.2f}" for _, r in cols])
        t.add_row("failures", *[", ".join(f"{k} {v}" for k, v in r["failures"].items()) or "-" for _, r in cols])
        self.c.print(t)
        if rep.get("comparison"):
            c = rep["comparison"]
            self.c.print(f"tuned - base = {c['diff']:+.3f} (95% CI {c['diff_ci95'][0]:+.3f}..{c['diff_ci95'][1]:+.3f}), "
                         f"McNemar p = {c['mcnemar_p']:.4g}")


    def exported(self, rep) -> None:
        if self.quiet:
            return
        t = Table(title=f"export -> {rep.out}")
        for col in ("model", "file MB", "success", "latency avg / p95 s", "memory MB"):
            t.add_column(col, justify="left" if col == "model" else "right")
        for name in ["hf", *[k for k in rep.files if k not in ("f16", "lora")]]:
            v = rep.verification.get(name, {})
            size = rep.files.get(name, {}).get("mb")
            lat = v.get("latency_s") or {}
            t.add_row(name.upper() if name != "hf" else "merged (transformers)", _fmt(size), _fmt(v.get("success_rate")),
                      f"{lat['avg']:.2f} / {lat['p95']:.2f}" if lat else "-",
                      _fmt(v.get("model_memory_mb") or v.get("peak_rss_mb")))
        self.c.print(t)
        tc = rep.template_check
        self.c.print(f"template round trip: {'OK' if tc['ok'] else 'MISMATCH'} on {len(tc['cases'])} golden conversations;"
                     f" chosen: {rep.chosen or '-'}; Modelfile: {rep.modelfile}")
        if not rep.ollama.get("created"):
            self.c.print(f"ollama not run here; to install the model: {escape(rep.ollama['command'])}")

    def doctor(self, rep: dict) -> None:
        if self.quiet:
            return
        m = rep.get("machine")
        if m:
            cpu, probe = m["cpu"], m["probe"]
            self.c.print(f"[bold]cpu[/]  {escape(cpu['kind'])}; {cpu['cores']} cores, {cpu['threads']} torch threads; "
                         f"AMX {'yes' if cpu['amx'] else 'no'}; flags: {escape(' '.join(cpu['flags']) or '-')}")
            if m["gpu"]:
                g = m["gpu"]
                self.c.print(f"[bold]gpu[/]  {g['count']}x {escape(g['name'])}, bf16 {'yes' if g['bf16'] else 'no'}")
            self.c.print(f"[bold]matmul probe[/]  {probe['shape'][0]}x{probe['shape'][1]} @ {probe['shape'][1]}x"
                         f"{probe['shape'][2]}: fp32 {probe['fp32_gflops']:.0f} GFLOP/s ({probe['fp32_ms']} ms), "
                         f"bf16 {probe['bf16_gflops']:.0f} GFLOP/s ({probe['bf16_ms']} ms)")
            for tool, why in m["tools"].items():
                self.c.print(f"[bold]{tool}[/]  {escape(why)}")
        for c in rep["checks"]:
            mark = "[green]ok[/green]" if c["ok"] else "[red]FAIL[/red]"
            self.c.print(f"{mark}  {c['check']}: {escape(str(c['detail']))}")

    def fault(self, kind: str, tool: str | None = None, output=None, rationale: str | None = None) -> None:
        """Diagnosis and recovery lines from the train tool's fallback ladder."""
        if not self.quiet:
            color = {"diagnosis": "red", "recover": "yellow"}.get(kind, "dim")
            self.c.print(f"[{color}]{kind}[/] {escape(tool or '')} {escape(rationale or '')}", highlight=False)

    # --- the agent ---------------------------------------------------------------------------
    def event(self, e: dict) -> None:
        """One line per journal event while a run goes."""
        if self.quiet or e["kind"] == "tool_start":
            return
        line = f"[dim]{e['seq']:>3}[/] {e['actor']} [bold]{e['kind']}[/]"
        if e.get("tool"):
            line += f" {e['tool']}"
        if e.get("decision"):
            line += f" -> [bold]{e['decision'].upper()}[/]"
        out = e.get("output")
        if isinstance(out, dict):
            keys = ("splits", "steps", "train_loss", "eval_loss", "tokens_per_s", "peak_memory_gb", "wall_s",
                    "success_rate", "latency_avg_s", "memory_gb", "training_time", "peak_memory")
            line += "  " + escape(", ".join(f"{k} {_fmt(out[k])}" for k in keys if k in out))
        if e.get("rationale"):
            line += f"\n      [italic]{escape(e['rationale'][:400])}[/]"
        if e["kind"] == "request":
            line += "".join(f"\n      {escape(a)}" for a in out.get("assumptions", []))
        self.c.print(line, highlight=False)

    def decided(self, r: dict) -> None:
        if self.quiet:
            return
        color = {"deploy": "green", "iterate": "yellow", "abort": "red"}[r["decision"]]
        self.c.print(f"[bold {color}]{r['decision'].upper()}[/] after {r['iterations']} iteration(s), "
                     f"{r['elapsed_s'] / 60:.1f} min — run {r['run_id']}")
        for reason in r["reasons"]:
            self.c.print(f"  - {reason}")
        if r.get("next_step"):
            self.c.print(f"  next: {r['next_step']}")
        self.c.print(f"  journal: {r['folder']}/journal.md   (tunepilot show {r['run_id']})")

    def runs(self, rows: list[dict]) -> None:
        if self.quiet:
            return
        t = Table(title="runs")
        for col in ("run_id", "decision", "status", "model", "goal"):
            t.add_column(col)
        for r in rows:
            t.add_row(*[str(r.get(c) or "-")[:60] for c in ("run_id", "decision", "status", "model", "goal")])
        self.c.print(t)

    def markdown(self, text: str) -> None:
        if not self.quiet:
            from rich.markdown import Markdown

            self.c.print(Markdown(text))


def _fmt(v) -> str:
    return "-" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)
