"""The training child's trainer on CPU: TRL's SFTTrainer with four changes that cost no accuracy.

1. The LM head runs only at positions whose next token is trained (`scored_loss`).
2. LoRA linears add `scaling * (x A^T) B^T` into the base output in place (tools/fused_lora.py).
3. A padding-free packed row's gradient is computed in conversation-aligned chunks of at most
   `chunk_tokens` (tools/packed_attention.split_packed_row): the same sum, one chunk's activations at a
   time. On GPUs whole rows stay faster; this trainer is only used on CPU.
4. glibc's free pages go back to the kernel after every row (tools/memory_phases.release_free_memory).

Measured on 2 cores (Intel Xeon, AVX-512 without bf16, fp32, SmolLM2-135M, LoRA r16 on all linears,
64 generated conversations, one epoch): README "Against TRL's own packed SFT" and "Where the memory goes".
"""

from __future__ import annotations

import contextlib


def scored_loss(model, labels, autocast: bool = False, **inputs):
    """Summed next-token cross-entropy over the labelled positions, with the LM head run only where the
    next token is labelled (the model's own `logits_to_keep`; about 1 in 8 positions with assistant-only
    labels). Returns (loss sum, scored tokens, model outputs). Shared by the CPU trainer and the
    evaluator's val loss; `autocast`: bf16 autocast around the forward (CPU with native bf16)."""
    import torch
    import torch.nn.functional as F

    targets = labels[:, 1:]  # position t predicts token t+1
    keep = (targets != -100).any(dim=0).nonzero().squeeze(1)  # union over the batch's rows
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        outputs = model(**inputs, logits_to_keep=keep, use_cache=False)
    picked = targets[:, keep]
    loss = F.cross_entropy(outputs.logits.float().flatten(0, 1), picked.flatten(), ignore_index=-100, reduction="sum")
    return loss, (picked != -100).sum(), outputs


def cpu_trainer(autocast: bool, chunk_tokens: int | None):
    """The SFTTrainer subclass the training child uses on CPU (`autocast`: bf16 autocast around the
    forward; `chunk_tokens`: the chunk budget of split_packed_row)."""
    import torch
    from trl import SFTTrainer

    from tunepilot.tools.fused_lora import fuse
    from tunepilot.tools.memory_phases import release_free_memory
    from tunepilot.tools.packed_attention import split_packed_row

    class CPUSFTTrainer(SFTTrainer):
        """On CPU, TRL's tiled fp32 LM head (for its entropy/accuracy metrics) took a third of every step
        (py-spy, SmolLM2). Here the LM head runs only at positions whose next token is trained (about
        1 in 8 with assistant-only loss), via the model's own `logits_to_keep`; same loss, same labels.
        With a bf16 base the fp32 LoRA matmuls run under bf16 autocast (the adapter weights and the
        optimizer stay fp32), as `bf16=True` does on a GPU; accelerate's CPU launch leaves it off.
        The LoRA linears add their update in place (tools/fused_lora.py), each packed row's gradient is
        computed in conversation-aligned chunks, and the heap's free pages go back after every row."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)  # TRL has wrapped the model with peft by now
            fuse(self.model)

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            labels = inputs.pop("labels")
            loss, scored, outputs = scored_loss(model, labels, autocast, **inputs)
            n = num_items_in_batch if num_items_in_batch is not None else scored
            loss = loss / torch.as_tensor(n).clamp(min=1)
            if self.args.average_tokens_across_devices and num_items_in_batch is not None:
                # n counts the tokens of every rank and DDP averages the gradients over the ranks: scale
                # back, as Trainer.compute_loss does (without it, 2 ranks trained and logged half the loss)
                loss = loss * self.accelerator.num_processes
            return (loss, outputs) if return_outputs else loss

        def _mark(self, phase: str) -> None:  # the phase marks of _timed; nothing here
            pass

        def training_step(self, model, inputs, num_items_in_batch=None):
            # One packed row's gradient in conversation-aligned chunks (the same sum; each backward holds one
            # chunk's activations). The loss is normalised by the step's token count, so chunks need it.
            chunks = split_packed_row(inputs, chunk_tokens) if num_items_in_batch is not None else [inputs]
            loss = 0.0
            for i, chunk in enumerate(chunks):
                last = i == len(chunks) - 1  # DDP: reduce once, after the row's last chunk
                with contextlib.nullcontext() if last else self.accelerator.no_sync(model):
                    loss = loss + super().training_step(model, chunk, num_items_in_batch)
                if not last:
                    self._mark("backward")
            release_free_memory()  # the micro-batch's activations are free now: give their pages back
            return loss  # (measured: 3.4 -> 1.2 GB resident between steps, no slower)

    return CPUSFTTrainer
