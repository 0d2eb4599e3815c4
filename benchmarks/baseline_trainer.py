"""Baseline for benchmarks/train_throughput.py: plain transformers Trainer + PEFT LoRA, the way most
scripts do it: render each conversation with the chat template, pad every batch to its longest
example (no packing), loss on all tokens. Prints one JSON line: non-pad tokens/s, peak RSS.

    python benchmarks/baseline_trainer.py --data DIR --model PATH --batch-size 4
"""

import argparse
import json
import resource
import time

import torch
from datasets import Dataset
from peft import LoraConfig, get_peft_model
from transformers import (
    AutoModelForCausalLM,
    DataCollatorForLanguageModeling,
    Trainer,
    TrainerCallback,
    TrainingArguments,
)

from tunepilot.tools.data.io import load_split
from tunepilot.tools.train import TARGETS
from tunepilot.chat import render_messages
from tunepilot.models import load_tokenizer


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--rank", type=int, default=16)
    p.add_argument("--max-length", type=int, default=1024)
    p.add_argument("--out", default="/tmp/tunepilot-baseline")
    p.add_argument("--dtype", default="fp32", choices=["fp32", "bf16"],
                   help="weights dtype (the benchmark passes the one tunepilot chose for this CPU)")
    a = p.parse_args()
    tok = load_tokenizer(a.model)
    texts = [tok.apply_chat_template(render_messages(r), tokenize=False) for r in load_split(a.data, "train")]
    ds = Dataset.from_dict({"text": texts}).map(
        lambda b: tok(b["text"], truncation=True, max_length=a.max_length), batched=True, remove_columns=["text"])
    model = AutoModelForCausalLM.from_pretrained(a.model, dtype={"fp32": torch.float32, "bf16": torch.bfloat16}[a.dtype])
    model = get_peft_model(model, LoraConfig(r=a.rank, lora_alpha=2 * a.rank, lora_dropout=0.0,
                                             target_modules=TARGETS["attn+mlp"], task_type="CAUSAL_LM"))
    counted = {"tokens": 0}

    class Count(TrainerCallback):
        pass

    collator = DataCollatorForLanguageModeling(tok, mlm=False)

    def collate(rows):
        batch = collator(rows)
        counted["tokens"] += int(batch["attention_mask"].sum())
        return batch

    args = TrainingArguments(output_dir=a.out, per_device_train_batch_size=a.batch_size, num_train_epochs=1,
                             learning_rate=1e-3, logging_steps=1, save_strategy="no", report_to="none", use_cpu=not
                             torch.cuda.is_available(), disable_tqdm=True, dataloader_num_workers=0)
    trainer = Trainer(model=model, args=args, train_dataset=ds, data_collator=collate)
    t0 = time.time()
    trainer.train()
    wall = time.time() - t0
    print(json.dumps({"tokens": counted["tokens"], "wall_s": wall, "tokens_per_s": counted["tokens"] / wall,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "dtype": str(model.dtype), "examples": len(ds)}))


if __name__ == "__main__":
    main()
