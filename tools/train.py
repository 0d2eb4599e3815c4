"""Tool: LoRA / QLoRA / full fine-tuning with TRL's SFT trainer, in a child process.

    tunepilot train --data data/agentic --out runs/adapters/a1 --max-steps 60
    tunepilot train --data data/agentic --out out/q1 --method qlora --rank 16 --targets attn+mlp

The parent (`train`) audits the loss mask, writes `training_config.json`, then starts the child
(`tools/train_child.py`: `python -m tunepilot.tools.train_child --config ...`, or through `accelerate
launch` with one process per GPU on several GPUs) so an OOM or crash cannot take the caller down.
The child reads top to bottom: load tokenizer -> load model (bf16 / fp16 / nf4) -> attach LoRA ->
build data -> train -> save.
Outputs: `adapter/` (or `model/` for full), `metrics.jsonl`, `loss_mask_audit.json`, `result.json`,
`checkpoints/` (resumable: optimizer, scheduler and RNG state).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from pydantic import BaseModel, Field, model_validator

from tunepilot import TunepilotError
from tunepilot.atomic import write_json
from tunepilot.config import DEFAULT_LR, TrainingConfig
from tunepilot.models import DEFAULT_MODEL
from tunepilot.outputs import claim_dir
from tunepilot.redact import clip
from tunepilot.tools.distributed import Engine, engine_files, launch_args, write_engine_files

TARGETS = {
    "attn": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "attn+mlp": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
}
TRAIN_MARKERS = ("training_config.json", "loss_mask_audit.json", "result.json", "checkpoints")  # an --out we wrote


class TrainSpec(TrainingConfig):
    """One training run: the training config (tunepilot/config.py, every hyperparameter and its default)
    plus where to read and write. Every field has a `tunepilot train` flag of the same name."""

    data: Path  # --data: folder with train.jsonl and val.jsonl
    out: Path  # --out: run folder (adapter, metrics, checkpoints)
    model: str = DEFAULT_MODEL  # --model: embedded name, HF id or local folder
    num_processes: int = Field(1, ge=1, le=1024)  # --num-processes: data-parallel processes per machine
    # (one per GPU; on a CPU, gloo ranks that split the cores). Across machines (torchrun's rendezvous):
    num_machines: int = Field(1, ge=1, le=1024)  # --num-machines
    machine_rank: int = Field(0, ge=0)  # --machine-rank: this machine's index, 0 = the main one
    main_process_ip: str | None = None  # --main-process-ip: the main machine's address (several machines)
    main_process_port: int | None = Field(None, ge=1, le=65535)  # --main-process-port (default: a free port)
    engine: Engine = "ddp"  # set by the planner (agent/engines.py) with the accelerate config it wrote:
    accelerate_config: Path | None = None  # --accelerate-config: accelerate's YAML (FSDP, DeepSpeed ZeRO)
    trust_remote_code: bool = False  # --trust-remote-code: only for models you trust
    resume: bool = True  # continue from the last checkpoint in out/checkpoints if present

    @model_validator(mode="after")
    def _default_lr(self):
        if self.learning_rate is None:
            self.learning_rate = DEFAULT_LR[self.method]  # a LoRA rate would wreck a full fine-tune
        return self

    @property
    def config(self) -> TrainingConfig:
        """The training config alone (what the memory store and the run state keep)."""
        return TrainingConfig(**{k: getattr(self, k) for k in TrainingConfig.model_fields})


class TrainResult(BaseModel):
    out: Path
    adapter: Path | None  # LoRA/QLoRA adapter folder (None for full fine-tuning)
    model_dir: Path | None  # full fine-tuning output
    steps: int
    train_loss: float | None
    eval_loss: float | None
    best_eval_loss: float | None
    tokens_per_s: float | None  # trained tokens (non-pad) per second of train() wall time, evaluations included
    train_tokens_per_s: float | None = None  # the same over the training steps alone (evaluations and saves left out)
    eval_save_s: float | None = None  # seconds of evaluation and checkpoint saving inside train()
    peak_rss_mb: float
    peak_vm_mb: float | None = None  # peak address space (the quantity --memory-limit-gb caps)
    peak_vram_mb: float | None
    wall_s: float
    stopped_early: bool
    resumed_from: str | None
    precision: str | None = None  # the dtype trained in and why ("fp32: this CPU has no native bf16 (AVX2), ...")
    model_dtype: str | None = None  # the base weights' dtype as the child loaded them ("torch.float32")
    world_size: int = 1  # data-parallel processes, all machines
    per_device_batch: int | None = None  # rows per process and micro-step
    effective_batch: int | None = None  # per_device_batch x grad_accum x world_size: rows per optimizer step
    memory_phases: dict | None = None  # peak RSS per phase of the training process (tools/memory_phases.py)


def train(spec: TrainSpec, progress=None) -> TrainResult:
    """Fine-tune a model on a dataset folder with LoRA, QLoRA or full fine-tuning; returns final
    losses, throughput and memory. Runs in a child process; resumes from the last checkpoint."""
    from tunepilot.models import resolve_model
    from tunepilot.precision import choose_precision

    if spec.mix_general:
        raise TunepilotError("mix_general is not wired yet (the fault ladder skips it: no general corpus ships offline)")
    out = claim_dir(spec.out, "training output", TRAIN_MARKERS)  # new, empty, or ours: resumed as before
    out.mkdir(parents=True, exist_ok=True)
    if spec.deepspeed_offload:  # the memory ladder's last rung: ZeRO-3, parameters and optimizer in host RAM
        spec = _zero3_offload(spec, out)
    _check_resume_world(spec, out)
    model_path = resolve_model(spec.model)
    precision = choose_precision(spec.precision)  # decided here, once; the child uses what it is given
    audit = loss_mask_audit(spec, model_path)
    write_json(out / "loss_mask_audit.json", audit)
    config = json.loads(spec.model_dump_json()) | {"model_path": model_path,
                                                    "precision_chosen": precision.model_dump()}
    write_json(out / "training_config.json", config)
    (out / "result.json").unlink(missing_ok=True)
    child_cmd = ["-m", "tunepilot.tools.train_child", "--config", str(out / "training_config.json")]
    cmd = [sys.executable, *launch_args(spec, _processes(spec)), *child_cmd]
    write_json(out / "launch.json", {"world_size": _processes(spec) * spec.num_machines, "command": cmd})
    log = open(out / "train.log", "ab")
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1"}
    if spec.memory_limit_gb:  # the cap counts address space: one 64 MB malloc arena per thread would
        env.setdefault("MALLOC_ARENA_MAX", "2")  # spend it on reservations, not on training
    (out / "nonfinite.json").unlink(missing_ok=True)
    _stop_stale(out / "train.pid")
    # its own process group: the parent can stop the launcher and the trainer together, and a
    # parent killed with -9 leaves a pid file the next attempt uses to stop the orphans
    child = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env,
                             preexec_fn=_limit_memory(spec.memory_limit_gb), start_new_session=True)
    (out / "train.pid").write_text(str(child.pid))
    metrics = out / "metrics.jsonl"
    seen = 0
    _term_raises()
    try:
        while child.poll() is None:
            time.sleep(0.5)
            seen = _report(metrics, seen, progress)
    except BaseException:
        _killpg(child.pid)
        raise
    finally:
        log.close()
    _report(metrics, seen, progress)
    _killpg(child.pid)  # nothing of this attempt outlives it
    (out / "train.pid").unlink(missing_ok=True)
    if child.returncode != 0 or not (out / "result.json").exists():
        tail = (out / "train.log").read_text(errors="replace").strip().splitlines()[-40:]
        raise TrainFailed(child.returncode, out / "train.log", tail)
    return TrainResult(**json.loads((out / "result.json").read_text()))


class TrainFailed(TunepilotError):
    """The child died; `tail` holds the last log lines (diagnosis reads them)."""

    def __init__(self, returncode: int, log: Path, tail: list[str], diagnosis: str | None = None,
                 fault: str | None = None):
        from tunepilot.tools.signals import last_error

        self.returncode, self.log, self.tail, self.diagnosis, self.fault = returncode, log, tail, diagnosis, fault
        last = last_error(tail)
        why = f" — {diagnosis}" if diagnosis else ""
        super().__init__(f"training failed (exit {returncode}): {clip(last, 300)}{why} — full log: {log}")


def _term_raises() -> None:
    """SIGTERM (timeout, systemd, a scheduler) becomes an exception, so the parent stops the
    trainer's process group on its way out instead of leaving it running."""
    import signal
    import threading

    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        def term(signum, frame):
            raise SystemExit(143)

        signal.signal(signal.SIGTERM, term)


def _killpg(pgid: int) -> None:
    import signal

    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _stop_stale(pidfile: Path) -> None:
    """A previous attempt's trainer still running after its parent was killed: stop it first (two
    trainers on one checkpoint folder would corrupt it)."""
    if not pidfile.exists():
        return
    pgid = int(pidfile.read_text().strip() or 0)
    cmdline = Path(f"/proc/{pgid}/cmdline")
    leader_is_ours = not cmdline.exists() or b"tunepilot.tools.train" in cmdline.read_bytes()  # gone, or still the launcher
    if pgid > 0 and leader_is_ours:
        _killpg(pgid)
        for _ in range(100):
            if not cmdline.exists():
                break
            time.sleep(0.1)
    pidfile.unlink(missing_ok=True)


def _limit_memory(gb: float | None):
    """A real cap on the child's address space: allocations beyond it fail in the allocator."""
    if gb is None:
        return None

    def apply():
        import resource

        cap = int(gb * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    return apply


def _report(metrics: Path, seen: int, progress) -> int:
    if not metrics.exists():
        return seen
    lines = metrics.read_text().splitlines()
    for line in lines[seen:]:
        if progress and line.strip():
            progress(json.loads(line))
    return len(lines)


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _processes(spec: TrainSpec) -> int:
    """Processes on this machine: one per GPU asked for (at most the GPUs there are); on a CPU the
    number asked for (gloo ranks; accelerate gives each cores / ranks threads)."""
    if not _cuda():
        return spec.num_processes
    import torch

    return min(spec.num_processes, torch.cuda.device_count())


def _zero3_offload(spec: TrainSpec, out: Path) -> TrainSpec:
    """DeepSpeed ZeRO-3 with CPU offload: its config files written into `out`, the spec pointed at them."""
    import importlib.util

    if importlib.util.find_spec("deepspeed") is None or not _cuda():
        raise TunepilotError("deepspeed_offload needs DeepSpeed and a CUDA GPU (pip install 'tunepilot[deepspeed]'); "
                             "the recovery ladder skips this step where they are missing")
    files = engine_files("zero3_offload", _processes(spec) * spec.num_machines, None, spec.precision,
                         num_machines=spec.num_machines, machine_rank=spec.machine_rank,
                         main_process_ip=spec.main_process_ip, main_process_port=spec.main_process_port or 29500)
    return spec.model_copy(update={"engine": "zero3_offload", "accelerate_config": write_engine_files(files, out)})


def complete_checkpoints(out: Path) -> list[Path]:
    """out/checkpoints/checkpoint-N folders that were written to the end, oldest first. The trainer
    writes trainer_state.json last: a folder without it is a save cut short (a kill mid-save) and
    resuming from it would crash on the missing state."""
    found = [p for p in (Path(out) / "checkpoints").glob("checkpoint-*") if p.name.split("-")[1].isdigit()]
    return sorted((p for p in found if (p / "trainer_state.json").exists()), key=lambda p: int(p.name.split("-")[1]))


def _check_resume_world(spec: TrainSpec, out: Path) -> None:
    """Checkpoints written by another number of processes are refused: the sampler's shards, the
    per-rank RNG states and the meaning of a step would all change under the resumed run."""
    old = out / "launch.json"  # written by the attempt that wrote the checkpoints
    if not (spec.resume and complete_checkpoints(out)):
        return
    before = json.loads(old.read_text())["world_size"] if old.exists() else 1
    now = _processes(spec) * spec.num_machines
    if before != now:
        raise TunepilotError(f"--out {out}: its checkpoints were written by {before} process(es), this run would use "
                             f"{now}; resume with --num-processes {before}, or start over with --no-resume")


# --- data rendering and the loss-mask audit (parent and child share these) ----------------------
def training_template(tokenizer) -> str | None:
    """A chat template with {% generation %} markers for TRL's assistant_only_loss, or None if
    TRL can patch the model's own template itself."""
    from trl.chat_template_utils import has_generation_markers

    from tunepilot.paths import prompts_dir

    tmpl = tokenizer.chat_template or ""
    if has_generation_markers(tmpl):
        return tmpl
    if "<|im_start|>" in tmpl and "tools" not in tmpl:  # plain ChatML (SmolLM2): our marked copy
        return (prompts_dir() / "chatml_training.jinja").read_text()
    return None


def conversations(records: list[dict], tokenizer) -> list[dict]:
    from tunepilot.chat import native_tool_support, render_messages

    native = native_tool_support(tokenizer.chat_template)
    rows = []
    for r in records:
        row = {"messages": render_messages(r, native=native)}
        if native and r.get("tools"):
            row["tools"] = [t["function"] for t in r["tools"]]
        rows.append(row)
    return rows


def loss_mask_audit(spec: TrainSpec, model_path: str) -> dict:
    """Tokens trained vs masked, per agent role; fails on an example whose assistant tokens all
    fall beyond max_length (it would train on nothing)."""
    from tunepilot.tools.data.io import load_split
    from tunepilot.models import load_tokenizer

    tok = load_tokenizer(model_path, spec.trust_remote_code)
    tmpl = training_template(tok)
    if tmpl is None:
        from trl.chat_template_utils import get_training_chat_template

        tmpl = get_training_chat_template(tok)
    records = load_split(spec.data, "train")
    if not records:
        raise TunepilotError(f"--data {spec.data}: train.jsonl is empty")
    per_role: dict[str, dict[str, int]] = {}
    for line, (rec, row) in enumerate(zip(records, conversations(records, tok)), 1):
        enc = tok.apply_chat_template(row["messages"], tools=row.get("tools"), chat_template=tmpl, tokenize=True,
                                      return_dict=True, return_assistant_tokens_mask=True)
        mask = enc["assistant_masks"][: spec.max_length]
        if sum(mask) == 0:
            raise TunepilotError(f"{Path(spec.data) / 'train.jsonl'}:{line}: no assistant tokens within "
                                 f"max_length={spec.max_length} (record {rec.get('id')}); raise --max-length or shorten it")
        role = rec.get("meta", {}).get("agent_role", "unknown")
        agg = per_role.setdefault(role, {"examples": 0, "trained": 0, "masked": 0, "truncated": 0})
        agg["examples"] += 1
        agg["trained"] += sum(mask)
        agg["masked"] += len(mask) - sum(mask)
        agg["truncated"] += len(enc["input_ids"]) - len(mask)
    total_t = sum(a["trained"] for a in per_role.values())
    total_m = sum(a["masked"] for a in per_role.values())
    return {"per_role": per_role, "trained_tokens": total_t, "masked_tokens": total_m,
            "trained_fraction": round(total_t / max(1, total_t + total_m), 4)}
