"""The training child: what `tools/train.py` starts as `python -m tunepilot.tools.train_child --config
training_config.json` (through `accelerate launch` for several processes: one per GPU, or gloo ranks on a CPU,
on one machine or several). It reads top to bottom: load tokenizer -> load model (bf16 / fp16 /
nf4, as the parent chose) -> attach LoRA -> build data -> train (TRL SFT: packing, assistant-only
loss) -> save; the callbacks write metrics.jsonl and stop at the first non-finite value.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from transformers import TrainerCallback

from tunepilot.atomic import write_json
from tunepilot.config import CPU_CHUNK_TOKENS
from tunepilot.tools.train import (TARGETS, TrainResult, TrainSpec, complete_checkpoints, conversations,  # noqa: F401
                                   training_template)



def _report_to(spec, out: Path) -> str:
    """The trainer's standard tracking integration; TensorBoard writes into <out>/tensorboard."""
    if spec.report_to == "tensorboard":
        os.environ.setdefault("TENSORBOARD_LOGGING_DIR", str(out / "tensorboard"))
    return spec.report_to

def recipe_main(config_path: str) -> None:
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, EarlyStoppingCallback, set_seed
    from trl import SFTConfig, SFTTrainer

    from tunepilot.tools.data.io import load_split
    from tunepilot.tools.packed_attention import attn_implementation
    from tunepilot.models import load_tokenizer
    from tunepilot.precision import Precision
    from tunepilot.tools.cpu_trainer import cpu_trainer
    from tunepilot.tools.memory_phases import PhaseMemory

    memory = PhaseMemory()
    memory.mark("python, torch and libraries")
    cfg = json.loads(Path(config_path).read_text())
    model_path = cfg.pop("model_path")
    precision = Precision(**cfg.pop("precision_chosen"))  # the parent's choice (tunepilot/precision.py)
    spec = TrainSpec(**cfg)
    out = Path(spec.out)
    set_seed(spec.seed)
    cuda = torch.cuda.is_available()
    batch_size = spec.batch_size or (4 if cuda else 1)
    dtype = precision.torch_dtype
    rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    print(f"[rank {rank}/{world}] pid {os.getpid()}, {torch.get_num_threads()} threads, batch {batch_size} x "
          f"accumulation {spec.grad_accum} x {world} process(es) = {batch_size * spec.grad_accum * world} rows a step",
          flush=True)

    # 1. tokenizer and training chat template
    tokenizer = load_tokenizer(model_path, spec.trust_remote_code)
    tmpl = training_template(tokenizer)
    if tmpl:
        tokenizer.chat_template = tmpl

    # 2. model: weights in the chosen dtype, or nf4 + double quant for QLoRA
    load = {"dtype": dtype, "trust_remote_code": spec.trust_remote_code}
    attn = attn_implementation(spec.packing, cuda)  # one causal SDPA per packed conversation (no flash-attn)
    if attn:
        load["attn_implementation"] = attn
    if spec.method == "qlora":
        from transformers import BitsAndBytesConfig

        fsdp = spec.engine == "fsdp"  # the QLoRA+FSDP recipe: 4-bit weights stored in the compute dtype, so
        load["quantization_config"] = BitsAndBytesConfig(  # FSDP can flatten and shard them; no device_map
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=dtype, **({"bnb_4bit_quant_storage": dtype} if fsdp else {}))
        if not fsdp:
            load["device_map"] = {"": int(os.environ.get("LOCAL_RANK", 0))} if cuda else {"": "cpu"}
    model = AutoModelForCausalLM.from_pretrained(model_path, **load)
    model_dtype = str(model.dtype)
    memory.mark("tokenizer and model load")

    # 3. LoRA (TRL applies it and prepares k-bit models); none for full fine-tuning
    peft_config = None
    if spec.method in ("lora", "qlora"):
        from peft import LoraConfig

        peft_config = LoraConfig(r=spec.rank, lora_alpha=spec.alpha or 2 * spec.rank, lora_dropout=spec.dropout,
                                 target_modules=TARGETS[spec.targets], bias="none", task_type="CAUSAL_LM")

    # 4. data: conversations rendered with the <tool_call> convention
    train_ds = Dataset.from_list(conversations(load_split(spec.data, "train"), tokenizer))
    val_ds = Dataset.from_list(conversations(load_split(spec.data, "val"), tokenizer))

    # 5. train
    args = SFTConfig(
        output_dir=str(out / "checkpoints"), per_device_train_batch_size=batch_size,
        per_device_eval_batch_size=batch_size, gradient_accumulation_steps=spec.grad_accum,
        learning_rate=spec.learning_rate, num_train_epochs=spec.epochs, max_steps=spec.max_steps or -1,
        lr_scheduler_type="cosine", warmup_steps=spec.warmup_ratio, weight_decay=spec.weight_decay,
        max_grad_norm=spec.max_grad_norm, logging_steps=spec.logging_steps, eval_strategy="steps",
        eval_steps=spec.eval_steps, save_strategy="steps", save_steps=spec.eval_steps,
        save_total_limit=spec.save_total_limit, load_best_model_at_end=True, metric_for_best_model="eval_loss",
        greater_is_better=False, seed=spec.seed, data_seed=spec.seed, bf16=dtype == torch.bfloat16 and cuda,
        fp16=dtype == torch.float16, use_cpu=not cuda, report_to=_report_to(spec, out), max_length=spec.max_length,
        packing=spec.packing, assistant_only_loss=True, gradient_checkpointing=spec.gradient_checkpointing,
        include_num_input_tokens_seen="non_padding", dataloader_num_workers=0, save_only_model=False,
        disable_tqdm=True, logging_nan_inf_filter=False, optim=spec.optim,  # the filter would hide a NaN loss
    )
    chunk = spec.chunk_tokens or CPU_CHUNK_TOKENS
    trainer_cls = _timed(SFTTrainer if cuda else cpu_trainer(autocast=precision.autocast, chunk_tokens=chunk))
    trainer = trainer_cls(model=model, args=args, train_dataset=train_ds, eval_dataset=val_ds,
                          processing_class=tokenizer, peft_config=peft_config,
                          callbacks=[EarlyStoppingCallback(spec.early_stopping_patience),
                                     MetricsLog(out / "metrics.jsonl", memory),
                                     NonFiniteGuard(out / "nonfinite.json"), MemoryMarks(memory)])
    trainer.memory = memory
    memory.mark("trainer setup (LoRA, tokenize and pack the data)")
    ckpts = complete_checkpoints(out)  # a save cut short by a kill is skipped
    resume = str(ckpts[-1]) if spec.resume and ckpts else None
    tokens_before = _tokens_before(resume)  # read now: checkpoint rotation may delete it during training
    t0 = time.time()
    result = trainer.train(resume_from_checkpoint=resume)
    wall = time.time() - t0
    stepping = wall - trainer.eval_save_s  # time in training steps: evaluations and checkpoint saves left out
    memory.mark("end of training (best checkpoint loaded)")

    # 6. save (best checkpoint already loaded) and report. The best checkpoint is loaded; if the last step
    # was evaluated, every candidate was, and its loss is the best logged one (the same weights on the
    # same val rows): a second pass over val would only repeat it. Every rank evaluates (it gathers).
    state = trainer.state
    evals = [h["eval_loss"] for h in state.log_history if "eval_loss" in h]
    evaluated_last = any("eval_loss" in h and h.get("step") == state.global_step for h in state.log_history)
    final_eval = min(evals) if evaluated_last else trainer.evaluate()["eval_loss"]
    print(f"[rank {rank}/{world}] done: {state.global_step} steps, eval loss {final_eval:.4f}", flush=True)
    if not trainer.is_world_process_zero():
        return
    if spec.method == "full":
        trainer.save_model(str(out / "model"))
        tokenizer.save_pretrained(out / "model")
    else:
        trainer.model.save_pretrained(out / "adapter")
        tokenizer.save_pretrained(out / "adapter")
    memory.mark("final save")
    res = {
        "out": str(out), "adapter": None if spec.method == "full" else str(out / "adapter"),
        "model_dir": str(out / "model") if spec.method == "full" else None, "steps": state.global_step,
        "train_loss": result.training_loss, "eval_loss": final_eval, "best_eval_loss": min(evals) if evals else None,
        "tokens_per_s": (state.num_input_tokens_seen - tokens_before) / wall if wall > 0 else None,
        "train_tokens_per_s": (state.num_input_tokens_seen - tokens_before) / stepping if stepping > 0 else None,
        "eval_save_s": trainer.eval_save_s,
        "peak_rss_mb": memory.peak_mb(), "peak_vm_mb": _vm_peak_mb(), "memory_phases": memory.summary(),
        "peak_vram_mb": torch.cuda.max_memory_allocated() / 2**20 if cuda else None, "wall_s": wall,
        "stopped_early": state.global_step < state.max_steps, "resumed_from": resume, "precision": precision.reason,
        "model_dtype": model_dtype, "world_size": world, "per_device_batch": batch_size,
        "effective_batch": batch_size * spec.grad_accum * world,
    }
    write_json(out / "result.json", res)


def _vm_peak_mb() -> float | None:
    """Peak address space (what --memory-limit-gb caps), from /proc on Linux."""
    try:
        line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith("VmPeak:"))
        return int(line.split()[1]) / 1024
    except (OSError, StopIteration):
        return None


def _tokens_before(checkpoint: str | None) -> int:
    if not checkpoint:
        return 0
    return json.loads((Path(checkpoint) / "trainer_state.json").read_text()).get("num_input_tokens_seen", 0)


def _timed(cls):
    """The trainer class, also counting the seconds spent in evaluations and checkpoint saves during
    `train()`, so throughput can be reported for the training steps alone, and marking the phases of
    a step for the peak-RSS breakdown (`memory`)."""

    class Timed(cls):
        eval_save_s = 0.0
        memory = None  # a PhaseMemory (tools/memory_phases.py): peak RSS per phase of a step

        def _mark(self, phase: str) -> None:
            if self.memory is not None:
                self.memory.mark(phase)

        def _timing(self, phase, fn, *args, **kwargs):
            t = time.time()
            self._mark("step bookkeeping (log, zero_grad)")
            try:
                return fn(*args, **kwargs)
            finally:
                self.eval_save_s += time.time() - t
                self._mark(phase)

        def training_step(self, *args, **kwargs):
            self._mark("data loading (collate)")
            loss = super().training_step(*args, **kwargs)
            self._mark("backward")  # after the CPU trainer's release: the next phase starts from what stays resident
            return loss

        def compute_loss(self, model, *args, **kwargs):
            out = super().compute_loss(model, *args, **kwargs)
            if model.training:  # evaluation's forward passes are booked under evaluation
                self._mark("forward")
            return out

        def evaluate(self, *args, **kwargs):
            return self._timing("evaluation", super().evaluate, *args, **kwargs)

        def _save_checkpoint(self, *args, **kwargs):
            return self._timing("checkpoint save", super()._save_checkpoint, *args, **kwargs)

    Timed.__name__ = cls.__name__
    return Timed


class MetricsLog(TrainerCallback):
    """Appends one JSON line per log/eval event to metrics.jsonl (flushed each time)."""

    def __init__(self, path: Path, memory=None):
        self.path, self.memory = path, memory  # memory: the process's PhaseMemory (it owns the peak)
        self.t0 = None
        self.tokens0 = 0

    def _write(self, row: dict) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps(row) + "\n")
            f.flush()

    def on_train_begin(self, args, state, control, **kw):
        self.t0, self.tokens0 = time.time(), state.num_input_tokens_seen
        if state.is_world_process_zero:
            self._write({"event": "start", "step": state.global_step, "max_steps": state.max_steps, "time": time.time()})

    def on_log(self, args, state, control, logs=None, **kw):
        import resource

        import torch

        peak = self.memory.peak_mb() if self.memory else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        if not state.is_world_process_zero or not logs:
            return
        dt = time.time() - self.t0
        row = {"event": "eval" if "eval_loss" in logs else "log", "step": state.global_step,
               "max_steps": state.max_steps, "epoch": state.epoch, "time": time.time(),
               "tokens_seen": state.num_input_tokens_seen,
               "tokens_per_s": (state.num_input_tokens_seen - self.tokens0) / dt if dt > 0 else None,
               "peak_rss_mb": peak,
               "peak_vram_mb": torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None}
        for k in ("loss", "eval_loss", "grad_norm", "learning_rate"):
            if k in logs:
                row["lr" if k == "learning_rate" else k] = logs[k]
        self._write(row)


class MemoryMarks(TrainerCallback):
    """Books the optimizer step's peak RSS (the other phases are marked by the trainer itself)."""

    def __init__(self, memory):
        self.memory = memory

    def on_optimizer_step(self, args, state, control, **kw):
        self.memory.mark("optimizer step")


class NonFiniteError(RuntimeError):
    pass


class DivergedError(RuntimeError):
    pass


class NonFiniteGuard(TrainerCallback):
    """Stops at the first non-finite loss or grad norm (logged every step), before anything is
    saved from it, naming the step and its micro-batches; writes nonfinite.json for diagnosis.
    Also stops a diverged run: a loss above ln(vocab) + 1 is worse than guessing uniformly
    (SmolLM2 at lr 10: 1.2 -> 0.9 -> 31.8 -> 49.3, finite but wrecked)."""

    def __init__(self, path: Path):
        self.path = path
        self.ceiling = None

    def on_train_begin(self, args, state, control, model=None, **kw):
        import math

        vocab = getattr(getattr(model, "config", None), "vocab_size", None)
        self.ceiling = math.log(vocab) + 1 if vocab else None

    def on_step_begin(self, args, state, control, model=None, **kw):
        # Fault injection for tests and drills: TUNEPILOT_INJECT_INF_STEP=N feeds a real inf into the
        # embeddings at step N, once per output folder (a retry after rollback runs clean).
        step = os.environ.get("TUNEPILOT_INJECT_INF_STEP")
        marker = self.path.with_name(".inf_injected")
        if step and state.global_step + 1 == int(step) and not marker.exists():
            marker.write_text(str(step))
            emb = model.get_input_embeddings()
            handle = emb.register_forward_hook(lambda m, i, o: o * float("inf"))
            self._remove = handle.remove

    def on_step_end(self, args, state, control, **kw):
        if getattr(self, "_remove", None):
            self._remove()
            self._remove = None

    def on_log(self, args, state, control, logs=None, **kw):
        import math

        bad = {k: logs[k] for k in ("loss", "grad_norm") if isinstance((logs or {}).get(k), float)
               and not math.isfinite(logs[k])}
        loss = (logs or {}).get("loss")
        if not bad and self.ceiling and isinstance(loss, float) and loss > self.ceiling:
            self.path.write_text(json.dumps({"step": state.global_step, "loss": loss, "ceiling": self.ceiling}) + "\n")
            raise DivergedError(f"loss {loss:.2f} at step {state.global_step} is above ln(vocab)+1 = "
                                f"{self.ceiling:.2f}, worse than uniform guessing: training diverged "
                                f"(lr {logs.get('learning_rate')}, grad_norm {logs.get('grad_norm')})")
        if not bad:
            return
        ga = args.gradient_accumulation_steps
        first = (state.global_step - 1) * ga
        info = {"step": state.global_step, "epoch": state.epoch, "micro_batches": [first, first + ga - 1],
                "lr": logs.get("learning_rate"), **{k: str(v) for k, v in bad.items()}}
        self.path.write_text(json.dumps(info) + "\n")
        raise NonFiniteError(f"non-finite {', '.join(f'{k}={v}' for k, v in bad.items())} at step {state.global_step} "
                            f"(micro-batches {first}-{first + ga - 1} of the epoch's order, lr {logs.get('learning_rate')})")


if __name__ == "__main__":
    import argparse

    p = argparse.ArgumentParser(description="training child (started by tunepilot.tools.train.train)")
    p.add_argument("--config", required=True)
    recipe_main(p.parse_args().config)
