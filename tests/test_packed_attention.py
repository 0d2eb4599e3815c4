"""packed_sdpa: per-conversation causal attention on a padding-free packed row must give the same
logits and LoRA gradients as transformers' masked SDPA, and fall back to SDPA elsewhere."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM

from tunepilot.tools.packed_attention import NAME, _bounds, attn_implementation, split_packed_row


def _packed_row(lengths, vocab, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, vocab, (1, sum(lengths)), generator=g)
    pos = torch.cat([torch.arange(n) for n in lengths]).unsqueeze(0)
    return ids, pos


def _model(path, impl):
    torch.manual_seed(0)
    m = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, attn_implementation=impl)
    return m.train()


def test_bounds():
    cu = torch.tensor([0, 3, 5, 9], dtype=torch.int32)
    assert _bounds(1, 9, 9, cu) == [0, 3, 5, 9]
    assert _bounds(1, 9, 9, None) is None  # no collator boundaries: the mask decides
    assert _bounds(2, 9, 9, cu) is None  # padded batches keep their mask
    assert _bounds(1, 1, 10, cu) is None  # a decode step against a cache
    assert _bounds(1, 8, 8, cu) is None  # boundaries of some other row


def test_same_logits_and_grads_as_masked_sdpa(tiny_model):
    lengths = [37, 21, 50, 12]
    ref, ours = _model(tiny_model, "sdpa"), _model(tiny_model, attn_implementation(packing=True))
    assert ours.config._attn_implementation == NAME
    ids, pos = _packed_row(lengths, ref.config.vocab_size)
    cu = torch.tensor([0, *torch.tensor(lengths).cumsum(0).tolist()], dtype=torch.int32)
    packed = {"position_ids": pos, "cu_seq_lens_q": cu, "cu_seq_lens_k": cu, "use_cache": False}  # as TRL sends it
    out_ref = ref(input_ids=ids, labels=ids, **packed)  # block-diagonal mask from the positions
    out = ours(input_ids=ids, labels=ids, **packed)
    torch.testing.assert_close(out.logits, out_ref.logits, atol=1e-4, rtol=1e-4)
    out_ref.loss.backward()
    out.loss.backward()
    for (name, p_ref), (_, p) in zip(ref.named_parameters(), ours.named_parameters()):
        torch.testing.assert_close(p.grad, p_ref.grad, atol=1e-4, rtol=1e-3, msg=name)
    # documents really are isolated: changing the first one leaves the others' logits unchanged
    ids2 = ids.clone()
    ids2[0, :lengths[0]] = torch.randint(5, ref.config.vocab_size, (lengths[0],))
    with torch.no_grad():
        later = ours(input_ids=ids2, **packed).logits[0, lengths[0]:]
    torch.testing.assert_close(later, out.logits[0, lengths[0]:].detach(), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("batch", [1, 2])
def test_unpacked_input_falls_back_to_sdpa(tiny_model, batch):
    ref, ours = _model(tiny_model, "sdpa").eval(), _model(tiny_model, attn_implementation(packing=True)).eval()
    ids = torch.randint(5, ref.config.vocab_size, (batch, 30))
    mask = torch.ones_like(ids)
    mask[-1, :7] = 0  # left padding in the last row
    with torch.no_grad():
        torch.testing.assert_close(ours(input_ids=ids, attention_mask=mask).logits,
                                   ref(input_ids=ids, attention_mask=mask).logits, atol=1e-4, rtol=1e-4)
        a = ours.generate(ids[:1], max_new_tokens=5, do_sample=False)
        b = ref.generate(ids[:1], max_new_tokens=5, do_sample=False)
    assert torch.equal(a, b)


def test_trl_padding_free_batches_take_the_packed_path(tiny_model, monkeypatch):
    """What TRL's padding-free collator sends (two packed rows flattened into one) reaches the
    per-conversation path in every layer, with the right boundaries."""
    import tunepilot.tools.packed_attention as pa
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    seen = []
    real = pa._bounds
    monkeypatch.setattr(pa, "_bounds", lambda *a: seen.append(real(*a)) or seen[-1])
    model = _model(tiny_model, attn_implementation(packing=True))
    rows = [{"input_ids": list(range(10, 40)), "seq_lengths": [12, 18]},
            {"input_ids": list(range(50, 75)), "seq_lengths": [25]}]
    batch = DataCollatorForLanguageModeling(pad_token_id=0, padding_free=True)(rows)
    model(**batch, use_cache=False).loss.backward()
    assert seen == [[0, 12, 30, 55]] * model.config.num_hidden_layers


def test_bf16_cpu_rows_take_the_eager_path_with_sdpa_numerics():
    """In bf16 on CPU each conversation runs as plain matmul attention (fp32 softmax); it must agree
    with causal SDPA in value and gradient to bf16 precision, GQA included."""
    from tunepilot.tools.packed_attention import _causal_eager, _eager_ok

    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, h, 45, 16, generator=g, dtype=torch.bfloat16).requires_grad_() for h in (6, 2, 2))
    assert _eager_ok(q, {}) and not _eager_ok(q.float(), {}) and not _eager_ok(q, {"dropout": 0.1})
    ours = _causal_eager(q, k, v, None)
    ref = torch.nn.functional.scaled_dot_product_attention(
        q.float(), k.float().repeat_interleave(3, 1), v.float().repeat_interleave(3, 1), is_causal=True).transpose(1, 2)
    assert ours.shape == (1, 45, 6, 16)
    torch.testing.assert_close(ours.float(), ref, atol=2e-2, rtol=2e-2)
    grads = torch.autograd.grad(ours.float().square().sum(), (q, k, v))
    grads_ref = torch.autograd.grad(ref.square().sum(), (q, k, v))
    for a, b in zip(grads, grads_ref):
        torch.testing.assert_close(a.float(), b.float(), atol=5e-2, rtol=5e-2)


def _collated(lengths, vocab, seed=0):
    """A padding-free row as TRL's collator sends it: boundaries, per-conversation positions, each
    conversation's first label -100, and labels on about a third of the tokens."""
    ids, pos = _packed_row(lengths, vocab, seed)
    labels = ids.clone()
    labels[:, ::3] = -100
    labels[pos == 0] = -100
    cu = torch.tensor([0, *torch.tensor(lengths).cumsum(0).tolist()], dtype=torch.int32)
    seq_idx = torch.repeat_interleave(torch.arange(len(lengths), dtype=torch.int32), torch.tensor(lengths))[None]
    return {"input_ids": ids, "labels": labels, "position_ids": pos, "cu_seq_lens_q": cu, "cu_seq_lens_k": cu,
            "max_length_q": max(lengths), "max_length_k": max(lengths), "seq_idx": seq_idx}


def test_split_packed_row_cuts_at_boundaries():
    row = _collated([37, 21, 50, 12, 90], 100)
    chunks = split_packed_row(row, 64)
    # greedy: 37+21 fit, 50 alone (58+50 > 64), 12 alone (50+12 fits? 62: yes), 90 alone (longer than the budget)
    assert [c["input_ids"].shape[1] for c in chunks] == [58, 62, 90]
    assert [c["cu_seq_lens_q"].tolist() for c in chunks] == [[0, 37, 58], [0, 50, 62], [0, 90]]
    assert [c["max_length_q"] for c in chunks] == [37, 50, 90]
    assert [c["seq_idx"][0, [0, -1]].tolist() for c in chunks] == [[0, 1], [0, 1], [0, 0]]
    assert torch.equal(torch.cat([c["labels"] for c in chunks], 1), row["labels"])
    assert torch.equal(torch.cat([c["position_ids"] for c in chunks], 1), row["position_ids"])
    assert chunks[0]["cu_seq_lens_q"] is chunks[0]["cu_seq_lens_k"]
    for budget in (None, 210, 500):  # no budget, or the whole row fits: the row itself
        assert split_packed_row(row, budget) == [row]
    padded = {"input_ids": torch.ones(2, 40, dtype=torch.long), "labels": torch.ones(2, 40, dtype=torch.long)}
    assert split_packed_row(padded, 16) == [padded]  # padded batches have no boundaries to cut at


def test_chunked_row_has_the_rows_loss_and_gradients(tiny_model):
    """The CPU trainer's chunking is exact: the summed loss and the LoRA gradients of the chunks are the
    whole row's (the collator's -100 on each first token means no target crosses a cut)."""
    from peft import LoraConfig, get_peft_model

    from tunepilot.tools.cpu_trainer import scored_loss

    torch.manual_seed(0)
    model = get_peft_model(_model(tiny_model, attn_implementation(packing=True)),
                           LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"]))
    for name, p in model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(p, std=0.02)  # B = 0 at init would make every A gradient zero
    row = _collated([37, 21, 50, 12, 90], model.config.vocab_size)

    def grads(parts):
        model.zero_grad()
        total, n = 0.0, (row["labels"][:, 1:] != -100).sum()
        for part in parts:
            inputs = {k: v for k, v in part.items() if k not in ("labels", "seq_idx")}
            loss, _, _ = scored_loss(model, part["labels"], **inputs)
            (loss / n).backward()
            total += loss.item()
        return total, {k: p.grad.clone() for k, p in model.named_parameters() if p.requires_grad}

    whole_loss, whole = grads([row])
    chunks = split_packed_row(row, 64)
    assert len(chunks) == 3
    chunk_loss, chunked = grads(chunks)
    assert chunk_loss == pytest.approx(whole_loss, rel=1e-5)
    assert any(g.abs().sum() > 0 for k, g in whole.items() if "lora_A" in k)
    for name, g in whole.items():
        torch.testing.assert_close(chunked[name], g, atol=1e-6, rtol=1e-4, msg=name)
