"""Greedy batched generation on the transformers runtime, with the `<tool_call>` convention and
optional schema-constrained tool calls (tools/constrained.py). Rows leave a batch as soon as they
finish (their KV-cache rows are dropped), so a wide batch costs little. The evaluator
(tools/evaluate.py) scores what it writes; llama.cpp's counterpart is tools/llamacpp.py.
"""

from __future__ import annotations

import time
from pathlib import Path

from tunepilot import TunepilotError
from tunepilot.chat import Generation, native_tool_support, render_messages


class Generator:
    """Greedy batched generation with the `<tool_call>` convention. Adapter optional."""

    def __init__(self, model: str, adapter: Path | None = None, trust_remote_code: bool = False,
                 constrained: bool = False, precision: str = "auto"):
        import torch
        from transformers import AutoModelForCausalLM

        from tunepilot.models import load_tokenizer, resolve_model
        from tunepilot.precision import choose_precision

        path = resolve_model(model)
        self.progress = None  # progress(done, total) after every batch: the evaluation's items-done bar
        self.tok = load_tokenizer(path, trust_remote_code)
        self.tok.padding_side = "left"
        self.native = native_tool_support(self.tok.chat_template)
        cuda = torch.cuda.is_available()
        self.precision = choose_precision(precision)  # bf16 only where the device computes it natively
        self.model = AutoModelForCausalLM.from_pretrained(
            path, dtype=self.precision.torch_dtype, trust_remote_code=trust_remote_code,
            device_map="auto" if cuda else None)
        self.base = self.model
        if adapter:
            self.attach(adapter)
        self.model.eval()
        end = self.tok.convert_tokens_to_ids("<|im_end|>") if "<|im_end|>" in self.tok.get_vocab() else None
        self.stop = [i for i in {self.tok.eos_token_id, end} if i is not None]
        self.constrained = constrained
        self._lltok = None

    def _constraint(self, records: list[dict]):
        """Schema-constrained tool calls for a batch (None when off or no record offers tools)."""
        if not self.constrained or not any(r.get("tools") for r in records):
            return None
        from tunepilot.tools.constrained import Constraint, hf_lltokenizer

        if self._lltok is None:
            self._lltok = hf_lltokenizer(self.tok, self.model.get_output_embeddings().weight.shape[0], self.stop)
        return Constraint(self._lltok, [r.get("tools") or [] for r in records], native=self.native)

    def attach(self, adapter: Path) -> None:
        from peft import PeftModel

        if not (Path(adapter) / "adapter_config.json").exists():
            raise TunepilotError(f"--adapter {adapter}: no adapter_config.json (train one with `tunepilot train`)")
        # Merged for evaluation: unmerged LoRA doubles the per-layer work of every decode step.
        # The base weights change in place, so score the base model before attaching.
        self.model = PeftModel.from_pretrained(self.base, str(adapter)).merge_and_unload()
        self.model.eval()

    def prompt(self, record: dict) -> str:
        msgs = render_messages(record, native=self.native)
        tools = [t["function"] for t in record.get("tools", [])] if self.native else None
        return self.tok.apply_chat_template(msgs, tools=tools, tokenize=False, add_generation_prompt=True)

    def generate(self, records: list[dict], max_new_tokens: int = 192, batch_size: int = 8) -> list[Generation]:

        prompts = [self.prompt(r) for r in records]
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
        out: list[Generation | None] = [None] * len(prompts)
        for s in range(0, len(order), batch_size):
            idx = order[s:s + batch_size]
            enc = self.tok([prompts[i] for i in idx], return_tensors="pt", padding=True, add_special_tokens=False)
            enc = enc.to(self.model.device)
            t0 = time.perf_counter()
            constraint = self._constraint([records[i] for i in idx])
            rows = self.greedy(enc["input_ids"], enc["attention_mask"], max_new_tokens, constraint)
            dt = time.perf_counter() - t0
            for row, i in zip(rows, idx):
                n = sum(1 for t in row if t not in self.stop)
                out[i] = Generation(self.tok.decode(row, skip_special_tokens=True).strip(), dt, n)
            if self.progress:
                self.progress(min(s + batch_size, len(order)), len(order))
        return out  # type: ignore[return-value]

    def greedy(self, ids, mask, max_new_tokens: int, constraint=None) -> list[list[int]]:
        """Greedy decoding of a left-padded batch with a KV cache, as `generate(do_sample=False)` does,
        except that a row leaves the batch as soon as it has closed its answer (a stop token): its
        cache rows are dropped, so the batch shrinks instead of decoding padding until its longest
        row ends. Returns each row's new tokens (its stop token included)."""
        import torch
        from transformers import DynamicCache

        from tunepilot.tools.constrained import ban_loop

        live = list(range(ids.shape[0]))  # batch position -> row
        rows: list[list[int]] = [[] for _ in live]
        stop = torch.tensor(self.stop, device=ids.device)
        cache = DynamicCache(config=self.model.config)
        cache.layers = [reserved(layer, max_new_tokens) for layer in cache.layers]
        pos = (mask.long().cumsum(-1) - 1).masked_fill(mask == 0, 1)
        with torch.inference_mode():
            logits = self._prefill_rows(ids, mask, cache)
            if logits is None:  # one padded forward (GPU, or a batch that is not left-padded)
                logits = self.model(input_ids=ids, attention_mask=mask, position_ids=pos, cache=cache,
                                    use_cache=True, logits_to_keep=1).logits[:, -1]
            pos = pos[:, -1:]
            for step in range(max_new_tokens):
                scores = logits.float()
                if constraint is not None:
                    scores = constraint.mask_rows(scores, live)
                for j, r in enumerate(live):  # the repetition guard: no k-token pattern a 5th time in a row
                    ban_loop(scores[j], rows[r])
                nxt = scores.argmax(-1)
                tokens = nxt.tolist()
                for r, t in zip(live, tokens):
                    rows[r].append(t)
                if constraint is not None:
                    constraint.consume_rows(tokens, live)
                done = torch.isin(nxt, stop)
                if step == max_new_tokens - 1 or bool(done.all()):
                    break
                if bool(done.any()):
                    keep = (~done).nonzero().squeeze(1)
                    cache.batch_select_indices(keep)
                    live = [live[j] for j in keep.tolist()]
                    mask, nxt, pos = mask[keep], nxt[keep], pos[keep]
                mask = torch.cat([mask, mask.new_ones(mask.shape[0], 1)], dim=1)
                pos = pos + 1
                logits = self.model(input_ids=nxt[:, None], attention_mask=mask, position_ids=pos,
                                    cache=cache, use_cache=True).logits[:, -1]
        return rows

    def _prefill_rows(self, ids, mask, cache):
        """On CPU, each prompt's forward alone, without its padding, its keys and values placed in the
        batch's left-padded cache; the decode steps are then batched as usual. The same positions and the
        same keys as one padded forward, but no pad tokens computed and causal attention without a mask
        (SDPA's faster path). 2 cores (Intel Xeon, fp32), the first 32 BFCL live_multiple prompts (up to 2,769
        tokens, padded to 88,608): prefill and 65 steps took 9.5 min padded with torch.cat-ed caches, 7.9 with
        the reserved cache, 2.0 with the rows alone (README, "Evaluating faster"). None where it does not
        apply (GPU: one wide forward is faster there)."""
        import torch
        from transformers import DynamicCache

        n = mask.sum(-1).tolist()
        width = ids.shape[1]
        if ids.device.type != "cpu" or not all(getattr(layer, "place", None) for layer in cache.layers) \
                or any(not bool(mask[i, width - k:].all()) for i, k in enumerate(n)):
            return None
        last = []
        for i, k in enumerate(n):
            alone = DynamicCache(config=self.model.config)
            out = self.model(input_ids=ids[i:i + 1, width - k:], position_ids=torch.arange(k, device=ids.device)[None],
                             cache=alone, use_cache=True, logits_to_keep=1)
            last.append(out.logits[:, -1])
            for layer, own in zip(cache.layers, alone.layers):
                layer.place(i, ids.shape[0], width, own.keys, own.values)
        return torch.cat(last)


def reserved(layer, tokens: int):
    """A full-attention cache layer with room for `tokens` more positions after the prompt: each decode
    step writes its key and value into the room instead of `torch.cat`-ing the whole cache into a new
    tensor (a copy of every layer's cache per token, and the page faults of its allocation: on 2 cores,
    Intel Xeon, fp32, the first 32 BFCL live_multiple prompts took 9.5 min with it, 7.9 without, system time
    5.5 -> 3.6 min). Other layer kinds (sliding window, linear attention) are returned as they are."""
    import torch
    from transformers.cache_utils import DynamicLayer

    if type(layer) is not DynamicLayer:
        return layer

    class ReservedLayer(DynamicLayer):
        def update(self, key_states, value_states, *args, **kwargs):
            if not self.is_initialized:  # the prompt: allocate it with the room behind it
                self.device, b, h, n, d = key_states.device, *key_states.shape
                self._k = key_states.new_empty(b, h, n + tokens, d)
                self._v = value_states.new_empty(b, value_states.shape[1], n + tokens, value_states.shape[-1])
                self._n, self.is_initialized = 0, True
            n, m = self._n, key_states.shape[-2]
            if n + m > self._k.shape[-2]:  # past the room (not in greedy): grow as DynamicLayer does
                self._k = torch.cat([self._k[..., :n, :], key_states], dim=-2)
                self._v = torch.cat([self._v[..., :n, :], value_states], dim=-2)
            else:
                self._k[..., n:n + m, :] = key_states
                self._v[..., n:n + m, :] = value_states
            self._n = n + m
            self.keys, self.values = self._k[..., :self._n, :], self._v[..., :self._n, :]
            return self.keys, self.values

        def place(self, row: int, batch: int, width: int, keys, values) -> None:
            """Row `row`'s prompt keys and values (computed alone), right-aligned in a left-padded batch of
            `width` positions; the pad positions hold zeros (masked, never attended)."""
            if not self.is_initialized:
                self.device, (_, h, _, d), hv = keys.device, keys.shape, values.shape[1]
                self._k = keys.new_zeros(batch, h, width + tokens, d)
                self._v = values.new_zeros(batch, hv, width + tokens, values.shape[-1])
                self._n, self.is_initialized = width, True
            k = keys.shape[-2]
            self._k[row, :, width - k:width] = keys[0]
            self._v[row, :, width - k:width] = values[0]
            self.keys, self.values = self._k[..., :self._n, :], self._v[..., :self._n, :]

        def batch_select_indices(self, indices) -> None:
            if self.is_initialized:
                self._k, self._v = self._k[indices], self._v[indices]
                self.keys, self.values = self._k[..., :self._n, :], self._v[..., :self._n, :]

    return ReservedLayer()
