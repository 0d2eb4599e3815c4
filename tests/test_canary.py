"""One canary secret through every path a secret can take into a run, then every file the run
wrote (journal, journal.md, request/plan/decision/metadata/config JSON, reports, logs, the memory
store) and the terminal are searched for it: zero hits (issue 14).

Paths: an environment variable (the API key, sent as a header to a real local endpoint), URL
userinfo (--base-url: refused before anything is written), error text (the endpoint's 400 echoes the key, a GitHub token, a JWT and a
cookie), the planner's own output (its rationale quotes the key and a Stripe-style live key)."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pydantic_ai.models
import pytest
from openai_stub import send_completion

from tunepilot import cli

KEY = "sk-canary-e1f2a3b4c5d6e7f8a9b0"  # in $OPENAI_API_KEY
URL_SECRET = "urlcanary-9f8e7d6c5b4a"  # in --base-url's userinfo
LEAKS = ("ghp_" + "C" * 36, "sk_live_" + "D" * 24, "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjYW5hcnkifQ.c2lnbmF0dXJlMTIz",
         "session=s3cr3t-cookie-value")
QUICK = ["--set", "dataset.n_examples=20", "--max-steps", "1", "--eval-limit", "2", "--set", "evaluation.export=false", "--set", "evaluation.suites=[]",
         "--set", "criteria.min_success=0", "--set", "criteria.iterate_success=0", "--set", "criteria.max_latency_s=600",
         "--set", "criteria.iterate_latency_s=700", "--set", "criteria.max_memory_gb=100"]


class Endpoint(BaseHTTPRequestHandler):
    auth: list = []

    def log_message(self, *a):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Endpoint.auth.append(self.headers.get("Authorization"))
        names = [t["function"]["name"] for t in body.get("tools", [])]
        if "generate_data" not in names:  # goal -> request: an error that echoes every secret it saw
            data = json.dumps({"error": {"message": f"invalid key {self.headers.get('Authorization')}; "
                                                    f"try {LEAKS[0]} or {LEAKS[2]}", "code": "Set-Cookie: " + LEAKS[3]}}).encode()
            self.send_response(400)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        done = sum(1 for m in body["messages"] if m["role"] == "tool")
        output = next(n for n in names if n not in ("generate_data", "train", "evaluate", "export", "decide"))
        script = [("generate_data", {}), ("train", {}), ("evaluate", {}), ("decide", {}),
                  (output, {"action": "deploy", "rationale": f"fine; my key is {KEY} and {LEAKS[1]}"})]
        name, args = script[min(done, len(script) - 1)]
        send_completion(self, body["model"], {"role": "assistant", "content": None, "tool_calls": [
            {"id": f"call_{done}", "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}]},
            "tool_calls")


@pytest.fixture
def endpoint(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    Endpoint.auth = []
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Endpoint)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv.server_address[1]
    srv.shutdown()


def test_no_file_a_run_writes_holds_the_canary(endpoint, tiny_model, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TUNEPILOT_HOME", str(tmp_path / "home"))
    pydantic_ai.models.ALLOW_MODEL_REQUESTS = True
    try:
        rc = cli.main(["run", "make it better at tool calls", "--model", tiny_model, "--planner", "llm",
                       "--base-url", f"http://127.0.0.1:{endpoint}/v1", "--llm-model", "local",
                       "--run-id", "t-secrets", "--json", *QUICK])
    finally:
        pydantic_ai.models.ALLOW_MODEL_REQUESTS = False
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert f"Bearer {KEY}" in Endpoint.auth  # the key really travelled (as a header), so it could have leaked
    journal = (tmp_path / "runs" / "t-secrets" / "journal.jsonl").read_text()
    assert "invalid key Bearer ***" in journal and "fine; my key is ***" in journal  # both texts landed, masked
    files = [p for root in (tmp_path / "runs", tmp_path / "home", tmp_path / "memory.sqlite")
             for p in ([root] if root.is_file() else root.rglob("*")) if p.is_file()]
    assert len(files) > 20
    for leak in LEAKS + (KEY, URL_SECRET):
        hits = [str(p) for p in files if leak.encode().lower() in p.read_bytes().lower()]
        assert not hits, f"{leak!r} found in {hits}"
        assert leak.lower() not in (out + err).lower()


@pytest.mark.parametrize("argv", [
    ["run", "make it better at tool calls", "--planner", "llm", "--base-url", f"https://tpuser:{URL_SECRET}@example.com/v1"],
    ["data", "generate", "--out", "OUT", "--teacher", "openai", "--base-url", f"https://{URL_SECRET}@example.com/v1"],
])
def test_credentials_in_a_url_are_refused_and_never_echoed(argv, tmp_path, capsys):
    argv = [str(tmp_path / "d") if a == "OUT" else a for a in argv]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--base-url" in err and "credentials in the URL are refused" in err
    assert URL_SECRET not in err
    assert not (tmp_path / "runs").exists() and not (tmp_path / "d").exists()
