"""Teachers behind one interface. The openai teacher talks to a real OpenAI-compatible HTTP server on
127.0.0.1 (stdlib), through the real openai client: the wire protocol is exercised, not mocked."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from openai_stub import send_completion

from tunepilot.tools.dataset import DatasetSpec, generate_dataset
from tunepilot import TunepilotError

FILL = {"path": "README.md", "directory": ".", "query": "TODO", "symbol": "nothing_here", "code": "print(6 * 7)",
        "content": "hello\n"}


class Endpoint(BaseHTTPRequestHandler):
    history: list = []
    garbage = False

    def log_message(self, *a):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).history.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
        prompt = body["messages"][-1]["content"]
        if type(self).garbage:
            text = "I'd rather not."
        elif "Tool results:" in prompt:
            text = "Done: " + json.loads(prompt.split("Tool results: ", 1)[1].split("\n", 1)[0])[0][:40]
        else:
            tools = json.loads(prompt.split("Tools (JSON Schema):\n", 1)[1].split("\n", 1)[0])
            tool = next(t for t in tools if set(t["parameters"]["required"]) <= set(FILL))
            args = {k: FILL[k] for k in tool["parameters"]["required"]}
            text = json.dumps({"request": f"Please use {tool['name']} ({len(type(self).history)}).",
                               "calls": [{"name": tool["name"], "arguments": args}]})
        send_completion(self, body["model"], {"role": "assistant", "content": text}, "stop")


@pytest.fixture
def endpoint(monkeypatch):
    Endpoint.history, Endpoint.garbage = [], False
    server = ThreadingHTTPServer(("127.0.0.1", 0), Endpoint)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    yield f"http://127.0.0.1:{server.server_port}/v1"
    server.shutdown()


def test_openai_teacher_over_http(endpoint, tmp_path, tiny_model):
    card = generate_dataset(DatasetSpec(out=tmp_path / "d", n=12, teacher="openai", base_url=endpoint,
                                        teacher_model="local-teacher", model=tiny_model))
    assert sum(card.splits.values()) == 12
    assert Endpoint.history and all(h["path"] == "/v1/chat/completions" for h in Endpoint.history)
    assert all(h["auth"] == "Bearer test-key" and h["body"]["model"] == "local-teacher" for h in Endpoint.history)
    rows = [json.loads(l) for s in ("train", "val", "test") for l in (tmp_path / "d" / f"{s}.jsonl").read_text().splitlines()]
    for r in rows:
        assert r["meta"]["source"] == "openai"
        call = r["messages"][1]["tool_calls"][0]["function"]
        obs = r["messages"][2]["content"]
        if call["name"] == "run_python":
            assert obs == "42"  # executed for real in the sandbox, not written by the endpoint
        assert r["messages"][-1]["content"].startswith("Done: ")
    assert "test-key" not in (tmp_path / "d" / "metadata.json").read_text()


def test_openai_teacher_garbage_is_rejected_and_counted(endpoint, tmp_path, tiny_model):
    Endpoint.garbage = True
    with pytest.raises(TunepilotError, match=r"openai:unparseable_reply"):
        generate_dataset(DatasetSpec(out=tmp_path / "d", n=10, teacher="openai", base_url=endpoint, model=tiny_model))
    assert not (tmp_path / "d").exists()


def test_self_teacher_keeps_only_valid_calls(tmp_path, tiny_model):
    """The untrained tiny model proposes nothing valid: every proposal is rejected and counted."""
    with pytest.raises(TunepilotError, match=r"self:no_valid_call"):
        generate_dataset(DatasetSpec(out=tmp_path / "d", n=10, teacher="self", model=tiny_model))
    assert not (tmp_path / "d").exists()
