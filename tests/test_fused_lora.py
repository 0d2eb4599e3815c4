"""fused_lora: the CPU trainer's in-place LoRA forward must give peft's outputs and gradients, and
leave every case it does not fuse (dropout, merged, disabled adapters, autocast) to peft."""

from __future__ import annotations

import pytest
import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM

from tunepilot.tools.fused_lora import fuse

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def _lora_model(path, dropout=0.0):
    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    model = get_peft_model(base, LoraConfig(r=4, lora_alpha=12, lora_dropout=dropout, target_modules=TARGETS))
    for name, p in model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(p, std=0.02)  # non-zero B: the A gradients are then non-zero too
    return model.train()


def _loss_and_grads(model, ids):
    model.zero_grad()
    out = model(input_ids=ids, labels=ids)
    out.loss.backward()
    return out.logits.detach(), {k: p.grad.clone() for k, p in model.named_parameters() if p.requires_grad}


def test_same_outputs_and_gradients_as_peft(tiny_model):
    ref, ours = _lora_model(tiny_model), _lora_model(tiny_model)
    assert fuse(ours) == 7 * ours.config.num_hidden_layers
    ids = torch.randint(5, ref.config.vocab_size, (2, 40), generator=torch.Generator().manual_seed(1))
    logits_ref, grads_ref = _loss_and_grads(ref, ids)
    logits, grads = _loss_and_grads(ours, ids)
    torch.testing.assert_close(logits, logits_ref, atol=1e-5, rtol=1e-5)
    assert grads.keys() == grads_ref.keys() and any("lora_A" in k for k in grads)
    for name, g in grads_ref.items():
        assert g.abs().sum() > 0, name
        torch.testing.assert_close(grads[name], g, atol=1e-6, rtol=1e-4, msg=name)
    # the state dict is peft's: the fused model saves the same adapter
    assert ours.state_dict().keys() == ref.state_dict().keys()


@pytest.mark.parametrize("case", ["dropout", "disabled", "merged", "autocast"])
def test_unfused_cases_run_pefts_forward(tiny_model, case):
    """Each case would come out different if the fused path ran: dropout (train mode, same seed) draws
    its mask only in peft's path, a disabled or merged adapter must not be added (again), and under
    autocast the in-place update would mix bf16 and fp32."""
    dropout = 0.1 if case == "dropout" else 0.0
    ref, ours = _lora_model(tiny_model, dropout), _lora_model(tiny_model, dropout)
    fuse(ours)
    ids = torch.randint(5, ref.config.vocab_size, (1, 24), generator=torch.Generator().manual_seed(2))
    if case == "merged":
        ref.merge_adapter()
        ours.merge_adapter()
    ctx = torch.autocast("cpu", dtype=torch.bfloat16) if case == "autocast" else torch.no_grad()

    def logits(m):
        torch.manual_seed(3)
        if case == "disabled":
            with m.disable_adapter():
                return m(input_ids=ids).logits
        return m(input_ids=ids).logits

    with torch.no_grad(), ctx:
        a, b = logits(ref), logits(ours)
    torch.testing.assert_close(b, a, atol=1e-5, rtol=1e-5)
