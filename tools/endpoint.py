"""The evaluator's generator interface over an OpenAI-compatible server, through the `openai` client.

    gen = EndpointGenerator("http://127.0.0.1:8000/v1")      # e.g. `tunepilot serve` (tools/serve.py)
    gen.generate(records)                                    # -> [Generation], latency = the HTTP round trip

Each record's messages and tools go out as a chat completion request (tool_choice "auto", greedy);
the answer comes back in our text convention (content, then one `<tool_call>` block per returned
call) so the same scorer judges it as an in-process reply. The API key is $OPENAI_API_KEY when set
(a local server needs none), never logged.
"""

from __future__ import annotations

import json
import os
import time

from tunepilot.chat import Generation, call_text


class EndpointGenerator:
    def __init__(self, base_url: str, model: str | None = None, timeout_s: float = 300):
        from openai import OpenAI

        self.client = OpenAI(base_url=base_url, api_key=os.environ.get("OPENAI_API_KEY") or "none",
                             timeout=timeout_s, max_retries=0)
        self.model = model or next(iter(self.client.models.list().data)).id
        self.progress = None

    def generate(self, records: list[dict], max_new_tokens: int = 192, batch_size: int = 1) -> list[Generation]:
        out = []
        for i, r in enumerate(records):
            kwargs = {"tools": r["tools"]} if r.get("tools") else {}
            t0 = time.perf_counter()
            res = self.client.chat.completions.create(model=self.model, messages=r["messages"], max_tokens=max_new_tokens,
                                                      temperature=0, **kwargs)
            dt = time.perf_counter() - t0
            msg = res.choices[0].message
            text = (msg.content or "") + "".join(call_text(c.function.name, json.loads(c.function.arguments))
                                                 for c in msg.tool_calls or [])
            out.append(Generation(text.strip(), dt, res.usage.completion_tokens if res.usage else 0))
            if self.progress:
                self.progress(i + 1, len(records))
        return out
