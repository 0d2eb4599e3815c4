"""Peer for benchmarks/train_throughput.py: TRL's own `SFTTrainer` with `packing=True`, as its docs
set it up, on the same conversations our train tool trains on. Prints one JSON line: non-pad
tokens/s, peak RSS, peak RSS per phase.

Same as ours: the rendered conversations (`tools/train.py conversations` + the training chat template
with generation markers), assistant-only loss, LoRA (rank, alpha 2r, attention+MLP), learning rate,
gradient accumulation, max length, dtype. TRL's defaults otherwise: best-fit-decreasing packing into
padding-free rows of `--max-length` tokens, batch 1 row, the model's default attention (SDPA; with
a packed row transformers builds a block-diagonal mask over it), full logits, TRL's entropy and
token-accuracy metrics, and gradient checkpointing (SFTConfig's default is on; `--no-gradient-checkpointing`
turns it off). No evaluation and no checkpoints (ours leaves those out of its rate too).

    python benchmarks/trl_packed.py --data DIR --model PATH --dtype fp32
"""

import argparse
import json
import time

from tunepilot.tools.memory_phases import PhaseMemory

memory = PhaseMemory()  # before torch: the import is booked like ours


def main():
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM
    from trl import SFTConfig, SFTTrainer

    from tunepilot.models import load_tokenizer
    from tunepilot.tools.data.io import load_split
    from tunepilot.tools.train import TARGETS, conversations, training_template
    from tunepilot.tools.train_child import MemoryMarks, _timed

    memory.mark("python, torch and libraries")
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--dtype", default="fp32", choices=["fp32", "bf16"], help="the dtype tunepilot chose for this CPU")
    p.add_argument("--rank", type=int, default=16)
    p.add_argument("--max-length", type=int, default=1024)
    p.add_argument("--batch-size", type=int, default=1, help="packed rows per step")
    p.add_argument("--grad-accum", type=int, default=2)
    p.add_argument("--max-steps", type=int, default=-1, help="stop after this many optimizer steps (-1: one epoch)")
    p.add_argument("--no-gradient-checkpointing", action="store_true", help="TRL's SFTConfig turns it on by default")
    p.add_argument("--out", default="/tmp/tunepilot-trl-peer")
    a = p.parse_args()

    tok = load_tokenizer(a.model)
    tok.chat_template = training_template(tok) or tok.chat_template
    bf16 = a.dtype == "bf16"
    model = AutoModelForCausalLM.from_pretrained(a.model, dtype=torch.bfloat16 if bf16 else torch.float32)
    memory.mark("tokenizer and model load")
    ds = Dataset.from_list(conversations(load_split(a.data, "train"), tok))
    lora = LoraConfig(r=a.rank, lora_alpha=2 * a.rank, lora_dropout=0.0, target_modules=TARGETS["attn+mlp"],
                      bias="none", task_type="CAUSAL_LM")

    args = SFTConfig(output_dir=a.out, per_device_train_batch_size=a.batch_size, gradient_accumulation_steps=a.grad_accum,
                     num_train_epochs=1, max_steps=a.max_steps, learning_rate=1e-3, lr_scheduler_type="cosine", logging_steps=1,
                     save_strategy="no", eval_strategy="no", report_to="none", use_cpu=not torch.cuda.is_available(),
                     bf16=bf16, max_length=a.max_length, packing=True, assistant_only_loss=True,
                     include_num_input_tokens_seen="non_padding", dataloader_num_workers=0, disable_tqdm=True,
                     **({"gradient_checkpointing": False} if a.no_gradient_checkpointing else {}))
    # _timed adds the same per-phase memory marks as ours (forward, backward, optimizer step), nothing else
    trainer = _timed(SFTTrainer)(model=model, args=args, train_dataset=ds, processing_class=tok, peft_config=lora,
                                 callbacks=[MemoryMarks(memory)])
    trainer.memory = memory
    memory.mark("trainer setup (LoRA, tokenize and pack the data)")
    t0 = time.time()
    trainer.train()
    wall = time.time() - t0
    memory.mark("end of training")
    tokens = trainer.state.num_input_tokens_seen
    print(json.dumps({"tokens": tokens, "wall_s": wall, "tokens_per_s": tokens / wall, "peak_rss_mb": memory.peak_mb(),
                      "memory_phases": memory.summary(), "steps": trainer.state.global_step,
                      "rows": len(trainer.train_dataset), "dtype": str(model.dtype),
                      "attention": model.config._attn_implementation,
                      "gradient_checkpointing": args.gradient_checkpointing}))


if __name__ == "__main__":
    main()
