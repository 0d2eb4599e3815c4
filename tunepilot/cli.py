"""tunepilot command line.

    tunepilot data generate --out data/agentic --n 300
    tunepilot data import chats.jsonl --format sharegpt --out data/mine
    tunepilot train --data data/agentic --out out/a1 --max-steps 60
    tunepilot eval --data data/agentic --adapter out/a1/adapter --compare-base --limit 30
    tunepilot eval --suite bfcl:simple_python --adapter out/a1/adapter --limit 50 --compare-base
    tunepilot run "Make SmolLM2 better at calling coding tools: at least 90% success, under 5 s per answer"
    tunepilot runs; tunepilot show RUN; tunepilot approve RUN; tunepilot reject RUN --why TEXT

Every command takes --json (one JSON object on stdout). Bad input exits 2 with a one-line error.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pydantic import ValidationError

from tunepilot import TunepilotError
from tunepilot.atomic import write_json
from tunepilot.models import DEFAULT_MODEL
from tunepilot.outputs import claim_file
from tunepilot.redact import redact_text

EVAL_REPORT_KEYS = ("model", "source", "n", "success_rate")  # an --out file holding these is an earlier report


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors as one line (exit 2) like every other bad input."""

    def error(self, message: str):
        where = self.prog.removeprefix("tunepilot").strip()
        print(f"tunepilot: error: {where + ': ' if where else ''}{message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="tunepilot", description="Autopilot for LoRA/QLoRA fine-tuning")
    sub = p.add_subparsers(dest="cmd", required=True)

    data = sub.add_parser("data", help="make or import a dataset").add_subparsers(dest="data_cmd", required=True)
    g = data.add_parser("generate", help="synthetic agentic tool-use data")
    g.add_argument("--out", required=True, type=Path)
    g.add_argument("--n", type=int, default=300)
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--teacher", choices=["template", "openai", "self"], default="template")
    g.add_argument("--model", default=DEFAULT_MODEL, help="tokenizer for the length cap; base model for --teacher self")
    g.add_argument("--base-url", help="OpenAI-compatible endpoint for --teacher openai (key: OPENAI_API_KEY)")
    g.add_argument("--teacher-model", default="gpt-4o-mini")
    g.add_argument("--api-fraction", type=float, help="share of schema-diverse API examples (default: DatasetSpec.api_fraction, the autopilot's)")
    g.add_argument("--allow-unisolated-exec", action="store_true", default=None,
                   help="run code written by --teacher openai/self even where this machine has no namespaces to "
                        "isolate it (no network, PID or mount isolation; the environment is still emptied)")
    g.add_argument("--json", action="store_true")
    i = data.add_parser("import", help="convert alpaca/sharegpt/openai/chatml JSONL")
    i.add_argument("file", type=Path)
    i.add_argument("--format", required=True, choices=["alpaca", "sharegpt", "openai", "chatml"])
    i.add_argument("--out", required=True, type=Path)
    i.add_argument("--json", action="store_true")

    t = sub.add_parser("train", help="LoRA / QLoRA / full fine-tuning")
    t.add_argument("--data", required=True, type=Path)
    t.add_argument("--out", required=True, type=Path)
    t.add_argument("--model", default=DEFAULT_MODEL)
    t.add_argument("--method", choices=["lora", "qlora", "full"])
    steps = t.add_mutually_exclusive_group()
    steps.add_argument("--epochs", type=float)
    steps.add_argument("--max-steps", type=int)
    t.add_argument("--batch-size", type=int)
    t.add_argument("--grad-accum", type=int)
    t.add_argument("--learning-rate", "--lr", dest="learning_rate", type=float)
    t.add_argument("--rank", type=int)
    t.add_argument("--alpha", type=int)
    t.add_argument("--dropout", type=float)
    t.add_argument("--targets", choices=["attn", "attn+mlp"])
    t.add_argument("--max-length", type=int)
    t.add_argument("--chunk-tokens", type=int, help="CPU: tokens per backward (conversation-aligned chunks of a packed row)")
    t.add_argument("--eval-steps", type=int)
    t.add_argument("--seed", type=int)
    t.add_argument("--precision", choices=["auto", "bf16", "fp16", "fp32"])
    t.add_argument("--num-processes", type=int)
    t.add_argument("--num-machines", type=int)
    t.add_argument("--machine-rank", type=int)
    t.add_argument("--main-process-ip")
    t.add_argument("--main-process-port", type=int)
    t.add_argument("--engine", choices=["single", "ddp", "zero2", "fsdp", "zero3_offload"])
    t.add_argument("--accelerate-config", type=Path)
    t.add_argument("--gradient-checkpointing", action="store_true", default=None)
    t.add_argument("--no-packing", dest="packing", action="store_false", default=None)
    t.add_argument("--no-resume", dest="resume", action="store_false", default=None)
    t.add_argument("--trust-remote-code", action="store_true", default=None)
    t.add_argument("--report-to", choices=["tensorboard", "wandb", "mlflow", "none"],
                   help="experiment tracking (default tensorboard: event files in OUT/tensorboard)")
    t.add_argument("--memory-limit-gb", type=float, help="cap the training child's memory (a real allocation limit)")
    t.add_argument("--no-recover", dest="recover", action="store_false",
                   help="fail on OOM / NaN instead of diagnosing and retrying with the fallback ladder")
    t.add_argument("--json", action="store_true")

    e = sub.add_parser("eval", help="score a model/adapter on a dataset or a BFCL suite")
    src = e.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", type=Path)
    src.add_argument("--suite")
    e.add_argument("--model", default=DEFAULT_MODEL)
    e.add_argument("--adapter", type=Path)
    e.add_argument("--gguf", type=Path, help="score an exported GGUF in llama.cpp (tunepilot export)")
    e.add_argument("--endpoint", help="score an OpenAI-compatible server (e.g. tunepilot serve) over HTTP: "
                                      "http://127.0.0.1:8000/v1")
    e.add_argument("--limit", type=int, help="the first N items of a split; N spread evenly over a --suite")
    e.add_argument("--compare-base", action="store_true")
    e.add_argument("--batch-size", type=int, help="generation batch (default 32)")
    e.add_argument("--latency-probe", type=int, default=5, help="answers timed one request at a time for latency (0: off)")
    e.add_argument("--no-general-probe", dest="general_probe", action="store_false", default=None,
                   help="skip the 20 general questions (the forgetting check)")
    e.add_argument("--no-constrained", dest="constrained", action="store_false", default=None,
                   help="score raw decoding (default: tool calls constrained to their schemas, as servers do)")
    e.add_argument("--max-new-tokens", type=int, default=192)
    e.add_argument("--no-reuse-base", dest="reuse_base", action="store_false", default=None,
                   help="score the base model again instead of reusing its report from an earlier evaluation with "
                        "the same model, data, settings and machine")
    e.add_argument("--precision", choices=["auto", "bf16", "fp16", "fp32"],
                   help="compute dtype (default auto: bf16 where the device has it natively, else fp32 on CPU)")
    e.add_argument("--out", type=Path, help="also write the full report (with per-item outputs) here")
    e.add_argument("--json", action="store_true")

    x = sub.add_parser("export", help="merge, GGUF, quantize, template check, verify in llama.cpp, Modelfile")
    x.add_argument("--adapter", type=Path, help="LoRA/QLoRA adapter (omit to export --model as is)")
    x.add_argument("--model", default=DEFAULT_MODEL)
    x.add_argument("--out", required=True, type=Path)
    x.add_argument("--quant", dest="quants", type=lambda v: [q.strip() for q in v.split(",") if q.strip()],
                   help="comma-separated levels: q8_0,q4_k_m,q5_k_m (default q8_0,q4_k_m)")
    x.add_argument("--ladder", action="store_true", default=None,
                   help="seed 004's ladder: Q4_K_M, then Q5_K_M, then Q8_0 while success drops beyond the margin")
    x.add_argument("--verify", type=int, help="test items scored per model in llama.cpp (default 10; 0: skip)")
    x.add_argument("--data", type=Path, help="dataset whose test split verifies (default: the adapter's)")
    x.add_argument("--max-success-drop", type=float, help="allowed success loss of a quant vs the merged model")
    x.add_argument("--reference-success", type=float, help="merged model's success already measured on the same "
                   "items (skips re-scoring it)")
    x.add_argument("--system", help="SYSTEM prompt of the Modelfile")
    x.add_argument("--precision", choices=["auto", "bf16", "fp16", "fp32"], help="dtype of the merge (default auto)")
    x.add_argument("--no-lora-gguf", dest="lora_gguf", action="store_false", default=None)
    x.add_argument("--no-verify-http", dest="verify_http", action="store_false", default=None,
                   help="skip scoring the chosen GGUF through tunepilot serve (HTTP, openai client)")
    x.add_argument("--ollama", action="store_true", default=None, help="also `ollama create` the model (needs ollama)")
    x.add_argument("--ollama-name", help="name of the Ollama model (default tunepilot-<folder>)")
    x.add_argument("--json", action="store_true")
    d = sub.add_parser("doctor", help="this machine's compute (CPU kind, native bf16, matmul probe, dtype per tool) "
                                      "and the export toolchain (llama.cpp, converters, a smoke conversion)")
    d.add_argument("--model", help="smoke-convert this model instead of a tiny one built on the spot")
    d.add_argument("--json", action="store_true")

    r = sub.add_parser("run", help="the autopilot: a goal in words -> data -> train -> evaluate -> decision")
    r.add_argument("goal")
    r.add_argument("--model", help="base model (embedded name, HF id or local folder); overrides the goal's")
    r.add_argument("--planner", choices=["playbook", "llm"], default="playbook")
    r.add_argument("--base-url", help="OpenAI-compatible endpoint for --planner llm (key: $OPENAI_API_KEY)")
    r.add_argument("--llm-model", default="gpt-4o-mini", help="model name at --base-url")
    r.add_argument("--api-key-env", default="OPENAI_API_KEY", help="environment variable holding the API key")
    r.add_argument("--max-iterations", type=int)
    r.add_argument("--max-minutes", type=float, help="wall-time budget")
    r.add_argument("--n-examples", type=int, help="examples to generate")
    r.add_argument("--max-steps", type=int, help="cap training steps per iteration (quick trials)")
    r.add_argument("--eval-limit", type=int, help="test items scored per iteration")
    r.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="set any request field, e.g. --set training_config.rank=32 --set criteria.max_memory_gb=8")
    r.add_argument("--run-id", help="name the run (letters, digits, . _ -)")
    r.add_argument("--runs-dir", type=Path, help="where runs live (default ./runs or $TUNEPILOT_RUNS)")
    r.add_argument("--json", action="store_true")
    rs = sub.add_parser("resume", help="continue an interrupted run where it stopped")
    rs.add_argument("run_id")
    rs.add_argument("--runs-dir", type=Path)
    rs.add_argument("--json", action="store_true")
    ls = sub.add_parser("runs", help="list runs")
    ls.add_argument("--runs-dir", type=Path)
    ls.add_argument("--json", action="store_true")
    u = sub.add_parser("ui", help="review runs and approve deployments in a browser (local web app)")
    u.add_argument("--runs-dir", type=Path)
    u.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1; another needs --token)")
    u.add_argument("--port", type=int, default=8765)
    u.add_argument("--token", help="access token (default: a random one, printed in the URL)")
    u.add_argument("--json", action="store_true")
    sv = sub.add_parser("serve", help="serve a run's exported GGUF (or a GGUF file) through an OpenAI-compatible "
                                      "/v1/chat/completions with tools, schema-constrained as evaluated")
    sv.add_argument("target", help="a run id (its export's chosen GGUF) or a .gguf file")
    sv.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1: this machine only)")
    sv.add_argument("--port", type=int, default=8000)
    sv.add_argument("--ctx", type=int, default=4096, help="context length in tokens (default 4096)")
    sv.add_argument("--threads", type=int, help="llama.cpp threads (default: every core)")
    sv.add_argument("--runs-dir", type=Path)
    sv.add_argument("--json", action="store_true")
    rp = sub.add_parser("report", help="write runs/<id>/report.html (self-contained) and runs/<id>/plots/*.png")
    rp.add_argument("run_id")
    rp.add_argument("--runs-dir", type=Path)
    rp.add_argument("--json", action="store_true")
    for name, text in (("show", "print a run's journal"), ("approve", "approve a deploy decision"),
                       ("reject", "reject a run")):
        c = sub.add_parser(name, help=text)
        c.add_argument("run_id")
        c.add_argument("--runs-dir", type=Path)
        c.add_argument("--json", action="store_true")
        if name == "reject":
            c.add_argument("--why", required=True)
        if name in ("approve", "reject"):
            c.add_argument("--who", help="who decides (default: the login name)")
        if name == "approve":
            c.add_argument("--note", help="a note kept with the approval in the journal")
    return p


def _spec_args(ns: argparse.Namespace, skip: tuple[str, ...]) -> dict:
    return {k: v for k, v in vars(ns).items() if v is not None and k not in skip}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from tunepilot import ui

    try:
        result = _run(args, ui.Console(quiet=args.json))
    except ValidationError as e:
        err = e.errors()[0]
        field = ".".join(str(x) for x in err["loc"]) or "input"
        print(redact_text(f"tunepilot: error: --{field.replace('_', '-')}: {err['msg']}"), file=sys.stderr)
        return 2
    except TunepilotError as e:
        print(redact_text(f"tunepilot: error: {' '.join(str(e).splitlines())}"), file=sys.stderr)  # one line
        return 2
    except KeyboardInterrupt:
        print("tunepilot: interrupted", file=sys.stderr)
        return 130
    if args.json:
        print(json.dumps(result, default=str))
    return 0


def _run(args, console) -> dict:
    if args.cmd == "data" and args.data_cmd == "generate":
        from tunepilot.tools.dataset import DatasetSpec, generate_dataset

        spec = DatasetSpec(**_spec_args(args, ("cmd", "data_cmd", "json")))
        with console.progress("generating", spec.n) as bar:
            card = generate_dataset(spec, progress=lambda done, total: bar(done))
        console.dataset(card)
        return card.model_dump(mode="json")
    if args.cmd == "data":
        from tunepilot.tools.dataset import import_dataset

        card = import_dataset(args.file, args.format, args.out)
        console.dataset(card)
        return card.model_dump(mode="json")
    if args.cmd == "train":
        from tunepilot.tools.diagnose import train_with_recovery
        from tunepilot.tools.train import TrainSpec, train

        spec = TrainSpec(**_spec_args(args, ("cmd", "json", "recover")))
        with console.training() as on_event:
            if args.recover:  # OOM / NaN: diagnose, apply the next fix of the fault's ladder, retry
                result, spec, fixes = train_with_recovery(spec, progress=on_event, log=console.fault)
            else:
                result, fixes = train(spec, progress=on_event), []
        console.trained(result)
        return result.model_dump(mode="json") | {"fixes": fixes}
    if args.cmd == "eval":
        from tunepilot.tools.evaluate import EvalSpec, evaluate

        if args.suite in ("all", "bfcl:all"):  # one table: base, tuned, items, paired test per suite
            from tunepilot.tools.suites import compare_suites, suites

            spec = EvalSpec(**_spec_args(args, ("cmd", "json", "out", "suite", "compare_base")), suite="bfcl:simple_python")
            with console.training("evaluating") as on_event:
                rows = compare_suites(spec, suites(args.suite), progress=on_event)
            console.suites(rows)
            return {"suites": rows}
        spec = EvalSpec(**_spec_args(args, ("cmd", "json", "out")))
        out = args.out and claim_file(args.out, "eval report", EVAL_REPORT_KEYS)  # refused before evaluating
        with console.training("evaluating") as on_event:  # answers done and ETA, per phase (base, tuned)
            report = evaluate(spec, progress=on_event)
        if out:
            out.parent.mkdir(parents=True, exist_ok=True)
            write_json(out, report.model_dump(mode="json"))
        console.evaluated(report)
        return report.model_dump(mode="json", exclude={"items": True, "base": {"items"}})
    if args.cmd == "export":
        from tunepilot.tools.export import ExportSpec, export

        spec = ExportSpec(**_spec_args(args, ("cmd", "json")))
        with console.spinner("exporting") as status:
            report = export(spec, log=status)
        console.exported(report)
        return report.model_dump(mode="json")
    if args.cmd == "doctor":
        from tunepilot.memory.store import Memory
        from tunepilot.tools.llamacpp import doctor
        from tunepilot.precision import machine_report

        with console.spinner("measuring this machine (matmul probe, fp32 and bf16)"):
            machine = machine_report(Memory().cpu_probe(refresh=True))  # the estimator reads the stored probe
        with console.spinner("checking the export toolchain"):
            rep = doctor(args.model) | {"machine": machine}
        console.doctor(rep)
        if not rep["ok"]:
            raise TunepilotError("doctor: " + "; ".join(f"{c['check']}: {c['detail']}" for c in rep["checks"] if not c["ok"]))
        return rep
    if args.cmd == "ui":
        from tunepilot.web.app import serve

        serve(args.runs_dir, args.host, args.port, args.token, announce=lambda url: print(url, flush=True))
        return {}
    if args.cmd == "serve":
        from tunepilot.agent.approval import exported_gguf
        from tunepilot.tools.serve import serve

        serve(exported_gguf(args.target, args.runs_dir), args.host, args.port, args.ctx, args.threads,
              ready=lambda gguf, url: print(f"serving {gguf} at {url} (OpenAI-compatible; Ctrl-C stops)", flush=True))
        return {}
    if args.cmd == "report":
        from tunepilot.agent.journal import existing_run_dir
        from tunepilot.web.report import write_report

        path = write_report(existing_run_dir(args.run_id, args.runs_dir))
        console.c.print(f"report: {path}")
        return {"report": str(path), "plots": str(path.parent / "plots")}
    if args.cmd in ("run", "resume", "runs", "show", "approve", "reject"):
        result = _agent(args, console)
        if args.cmd != "runs" and args.cmd != "show":  # the review file follows every change of the run
            _write_report(result.get("run_id") or args.__dict__.get("run_id"), args.runs_dir, console)
        return result
    raise TunepilotError(f"unknown command {args.cmd}")


def _write_report(run_id: str | None, runs_dir: Path | None, console) -> None:
    """report.html next to the journal; a failure to draw is said, never a failed command."""
    from tunepilot.agent.journal import existing_run_dir
    from tunepilot.web.report import write_report

    if not run_id:
        return
    try:
        path = write_report(existing_run_dir(run_id, runs_dir))
        if not console.quiet:
            console.c.print(f"report: {path}")
    except Exception as e:  # noqa: BLE001 - the run and its journal are complete either way
        console.c.print(f"report not written: {type(e).__name__}: {redact_text(str(e))[:200]}")


def _agent(args, console) -> dict:
    from tunepilot.agent import run as runs

    if args.cmd == "run":
        overrides = {k: v for k, v in (("budget.max_iterations", args.max_iterations),
                                       ("budget.max_wall_s", args.max_minutes and args.max_minutes * 60),
                                       ("dataset.n_examples", args.n_examples),
                                       ("training_config.max_steps", args.max_steps),
                                       ("evaluation.limit", args.eval_limit)) if v is not None}
        for item in args.set:
            key, sep, value = item.partition("=")
            if not sep:
                raise TunepilotError(f"--set {item}: use FIELD=VALUE, e.g. training_config.rank=32")
            try:
                overrides[key.strip()] = json.loads(value)
            except json.JSONDecodeError:
                overrides[key.strip()] = value
        runs.check_goal(args.goal, model=args.model, overrides=overrides, planner=args.planner, base_url=args.base_url,
                        llm_model=args.llm_model, api_key_env=args.api_key_env)  # before any progress is shown
        if args.run_id:
            runs.run_dir(args.run_id, args.runs_dir)  # a bad id fails before any progress is shown too
        with console.training() as on_train:
            result = runs.start(args.goal, model=args.model, planner=args.planner, base_url=args.base_url,
                                llm_model=args.llm_model, api_key_env=args.api_key_env, overrides=overrides,
                                runs=args.runs_dir, run_id=args.run_id, progress=on_train, echo=console.event)
        console.decided(result)
        return result
    if args.cmd == "resume":
        runs.existing_run_dir(args.run_id, args.runs_dir)  # before any progress is shown
        with console.training() as on_train:
            result = runs.resume(args.run_id, args.runs_dir, progress=on_train, echo=console.event)
        console.decided(result)
        return result
    if args.cmd == "runs":
        rows = runs.list_runs(args.runs_dir)
        console.runs(rows)
        return {"runs": rows}
    if args.cmd == "show":
        from tunepilot.agent.journal import Journal
        from tunepilot.agent.render import journal_markdown

        folder, dec = runs.load(args.run_id, args.runs_dir)
        events = Journal.read(folder)  # unreadable lines are skipped here (the next driver moves them aside)
        console.markdown(journal_markdown(folder, events))
        return {"run_id": args.run_id, "decision": dec, "events": events}
    if args.cmd == "approve":
        return runs.approve(args.run_id, args.who, args.runs_dir, note=args.note)
    return runs.reject(args.run_id, args.why, args.who, args.runs_dir)


if __name__ == "__main__":
    sys.exit(main())
