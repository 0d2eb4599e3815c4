"""packed_sdpa: per-conversation causal attention on a padding-free packed row must give the same
logits and LoRA gradients as transformers' masked SDPA, and fall back to SDPA elsewhere."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM

from tunepilot.tools.packed_attention import NAME, _bounds, attn_implementation


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
