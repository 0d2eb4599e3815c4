"""Teachers behind one interface. The openai teacher talks to a real OpenAI-compatible HTTP server on
127.0.0.1 (stdlib), through the real openai client: the wire protocol is exercised, not mocked."""

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from openai_stub import send_completion

from tunepilot.tools.data.isolation import isolation
from tunepilot.tools.dataset import DatasetSpec, generate_dataset
from tunepilot import TunepilotError

FILL = {"path": "README.md", "directory": ".", "query": "TODO", "symbol": "nothing_here", "code": "print(6 * 7)",
        "content": "hello\n"}


class Endpoint(BaseHTTPRequestHandler):
    history: list = []
    garbage = False
    code = None  # when set: every reply that may call run_python calls it with this code

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
            if type(self).code and any(t["name"] == "run_python" for t in tools):
                tool, args = {"name": "run_python"}, {"code": type(self).code}
            text = json.dumps({"request": f"Please use {tool['name']} ({len(type(self).history)}).",
                               "calls": [{"name": tool["name"], "arguments": args}]})
        send_completion(self, body["model"], {"role": "assistant", "content": text}, "stop")


@pytest.fixture
def endpoint(monkeypatch):
    Endpoint.history, Endpoint.garbage, Endpoint.code = [], False, None
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


CANARY = "sk-canary-0c1d2e3f4a5b6c7d8e9f"


def _rows(folder):
    return [json.loads(l) for s in ("train", "val", "test") for l in (folder / f"{s}.jsonl").read_text().splitlines()]


def test_endpoint_written_code_sees_no_secret(endpoint, tmp_path, tiny_model, monkeypatch):
    """Issue 14: `import os; print(os.environ)` from the endpoint printed OPENAI_API_KEY and HF_TOKEN into
    the observation, which went into train.jsonl and back to the endpoint."""
    monkeypatch.setenv("OPENAI_API_KEY", CANARY)
    monkeypatch.setenv("HF_TOKEN", "hf_" + CANARY[3:])
    Endpoint.code = "import os; print(dict(os.environ))"
    card = generate_dataset(DatasetSpec(out=tmp_path / "d", n=12, teacher="openai", base_url=endpoint, model=tiny_model,
                                        allow_unisolated_exec=True))
    ran = [r["messages"][2]["content"] for r in _rows(tmp_path / "d") if r["messages"][1]["tool_calls"][0]["function"]["name"] == "run_python"]
    assert ran and all("PATH" in obs for obs in ran)  # the code really ran
    sent = json.dumps([h["body"] for h in Endpoint.history])
    for text in (*(p.read_text() for p in (tmp_path / "d").iterdir()), sent):
        assert "canary" not in text and "OPENAI_API_KEY" not in text.replace('"OPENAI_API_KEY"', "")
    assert card.metadata["execution"]["environment"] == "empty"


@pytest.mark.skipif(not isolation().namespaces, reason="no network namespace on this machine")
def test_endpoint_written_code_reaches_no_listener(endpoint, tmp_path, tiny_model):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.2)
    Endpoint.code = f"import urllib.request\nurllib.request.urlopen('http://127.0.0.1:{listener.getsockname()[1]}/', timeout=2)"
    generate_dataset(DatasetSpec(out=tmp_path / "d", n=12, teacher="openai", base_url=endpoint, model=tiny_model))
    with pytest.raises(socket.timeout):
        listener.accept()  # nothing ever connected
    ran = [r for r in _rows(tmp_path / "d") if r["messages"][1]["tool_calls"][0]["function"]["name"] == "run_python"]
    assert all("Network is unreachable" in r["messages"][2]["content"] for r in ran)
    assert json.loads((tmp_path / "d" / "metadata.json").read_text())["execution"]["network"] == "none"


def test_without_namespaces_a_remote_teacher_runs_no_code(endpoint, tmp_path, tiny_model, monkeypatch):
    monkeypatch.setenv("TUNEPILOT_NO_NAMESPACES", "1")
    isolation.cache_clear()
    try:
        Endpoint.code = "print('ran')"
        card = generate_dataset(DatasetSpec(out=tmp_path / "d", n=12, teacher="openai", base_url=endpoint, model=tiny_model))
    finally:
        isolation.cache_clear()
    offered = {t["function"]["name"] for r in _rows(tmp_path / "d") for t in r["tools"]}
    assert not offered & {"run_python", "run_tests"}
    assert card.metadata["execution"]["code_from_teacher"] == "refused" and not card.metadata["execution"]["namespaces"]
