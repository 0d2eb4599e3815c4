"""Schema-constrained tool calls at decode time (llguidance, the engine behind llama.cpp's and
vLLM's structured output).

The reply stays free text until the model itself writes `<tool_call>`. From there the call must be

    {"name": "<one of the offered tools>", "arguments": <object valid under that tool's schema>}

then `</tool_call>`: a tool that was not offered, an undeclared argument, a missing required one,
a wrong type or a value outside an enum cannot be written, and properties come in declared order
(the order `tunepilot.chat.render_messages` trains). Whether to call, which tool and which values
stay the model's choice: constraint only removes malformed calls. `Constraint` works for
transformers' `generate` (a logits processor) and for llama-cpp-python (`logits_processor`).
"""

from __future__ import annotations

import json
import logging

log = logging.getLogger(__name__)

# Arguments as they are trained: compact (tunepilot.chat.call_text, Ollama's Go JSON); a model whose own
# chat template renders tools (native) writes them as Jinja's tojson does.
_JSON_STYLE = {"whitespace_flexible": False, "item_separator": ",", "key_separator": ":", "lenient": True}
_NATIVE_STYLE = {**_JSON_STYLE, "item_separator": ", ", "key_separator": ": "}


def _lark_str(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


def _schema(params: dict | None, native: bool = False) -> dict:
    """The tool's parameters as the decoder's schema: an object, closed unless it says otherwise
    (a tool accepts what it declares), written compact like the training data (tunepilot.chat.call_text)."""
    schema = dict(params or {"type": "object", "properties": {}})
    schema.setdefault("type", "object")
    schema.setdefault("additionalProperties", False)
    schema["x-guidance"] = _NATIVE_STYLE if native else _JSON_STYLE
    return schema


def tool_call_grammar(tools: list[dict], required: bool = False, native: bool = False) -> str | None:
    """A lazy Lark grammar (llguidance dialect) for replies offering `tools` (OpenAI format);
    None when no tools are offered. `required` (OpenAI's tool_choice "required", or a named
    function when `tools` is that one): the reply opens with a call at its first token. `native`: the
    model's own chat template renders tools, so arguments are spaced as its tojson writes them."""
    fns = [t.get("function", t) for t in tools or []]
    if not fns:
        return None
    alts = [f"fn_{i}" for i in range(len(fns))]
    open_call = _lark_str('{"name": ')
    body = f'"\\n"? {open_call} ({" | ".join(alts)}) "}}" "\\n"? "</tool_call>"'
    lines = [
        "%llguidance {}",
        "start: first call* TEXT" if required else "start: call* TEXT",
        r"TEXT: /(.|\n)*/",
        'call_trig[lazy]: TEXT "<tool_call>"',
        f"call: call_trig {body}",
    ]
    if required:
        lines.append(f'first: "<tool_call>" {body}')
    for alt, fn in zip(alts, fns):
        head = json.dumps(fn["name"], ensure_ascii=False) + ', "arguments": '
        lines.append(f"{alt}: {_lark_str(head)} %json {json.dumps(_schema(fn.get('parameters'), native), ensure_ascii=False)}")
    return "\n".join(lines) + "\n"


LOOP_REPEATS = 4  # a k-token pattern written this many times in a row is a loop...
LOOP_MAX_K = 8  # ...for k up to this many tokens


def loop_token(seq: list[int], repeats: int = LOOP_REPEATS, max_k: int = LOOP_MAX_K) -> int | None:
    """The token that would extend a loop at the end of `seq` (its last k tokens written `repeats`
    times in a row), or None. Banning it is the repetition guard: a small model that starts
    repeating a value ("1, 1, 1, ..." or a phrase) until the token cap is made to take its next
    choice instead (usually the closing quote or bracket)."""
    for k in range(1, max_k + 1):
        n = k * repeats
        if len(seq) < n:
            break
        tail = seq[-k:]
        if all(seq[-n + i] == tail[i % k] for i in range(n)):
            return tail[0]
    return None


def ban_loop(scores, seq: list[int]) -> None:
    """Repetition guard on one row of scores (a torch or numpy vector), in place, when another
    token stays allowed (a grammar that forces the token wins)."""
    t = loop_token(seq)
    if t is not None and t < scores.shape[-1] and int((scores > float("-inf")).sum()) > 1:
        scores[t] = float("-inf")


def hf_lltokenizer(hf_tok, n_vocab: int, eos: list[int]):
    """llguidance's view of a Hugging Face fast tokenizer (about 0.5 s to build: keep it)."""
    import llguidance.hf

    return llguidance.hf.from_tokenizer(hf_tok, n_vocab=n_vocab, eos_token=list(eos))


class Constraint:
    """One matcher per batch row; a row without tools decodes unconstrained, and so does one whose
    grammar fails to compile (with a warning in the log). A row's matcher stops at its EOS, so the
    padding after it is never checked."""

    def __init__(self, lltok, tool_lists: list[list[dict]], required: bool = False, native: bool = False):
        from llguidance import LLMatcher

        self.matchers: list = []
        for tools in tool_lists:
            grammar = tool_call_grammar(tools, required, native)
            m = None if grammar is None else LLMatcher(lltok, grammar, log_level=0)
            if m is not None and m.is_error():  # a grammar that does not compile leaves the matcher in error
                log.warning("tool-call grammar not used (%s)", m.get_error().splitlines()[0][:200])
                m = None
            self.matchers.append(m)
        self._seen: int | None = None

    def _live(self, i: int):
        """Row i's matcher while it still constrains (not absent, stopped at EOS, or in error)."""
        m = self.matchers[i]
        return None if m is None or m.is_stopped() or m.is_error() else m

    def _mask(self, i: int):
        """Allowed next tokens of row i as a bool tensor, or None for no constraint."""
        import numpy as np
        import torch

        m = self._live(i)
        if m is None:
            return None
        bits = np.frombuffer(m.compute_bitmask(), dtype=np.uint8)
        return torch.from_numpy(np.unpackbits(bits, bitorder="little").astype(bool))

    def _consume(self, i: int, token: int) -> None:
        m = self._live(i)
        if m is not None and not m.consume_token(token):
            log.warning("tool-call constraint: row %d left the grammar (%s)", i, m.get_error()[:200])

    def __call__(self, input_ids, scores):
        """transformers LogitsProcessor: (batch, seq) ids, (batch, vocab) scores."""
        rows = list(range(scores.shape[0]))
        if self._seen is not None:
            self.consume_rows(input_ids[:, -1].tolist(), rows)
        self._seen = input_ids.shape[1]
        return self.mask_rows(scores, rows)

    def mask_rows(self, scores, rows: list[int]):
        """Mask (len(rows), vocab) scores in place: scores[j] belongs to matcher rows[j] (a decoder
        that drops finished rows from its batch passes the rows still in it)."""
        for j, i in enumerate(rows):
            allowed = self._mask(i)
            if allowed is not None:
                v = min(scores.shape[1], allowed.shape[0])
                row = scores[j]
                row[:v].masked_fill_(~allowed[:v], float("-inf"))
                row[v:] = float("-inf")
        return scores

    def consume_rows(self, tokens: list[int], rows: list[int]) -> None:
        """Advance matcher rows[j] by tokens[j]."""
        for i, t in zip(rows, tokens):
            self._consume(i, t)

    def llama_cpp(self):
        """The same constraint (one row) as a llama-cpp-python `logits_processor`
        (numpy ids and scores, called once per sampled token)."""
        import numpy as np

        state = {"n": None, "start": None}

        def process(input_ids, scores):
            if state["n"] is not None and len(input_ids) > state["n"]:
                self._consume(0, int(input_ids[-1]))
            state["n"] = len(input_ids)
            state["start"] = len(input_ids) if state["start"] is None else state["start"]
            scores = scores.copy()
            allowed = self._mask(0)
            if allowed is not None:
                a = allowed.numpy()
                v = min(len(scores), len(a))
                scores[:v][~a[:v]] = -np.inf
                scores[v:] = -np.inf
            ban_loop(scores, [int(t) for t in input_ids[state["start"]:]])
            return scores

        return process
