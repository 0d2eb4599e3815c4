"""A person's verdict on a run: approve (then deploy) or reject. Both read the run state derived from
the journal (agent/state.py); decision.json is a rendering and is never trusted.

    tunepilot approve r-20261122-101500-ab12      # only when the latest decision is deploy
    tunepilot reject r-20261122-101500-ab12 --why "latency measured on the wrong machine"

Approval is bound to evidence: the decision event holds the sha256 of every artifact it judged
(agent/evidence.py). `approve` refuses when the run is rejected, when its latest decision is not
deploy, or when any of those files changed; it builds the deploy bundle, checks the bundle against
the same hashes, and only then journals the approval. A deploy that fails leaves the run awaiting
approval (a `deploy_failed` event says why). `ollama create` runs only here, after the approval,
under a name unique to the run.
"""

from __future__ import annotations

import getpass
import json
import shutil
from pathlib import Path

from tunepilot.agent import evidence
from tunepilot.agent.journal import Journal, existing_run_dir, now
from tunepilot.atomic import fsync_dir
from tunepilot.redact import redact_text
from tunepilot.agent.state import RunState
from tunepilot import TunepilotError


def load_state(run_id: str, runs: Path | None = None) -> tuple[Path, RunState]:
    folder = existing_run_dir(run_id, runs)
    return folder, RunState.replay(Journal.read(folder), run_id=folder.name)


def summary(folder: Path, state: RunState) -> dict:
    """decision.json: what a person and a script read about a run, rendered from its state."""
    d, rec = state.decision, state.decision_record
    out = {"run_id": folder.name, "decision": d.action if d else None, "reasons": d.reasons if d else [],
           "failing": d.failing if d else [], "next_step": d.next_step if d else None,
           "iterations": state.iteration, "status": state.status, "adapter": rec.adapter if rec else None,
           "metrics": d.metrics if d else {}, "base": state.base, "elapsed_s": round(state.elapsed_s, 1),
           "folder": str(folder), "export": rec.export if rec else None,
           "evidence": rec.evidence if rec else {}}
    if state.approval:
        out |= {"approved_by": state.approval.by, "approved_at": state.approval.time, "bundle": state.approval.bundle}
    if state.rejection:
        out |= {"rejected_by": state.rejection.by, "rejected_at": state.rejection.time, "why": state.rejection.why}
    return out


def render(folder: Path, state: RunState) -> dict:
    from tunepilot.agent.journal import write_json

    out = summary(folder, state)
    write_json(folder / "decision.json", out)
    return out


def approve(run_id: str, who: str | None = None, runs: Path | None = None, note: str | None = None) -> dict:
    """A person approves a deploy decision; the deploy bundle is built, verified, then the approval journaled."""
    folder = existing_run_dir(run_id, runs)
    journal = Journal(folder)  # the run lock: no run, resume or second approve writes meanwhile
    try:
        state = RunState.replay(journal.events, run_id=folder.name)
        journal.listeners.append(state.fold)
        d, rec = state.decision, state.decision_record
        if state.status in ("approved", "rejected"):
            raise TunepilotError(f"run {run_id}: already {state.status}")
        if state.status == "running":
            raise TunepilotError(f"run {run_id}: not finished (decision {d.action if d else 'not reached yet'}); "
                                 "approve once it has decided")
        if d is None or d.action != "deploy":
            raise TunepilotError(f"run {run_id}: decision is {d.action if d else 'not reached yet'}, not deploy; "
                                 "only a deploy decision can be approved")
        if state.problems:
            raise TunepilotError(f"run {run_id}: its journal has events that do not fit a run: " + "; ".join(state.problems))
        if not rec.evidence:
            raise TunepilotError(f"run {run_id}: its deploy decision recorded no artifact hashes; re-run it")
        changed = evidence.mismatches(rec.evidence)
        if changed:
            raise TunepilotError(f"run {run_id}: refusing to deploy, the judged artifacts changed: " + "; ".join(changed))
        who = who or getpass.getuser()
        try:
            bundle = deploy(folder, state)
        except Exception as e:  # the run stays awaiting approval, and the journal says why
            journal.log("system", "deploy_failed", tool="deploy", rationale=f"{type(e).__name__}: {e}")
            raise TunepilotError(f"run {run_id}: deploy failed, nothing approved: {e}") from e
        journal.refresh()
        if state.rejection:  # a reject from another terminal meanwhile
            shutil.rmtree(bundle, ignore_errors=True)
            raise TunepilotError(f"run {run_id}: rejected while the bundle was being built; nothing approved")
        journal.log(f"user:{who}", "approval", decision="deploy",
                    output={"bundle": str(bundle), "evidence": rec.evidence},
                    rationale=f"approved by {who} at {now()}; artifacts match the decision's hashes"
                              + (f"; note: {note}" if note else ""))
        x = rec.export
        if x:  # Ollama only now, after the approval, under this run's own name
            from tunepilot.tools.export import ollama_create

            made = ollama_create(f"tunepilot-{folder.name.lower()}", bundle / "Modelfile")
            journal.log("system", "note", tool="ollama", output=made,
                        rationale="ollama model created" if made["created"] else f"ollama not run: {made['output']}")
        journal.log("system", "deployed", tool="deploy", output={"bundle": str(bundle),
                                                                "files": sorted(p.name for p in bundle.iterdir())})
        return render(folder, state)
    finally:
        journal.close()


def reject(run_id: str, why: str, who: str | None = None, runs: Path | None = None) -> dict:
    """A person rejects a run, finished or still going (a live run stops before its next tool)."""
    if not why.strip():
        raise TunepilotError("--why: say why the run is rejected (it goes in the journal)")
    folder = existing_run_dir(run_id, runs)
    journal = Journal(folder, driver=False)  # may write beside a live run: the append lock orders the events
    state = RunState.replay(journal.events, run_id=folder.name)
    if state.status in ("approved", "rejected"):
        raise TunepilotError(f"run {run_id}: already {state.status}")
    journal.listeners.append(state.fold)
    journal.log(f"user:{who or getpass.getuser()}", "rejection", decision="reject", rationale=why)
    return render(folder, state) if state.finished is not None else summary(folder, state)


def deploy(folder: Path, state: RunState) -> Path:
    """The deploy bundle: the exported GGUF and its Modelfile (when the run exported), the adapter,
    the export report, a model card and checksums. Built in a temp folder, checked against the
    decision's hashes, then renamed; a failure leaves nothing behind."""
    bundle, tmp = folder / "deploy", folder / "deploy.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        _fill(tmp, folder, state)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(bundle, ignore_errors=True)
    tmp.rename(bundle)
    fsync_dir(folder)
    return bundle


def _fill(tmp: Path, folder: Path, state: RunState) -> None:
    rec = state.decision_record
    copied: dict[str, Path] = {}
    x = rec.export
    if x:
        copied[x["gguf"]] = Path(shutil.copy2(x["gguf"], tmp / Path(x["gguf"]).name))  # the Modelfile's FROM ./<file>
        copied[x["modelfile"]] = Path(shutil.copy2(x["modelfile"], tmp / "Modelfile"))
        shutil.copy2(x["report"], tmp / "export_report.json")
    if rec.adapter:
        shutil.copytree(rec.adapter, tmp / "adapter")
        for p in Path(rec.adapter).rglob("*"):
            if p.is_file():
                copied[str(p)] = tmp / "adapter" / p.relative_to(rec.adapter)
    bad = [src for src, digest in rec.evidence.items() if src not in copied or evidence.sha256(copied[src]) != digest]
    if bad:
        raise TunepilotError("the bundle does not match the decision's hashes: " + ", ".join(bad))
    (tmp / "MODEL_CARD.md").write_text(redact_text(model_card(folder, state)))
    sums = [f"{evidence.sha256(p)}  {p.relative_to(tmp)}" for p in sorted(tmp.rglob("*")) if p.is_file()]
    (tmp / "SHA256SUMS").write_text("\n".join(sums) + "\n")


def exported_gguf(target: str, runs: Path | None = None) -> Path:
    """`tunepilot serve`'s target: a .gguf file, or a run id whose journal records an export."""
    if target.endswith(".gguf"):
        return Path(target)
    _, state = load_state(target, runs)  # the run id is checked (no path escapes runs/)
    if state.exported is None:
        raise TunepilotError(f"serve {target}: the run has no export yet (it exports before its deploy decision)")
    return Path(state.exported.gguf)


def model_card(folder: Path, state: RunState) -> str:
    d, rec, request = state.decision, state.decision_record, state.request
    m, b, x = d.metrics, state.base or {}, rec.export
    tc = (state.trained.config if state.trained and state.trained.config else request.training_config.model_dump())
    data = {}
    meta_file = Path(state.data.path) / "metadata.json" if state.data else None
    if meta_file and meta_file.exists():
        meta = json.loads(meta_file.read_text())
        data = {"folder": str(meta_file.parent), "splits": meta.get("splits"), "teacher": meta.get("teacher"),
                "seed": meta.get("seed"), "content_hash": meta.get("content_hash")}
    lines = [
        f"# {request.base_model} + tunepilot {tc['method'].upper()} ({folder.name})", "",
        f"Goal: {request.goal}", "",
        f"- Base model: {request.base_model}",
        f"- Data: {json.dumps(data or request.dataset.model_dump())}",
        f"- Training: {json.dumps(tc)}; {state.iteration} iteration(s)",
        f"- Deployed artifact: {Path(x['gguf']).name} ({x['quant'].upper()}, llama.cpp), Modelfile alongside"
        if x else "- Deployed artifact: LoRA adapter (no GGUF export in this run)",
        f"- Decision judged on: {m.get('runtime', 'transformers')}", "",
        f"| metric | base (before, transformers) | tuned (after, {m.get('runtime', 'transformers')}) |", "|---|---|---|",
        f"| success | {b.get('success_rate')} | {m.get('success_rate')} |",
        f"| latency avg s | {b.get('latency_avg_s')} | {m.get('latency_avg_s')} |",
        f"| memory GB | - | {m.get('memory_gb')} |", "",
    ]
    if x:
        lines += ["Quantization ladder:", ""] + [f"- {s['quant'].upper()}: {s['why']}" for s in x.get("ladder", [])] + [""]
        lines += serving_lines(Path(x["gguf"]).name, folder.name, x.get("http"))
    lines += ["Reasons: " + "; ".join(d.reasons), "", "Journal: ../journal.md (every step, with numbers)", ""]
    return "\n".join(lines)


def serving_lines(gguf: str, name: str, http: dict | None) -> list[str]:
    """The model card's "how to run it": the three servers, copy-paste commands from the bundle folder."""
    sample = ('{"model": "%s", "messages": [{"role": "user", "content": "What is the weather in Oslo?"}], '
              '"tools": [{"type": "function", "function": {"name": "get_weather", "description": "Current weather", '
              '"parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]}') % gguf
    measured = (f"Measured through it at export: success {http['success_rate']:.1%} on {http['n']} items, latency "
                f"p50 {http['latency_s'].get('p50')} s / p95 {http['latency_s'].get('p95')} s per answer (HTTP round trip)."
                if http else "")
    return [
        "## How to run it", "",
        "1. **tunepilot serve** (OpenAI-compatible `/v1/chat/completions` with `tools` and `tool_choice`; tool calls",
        "   schema-constrained as they were evaluated). " + measured, "",
        "   ```", f"   tunepilot serve {gguf} --port 8000", "   curl -s http://127.0.0.1:8000/v1/chat/completions \\",
        f"     -H 'Content-Type: application/json' -d '{sample}'", "   ```", "",
        "2. **Ollama** (`/api/chat` with `tools`: the Modelfile's TEMPLATE renders `.Tools`, `.ToolCalls` and tool",
        "   results as training does (checked byte for byte at export), and Ollama parses `<tool_call>` replies into `message.tool_calls`; send",
        "   `tool_name` on tool messages. Ollama has no schema constraint, so expect the unconstrained success):", "",
        "   ```", f"   ollama create tunepilot-{name.lower()} -f Modelfile",
        "   curl -s http://127.0.0.1:11434/api/chat -d '" + sample.replace(f'"model": "{gguf}"', f'"model": "tunepilot-{name.lower()}"')
        .replace('"tools"', '"stream": false, "tools"') + "'", "   ```", "",
        "3. **llama.cpp's server** (chat only: the GGUF's embedded template is the base model's, without tools):", "",
        "   ```", f"   llama-server -m {gguf} --port 8080", "   ```", "",
    ]
