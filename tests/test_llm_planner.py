"""The LLM planner drives the same typed tools: scripted with FunctionModel, then over real HTTP
against a local OpenAI-compatible server (real openai client, real wire format); an endpoint that
is down backs off, then hands the run to the playbook."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pydantic_ai.models
import pytest
from openai_stub import send_completion
from pydantic_ai.messages import ModelResponse, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from tunepilot.agent import run as runs
from tunepilot.agent.llm_planner import LLMPlanner
from tunepilot.agent.toolbox import Toolbox

pydantic_ai.models.ALLOW_MODEL_REQUESTS = False

QUICK = {"dataset.n_examples": 40, "training_config.max_steps": 1, "evaluation.limit": 3,
         "criteria.min_success": 0.0, "criteria.iterate_success": 0.0,
         "criteria.max_latency_s": 600, "criteria.iterate_latency_s": 700, "criteria.max_memory_gb": 100,
         "evaluation.suites": [], "evaluation.export": False}  # the export path is tested in test_run.py and test_export.py


def _toolbox(tmp_path, tiny_model):
    from tunepilot.agent.goal import parse_goal

    req = parse_goal("tool calls", model=tiny_model, overrides=QUICK)
    return Toolbox.for_request(tmp_path / "run", req, actor="planner:llm")


def test_function_model_scripts_a_plan_with_a_retried_bad_call(tmp_path, tiny_model):
    seen = []

    def plan(messages, info: AgentInfo) -> ModelResponse:
        seen.append(messages)
        script = [ToolCallPart("generate_data", {"n_examples": 40}),
                  ToolCallPart("train", {"epochs": 99}),  # invalid: epochs <= 5 -> goes back as a retry
                  ToolCallPart("train", {"rank": 8}),
                  ToolCallPart("evaluate", {}),
                  ToolCallPart("decide", {}),
                  ToolCallPart(info.output_tools[0].name, {"action": "deploy", "rationale": "criteria met"})]
        return ModelResponse(parts=[script[len(seen) - 1]])

    tb = _toolbox(tmp_path, tiny_model)
    decision = LLMPlanner(FunctionModel(plan)).run(tb)
    assert decision.action == "deploy" and tb.iteration == 1 and tb.config.rank == 8
    # the validation error went back to the model as a retried tool return, naming the field
    retried = [p for m in seen[2] for p in m.parts if getattr(p, "outcome", None) == "retried"]
    assert retried and retried[0].tool_name == "train" and "epochs" in str(retried[0].content)
    ev = tb.journal.events
    assert [e["tool"] for e in ev if e["kind"] == "tool"] == ["generate_data", "train", "evaluate"]
    assert ev[-1]["kind"] == "verdict" and ev[-1]["decision"] == "deploy"


def test_garbage_model_falls_back_to_the_playbook(tmp_path, tiny_model):
    def garbage(messages, info):
        return ModelResponse(parts=[ToolCallPart("train", {"epochs": "lots", "colour": "blue"})])

    tb = _toolbox(tmp_path, tiny_model)
    decision = LLMPlanner(FunctionModel(garbage)).run(tb)
    assert decision.action == "deploy"  # the playbook finished the run
    kinds = [e["kind"] for e in tb.journal.events]
    assert "fallback" in kinds and tb.actor == "planner:playbook(fallback)"


class Endpoint(BaseHTTPRequestHandler):
    """/v1/chat/completions: the first `fail` requests get 503, then a scripted plan keyed by how
    many tool results the conversation already holds."""

    fail = 0
    requests: list = []

    def log_message(self, *a):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Endpoint.requests.append(body)
        if Endpoint.fail > 0:
            Endpoint.fail -= 1
            self.send_response(503)
            self.end_headers()
            return
        done = sum(1 for m in body["messages"] if m["role"] == "tool")
        output = next(t["function"]["name"] for t in body["tools"]
                      if t["function"]["name"] not in ("generate_data", "train", "evaluate", "export", "decide"))
        names = [t["function"]["name"] for t in body["tools"]]
        if "generate_data" not in names:  # the goal -> request call: structured output
            output = names[0]
            done = 4
        script = [("generate_data", {}), ("train", {}), ("evaluate", {}), ("decide", {}),
                  (output, {"action": "deploy", "rationale": "success and latency within the bars"}
                   if "generate_data" in names else {"goal": "tool calls", "task_type": "chat"})]
        name, args = script[min(done, len(script) - 1)]
        msg = {"role": "assistant", "content": None,
               "tool_calls": [{"id": f"call_{done}", "type": "function",
                               "function": {"name": name, "arguments": json.dumps(args)}}]}
        send_completion(self, body["model"], msg, "tool_calls")


@pytest.fixture
def endpoint(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-never-logged-123456")
    Endpoint.requests, Endpoint.fail = [], 2
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Endpoint)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/v1"
    srv.shutdown()


def test_llm_planner_over_http_with_backoff(endpoint, tiny_model):
    pydantic_ai.models.ALLOW_MODEL_REQUESTS = True
    try:
        r = runs.start("make it better at tool calls", model=tiny_model, planner="llm", base_url=endpoint,
                       llm_model="local", overrides=QUICK, run_id="t-http")
    finally:
        pydantic_ai.models.ALLOW_MODEL_REQUESTS = False
    folder = runs.run_dir("t-http")
    ev = [json.loads(line) for line in (folder / "journal.jsonl").read_text().splitlines()]
    assert r["decision"] == "deploy" and "fallback" not in [e["kind"] for e in ev]
    assert ev[1]["kind"] == "request" and ev[1]["tool"] == "goal_to_request:llm"
    assert [e["tool"] for e in ev if e["kind"] == "tool"] == ["generate_data", "train", "evaluate"]
    # two 503s were retried with backoff: the first conversation state was sent three times
    assert len(Endpoint.requests) >= 3 and Endpoint.requests[0] == Endpoint.requests[2]
    assert Endpoint.requests[0]["tools"][0]["function"]["parameters"]["type"] == "object"
    text = "".join(p.read_text() for p in folder.rglob("*.json*")) + (folder / "journal.md").read_text()
    assert "sk-test-never-logged" not in text


def test_endpoint_down_backs_off_then_playbook(tiny_model):
    pydantic_ai.models.ALLOW_MODEL_REQUESTS = True
    try:
        r = runs.start("make it better at tool calls", model=tiny_model, planner="llm",
                       base_url="http://127.0.0.1:9/v1", overrides=QUICK, run_id="t-down")
    finally:
        pydantic_ai.models.ALLOW_MODEL_REQUESTS = False
    ev = [json.loads(line) for line in (runs.run_dir("t-down") / "journal.jsonl").read_text().splitlines()]
    fb = next(e for e in ev if e["kind"] == "fallback")
    assert "playbook" in fb["rationale"] and r["decision"] == "deploy"


def test_an_llm_that_never_stops_hands_over_to_the_playbook(tmp_path, tiny_model):
    """Issue 14: pydantic-ai allowed any number of requests; the conversation is bounded by the budget."""
    from tunepilot.agent.llm_planner import request_limit

    calls = []

    def chatty(messages, info: AgentInfo) -> ModelResponse:
        calls.append(1)
        return ModelResponse(parts=[ToolCallPart("generate_data", {"n_examples": 40})])  # forever, never an answer

    tb = _toolbox(tmp_path, tiny_model)
    decision = LLMPlanner(FunctionModel(chatty)).run(tb)
    fb = next(e for e in tb.journal.events if e["kind"] == "fallback")
    assert len(calls) == request_limit(tb.request) == 12 + 10 * tb.request.budget.max_iterations
    assert "UsageLimitExceeded" in fb["rationale"] and decision.action == "deploy"
