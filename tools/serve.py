"""Tool: serve a deployed GGUF through an OpenAI-compatible `/v1/chat/completions` with tools.

    tunepilot serve RUN_ID [--port 8000]         # the GGUF that run's export chose (the CLI reads the journal)
    tunepilot serve out/export/model-q8_0.gguf   # any GGUF with an embedded chat template

    with Server(gguf) as base_url:               # a real server process on 127.0.0.1 (export's check)
        OpenAI(base_url=base_url, api_key="none").chat.completions.create(...)

The HTTP stack is FastAPI on uvicorn (llama-cpp-python's own server types refuse what OpenAI
clients send, e.g. `content: null` beside `tool_calls`); behind it is the evaluator's
`LlamaCppGenerator`, so a client gets what the export verified: the GGUF's embedded chat template over `tunepilot.chat.render_messages`,
greedy decoding, the repetition guard and the schema constraint from `<tool_call>` on.

tool_choice: "auto" (default with tools: the model decides; calls are constrained to the offered
schemas), "none" (tools not shown to the model, no call returned), "required" (the reply opens
with a call), {"type": "function", "function": {"name": N}} (a call to N). A request naming a
function it does not offer, a tool whose parameters are not a JSON Schema, a tool message
answering no earlier call, non-text content or `stream` gets 400 and a message saying which
field. Sampling settings are ignored: replies are greedy, as evaluated.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

from fastapi import Request  # at module level: FastAPI resolves the route's (string) annotations here

from tunepilot import TunepilotError

DEFAULT_MAX_TOKENS = 512


class InvalidRequest(ValueError):
    """A request the server answers with 400; the message names the field."""


# --- an OpenAI request -> our record ---------------------------------------------------------------
def _text(content, where: str) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    if isinstance(content, list) and all(isinstance(p, dict) and p.get("type") == "text" for p in content):
        return "".join(str(p.get("text", "")) for p in content)
    raise InvalidRequest(f"{where}.content: only text is supported (a string or text parts)")


def _tools(tools) -> list[dict]:
    from jsonschema import SchemaError
    from jsonschema.validators import validator_for

    out, names = [], set()
    for i, t in enumerate(tools or []):
        fn = t.get("function") if isinstance(t, dict) else None
        if not isinstance(fn, dict) or t.get("type", "function") != "function" or not isinstance(fn.get("name"), str):
            raise InvalidRequest(f"tools[{i}]: expected {{\"type\": \"function\", \"function\": {{\"name\": ...}}}}")
        if fn["name"] in names:
            raise InvalidRequest(f"tools[{i}].function.name: {fn['name']!r} is offered twice")
        names.add(fn["name"])
        params = fn.get("parameters") or {"type": "object", "properties": {}}
        try:
            validator_for(params).check_schema(params)
        except SchemaError as e:
            raise InvalidRequest(f"tools[{i}].function.parameters: not a JSON Schema ({e.message})") from None
        out.append({"type": "function", "function": dict(fn)})  # as sent: the prompt lists it as the client wrote it
    return out


def to_record(messages: list[dict], tools: list[dict] | None, tool_choice) -> tuple[dict, bool]:
    """(record in our format, whether a call is required); InvalidRequest names the bad field."""
    offered = _tools(tools)
    names = [t["function"]["name"] for t in offered]
    choice = tool_choice if tool_choice is not None else ("auto" if offered else "none")
    required = False
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        if name not in names:
            raise InvalidRequest(f"tool_choice names function {name!r}, which is not among the request's tools "
                                 f"({', '.join(names) or 'none offered'})")
        offered, required = [t for t in offered if t["function"]["name"] == name], True
    elif choice == "required":
        if not offered:
            raise InvalidRequest("tool_choice 'required' needs tools")
        required = True
    elif choice not in ("auto", "none"):
        raise InvalidRequest(f"tool_choice: {choice!r} is not 'auto', 'none', 'required' or a named function")
    known = set(names)
    out, calls_by_id = [], {}
    for i, m in enumerate(messages):
        role = m.get("role")
        where = f"messages[{i}]"
        if role in ("system", "developer", "user"):
            out.append({"role": "system" if role == "developer" else role, "content": _text(m.get("content"), where)})
        elif role == "assistant":
            msg = {"role": "assistant", "content": _text(m.get("content"), where)}
            calls = []
            for j, c in enumerate(m.get("tool_calls") or []):
                fn = (c or {}).get("function") or {}
                if fn.get("name") not in known:
                    raise InvalidRequest(f"{where}.tool_calls[{j}]: function {fn.get('name')!r} is not among the "
                                         f"request's tools ({', '.join(names) or 'none offered'})")
                try:
                    args = json.loads(fn.get("arguments") or "{}") if isinstance(fn.get("arguments"), (str, type(None))) \
                        else fn["arguments"]
                except json.JSONDecodeError:
                    args = None
                if not isinstance(args, dict):
                    raise InvalidRequest(f"{where}.tool_calls[{j}].function.arguments: not a JSON object")
                cid = c.get("id") or f"call_{i}_{j}"
                calls_by_id[cid] = fn["name"]
                calls.append({"id": cid, "type": "function",
                              "function": {"name": fn["name"], "arguments": json.dumps(args, ensure_ascii=False)}})
            if calls:
                msg["tool_calls"] = calls
            out.append(msg)
        elif role == "tool":
            cid = m.get("tool_call_id")
            if cid not in calls_by_id:
                raise InvalidRequest(f"{where}.tool_call_id: {cid!r} answers no earlier assistant tool call")
            out.append({"role": "tool", "tool_call_id": cid, "name": calls_by_id[cid],
                        "content": _text(m.get("content"), where)})
        else:
            raise InvalidRequest(f"{where}.role: {role!r} is not system, developer, user, assistant or tool")
    if not out or out[-1]["role"] == "assistant":
        raise InvalidRequest("messages: the last message must be from the user, a tool or the system")
    shown = [] if choice == "none" else offered
    return {"tools": shown, "messages": out}, required


# --- our reply -> an OpenAI chat.completion ---------------------------------------------------------
def completion(reply: dict, model: str, parse: bool) -> dict:
    from tunepilot.chat import TOOL_CALL_RE, parse_tool_calls

    text = reply["text"]
    calls, _ = parse_tool_calls(text) if parse else ([], [])
    message: dict = {"role": "assistant", "content": (TOOL_CALL_RE.sub("", text).strip() or None) if calls else text}
    if calls:
        message["tool_calls"] = [{"id": f"call_{uuid.uuid4().hex[:24]}", "type": "function",
                                  "function": {"name": c["name"], "arguments": json.dumps(c["arguments"], ensure_ascii=False)}}
                                 for c in calls]
    finish = "tool_calls" if calls else ("length" if reply["finish_reason"] == "length" else "stop")
    usage = {"prompt_tokens": reply["prompt_tokens"], "completion_tokens": reply["new_tokens"],
             "total_tokens": reply["prompt_tokens"] + reply["new_tokens"]}
    return {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()),
            "model": model, "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
            "usage": usage}


def answer(gen, model: str, body: dict) -> dict:
    """One chat completion request (its JSON body) answered by `gen` (a LlamaCppGenerator)."""
    if body.get("stream"):
        raise InvalidRequest("stream: streaming is not supported; send stream=false")
    if (body.get("response_format") or {}).get("type") not in (None, "text"):
        raise InvalidRequest("response_format: only text (tool calls are schema-constrained already)")
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
    if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 1):
        raise InvalidRequest("max_tokens: a positive integer")
    record, required = to_record(body["messages"], body.get("tools"), body.get("tool_choice"))
    reply = gen.complete(record, max_tokens or DEFAULT_MAX_TOKENS, required=required)
    return completion(reply, model, parse=bool(record["tools"]))


# --- the server -----------------------------------------------------------------------------------
def _error(status: int, message: str):
    from fastapi.responses import JSONResponse

    return JSONResponse({"error": {"message": message, "type": "invalid_request_error", "param": None, "code": None}},
                        status_code=status)


def build_app(gguf: Path, n_ctx: int = 4096, threads: int | None = None):
    """A FastAPI app with OpenAI's `/v1/models` and `/v1/chat/completions` over our generator for
    `gguf`; one request decodes at a time (llama.cpp's context is not shared between threads)."""
    import threading

    from fastapi import FastAPI
    from fastapi.concurrency import run_in_threadpool

    from tunepilot.tools.llamacpp import LlamaCppGenerator

    gguf = Path(gguf)
    gen = LlamaCppGenerator(gguf, n_ctx=n_ctx, threads=threads, constrained=True)
    lock = threading.Lock()
    app = FastAPI(title="tunepilot serve", version="1")

    @app.get("/v1/models")
    def models():
        return {"object": "list", "data": [{"id": gguf.name, "object": "model", "owned_by": "tunepilot"}]}

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "the body is not JSON")
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list) or not body["messages"]:
            return _error(400, "messages: a non-empty list is required")
        if not all(isinstance(m, dict) for m in body["messages"]):
            return _error(400, "messages: every message must be an object")

        def run():
            with lock:
                return answer(gen, gguf.name, body)

        try:
            return await run_in_threadpool(run)
        except InvalidRequest as e:
            return _error(400, str(e))

    return app


def serve(gguf: Path, host: str = "127.0.0.1", port: int = 8000, n_ctx: int = 4096, threads: int | None = None,
          ready=None) -> None:
    import uvicorn

    if not Path(gguf).is_file():
        raise TunepilotError(f"serve {gguf}: no such file")
    app = build_app(gguf, n_ctx, threads)
    if ready:
        ready(gguf, f"http://{host}:{port}/v1")
    uvicorn.run(app, host=host, port=port, log_level="warning")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class Server:
    """`tunepilot serve GGUF` as a real process on 127.0.0.1 and a free port; the context value is
    its base URL (`http://127.0.0.1:PORT/v1`). Its log goes to `log` (default: next to the GGUF)."""

    def __init__(self, gguf: Path, log: Path | None = None, timeout_s: float = 120, threads: int | None = None):
        self.gguf, self.timeout_s, self.threads = Path(gguf), timeout_s, threads
        self.log = log or self.gguf.with_name("serve.log")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> str:
        import urllib.request

        cmd = [sys.executable, "-m", "tunepilot.cli", "serve", str(self.gguf), "--port", str(self.port)]
        if self.threads:
            cmd += ["--threads", str(self.threads)]
        with open(self.log, "ab") as f:
            self.proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = self.log.read_text(errors="replace")[-800:]
                raise TunepilotError(f"tunepilot serve exited with {self.proc.returncode} before answering:\n{tail}")
            try:
                with urllib.request.urlopen(self.url + "/models", timeout=2) as r:
                    if r.status == 200:
                        return self.url
            except OSError:
                time.sleep(0.3)
        self.__exit__(None, None, None)
        raise TunepilotError(f"tunepilot serve did not answer on {self.url} within {self.timeout_s:.0f} s (log: {self.log})")

    def __exit__(self, *exc) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
