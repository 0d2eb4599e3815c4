"""Teachers: who writes the conversations. All return records that then pass the same validators.

- template (default): offline, deterministic for a seed; coding tasks executed in the sandbox
  plus schema-diverse executable APIs.
- openai: an OpenAI-compatible endpoint writes the request and the calls; the calls still run in
  the sandbox, so observations stay true; the endpoint then writes the final answer from them.
- self: the base model proposes the first call for a templated request; only calls that parse,
  validate against the schema and run cleanly are kept (seed 000's "AI-first" idea).
"""

from __future__ import annotations

import json
import os
import random

from tunepilot.tools.data import apis, compose
from tunepilot.tools.data.sandbox import CATALOG, EXECUTES, Sandbox, schema
from tunepilot.tools.data.tasks import ROLE_TASKS, Trajectory, ask_record, code_record, no_tool_record
from tunepilot.tools.data.validate import call_errors
from tunepilot import TunepilotError
from tunepilot.chat import parse_tool_calls


MAX_REPLY = 16_000  # characters of one endpoint reply
MAX_ARGUMENTS = 8_000  # characters of one call's JSON arguments


def to_record(t: Trajectory, rng: random.Random, role: str, source: str) -> dict:
    tools = t.tools(rng)
    steps = sum(len(m.get("tool_calls") or []) for m in t.messages)
    return {"tools": tools, "messages": t.messages,
            "meta": {"agent_role": role, "kind": t.kind, "steps": steps, "source": source, "answer_keywords": t.keywords}}


class TemplateTeacher:
    def sample(self, sb: Sandbox, rng: random.Random, role: str, kind: str) -> tuple[dict | None, str | None]:
        if kind == "api" or kind == "api:single":
            return apis.sample_api_record(rng, role), None
        if kind.startswith("api:"):
            return compose.sample_composed(rng, role, kind.split(":", 1)[1]), None
        if kind in ("ask", "no_tool") and rng.random() < 0.5:
            return apis.sample_api_record(rng, role, kind=kind), None
        build = {"ask": ask_record, "no_tool": no_tool_record, "code": code_record}.get(kind) or rng.choice(ROLE_TASKS[role])
        t = build(sb, rng)
        if t.wrote:
            sb.reset()
        return to_record(t, rng, role, f"template:{build.__name__}"), None


class OpenAITeacher:
    """Any OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, llama.cpp server). Key: OPENAI_API_KEY."""

    PROMPT = ("You write training data for a coding agent acting as a {role}. Tools (JSON Schema):\n{tools}\n"
              "Write one realistic user request that needs exactly one of these tools, and the call that serves it. "
              "The project has these files: {files}. Reply with JSON only: "
              '{{"request": "...", "calls": [{{"name": "...", "arguments": {{...}}}}]}}')

    def __init__(self, base_url: str | None, model: str):
        from openai import OpenAI

        if not base_url:
            raise TunepilotError("teacher=openai needs --base-url (an OpenAI-compatible endpoint)")
        self.client = OpenAI(base_url=base_url, api_key=os.environ.get("OPENAI_API_KEY", "not-needed"),
                             max_retries=3, timeout=60)
        self.model = model

    def _ask(self, content: str) -> str:
        r = self.client.chat.completions.create(model=self.model, messages=[{"role": "user", "content": content}],
                                                temperature=0.8)
        return r.choices[0].message.content or ""

    def sample(self, sb, rng, role, kind):
        offered = sorted(n for n in CATALOG if sb.allow_exec or n not in EXECUTES)  # no isolation: no code runs
        names = rng.sample(offered, 3)
        tools = [schema(n) for n in names]
        files = sb.execute("list_files", {"directory": "."}).replace("\n", ", ")
        try:
            reply = self._ask(self.PROMPT.format(role=role, tools=json.dumps([t["function"] for t in tools]), files=files))
            if len(reply) > MAX_REPLY:
                return None, "openai:reply_too_long"
            obj = json.loads(_json_block(reply))
            request, calls = obj["request"], obj["calls"]
            assert isinstance(request, str) and request.strip() and isinstance(calls, list) and 0 < len(calls) <= 8
        except Exception:  # noqa: BLE001 - whatever the endpoint sent, it is one rejected sample, never a crash
            return None, "openai:unparseable_reply"
        for c in calls:
            if not isinstance(c, dict) or c.get("name") not in names or not isinstance(c.get("arguments"), dict):
                return None, "openai:bad_call"
            if len(json.dumps(c["arguments"])) > MAX_ARGUMENTS:
                return None, "openai:huge_arguments"
        rec = {"tools": tools, "messages": [{"role": "user", "content": request}] + [
            {"role": "assistant", "content": "", "tool_calls": [{"id": f"call_{i}", "type": "function", "function": {
                "name": c["name"], "arguments": json.dumps(c["arguments"])}}]} for i, c in enumerate(calls)]}
        if call_errors(rec):  # validate before executing anything the endpoint wrote
            return None, "schema_invalid"
        t = Trajectory(sb, request)
        try:
            for c in calls:
                t.call(c["name"], **c["arguments"])
        finally:
            sb.reset()  # whatever the endpoint's calls wrote or ran is undone
        observations = [m["content"] for m in t.messages if m["role"] == "tool"]
        answer = self._ask(f"User request: {request}\nTool results: {json.dumps(observations)}\n"
                           "Write the assistant's short final answer, stating the key result.").strip()
        if not answer:
            return None, "openai:empty_answer"
        if len(answer) > MAX_REPLY:
            return None, "openai:reply_too_long"
        t.answer(answer)
        record = to_record(t, rng, role, "openai")
        record["tools"] = tools
        return record, None


class SelfTeacher:
    """The base model proposes the first call; kept only if it parses, validates and runs."""

    def __init__(self, model: str):
        from tunepilot.tools.evaluate import Generator

        self.gen = Generator(model)
        self.template = TemplateTeacher()

    def sample(self, sb, rng, role, kind):
        record, _ = self.template.sample(sb, rng, role, "task")
        first = record["messages"][:1]
        reply = self.gen.generate([{"tools": record["tools"], "messages": first}], max_new_tokens=64)[0].text  # a call is short
        calls, errors = parse_tool_calls(reply)
        if errors or len(calls) != 1:
            return None, "self:no_valid_call"
        call = calls[0]
        rec = {"tools": record["tools"], "messages": first + [{"role": "assistant", "content": "", "tool_calls": [
            {"id": "call_0", "type": "function", "function": {"name": call["name"], "arguments": json.dumps(call["arguments"])}}]}]}
        if call_errors(rec):
            return None, "self:schema_invalid"
        t = Trajectory(sb, first[0]["content"])
        try:
            obs = t.call(call["name"], **call["arguments"])
        finally:
            sb.reset()
        if obs.startswith("error:"):
            return None, "self:call_failed"
        t.answer(f"Result: {obs[:200]}")
        out = to_record(t, rng, role, "self")
        out["tools"] = record["tools"]
        return out, None


def _json_block(text: str) -> str:
    start, end = text.find("{"), text.rfind("}")
    return text[start:end + 1] if start >= 0 else text


def make(spec) -> TemplateTeacher | OpenAITeacher | SelfTeacher:
    if spec.teacher == "openai":
        return OpenAITeacher(spec.base_url, spec.teacher_model)
    if spec.teacher == "self":
        return SelfTeacher(spec.model)
    return TemplateTeacher()
