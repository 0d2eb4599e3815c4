"""The LLM planner: a pydantic-ai agent driving the same typed tools as the playbook.

    tunepilot run "GOAL" --planner llm --base-url http://127.0.0.1:8080/v1 --llm-model qwen2.5
    # key from $OPENAI_API_KEY (or --api-key-env NAME); OpenAI, vLLM, Ollama, llama.cpp server all work

Transient HTTP errors (connection refused, 429, 5xx) retry with tenacity exponential backoff;
invalid tool arguments go back to the model as a retry prompt (pydantic-ai); a model that keeps
failing, or an endpoint that stays down, hands the run to the playbook planner, which continues
from the toolbox's state, and the journal says so. The model cannot exceed the budget (the toolbox
refuses) nor deploy on its own: the criteria decide, and deploying needs a person's approval.
"""

from __future__ import annotations

import os
from typing import Literal

from pydantic import BaseModel
from pydantic_ai import Agent, ModelRetry, RunContext
from pydantic_ai.usage import UsageLimits

from tunepilot.agent.planner import PlaybookPlanner
from tunepilot.agent.schemas import Decision
from tunepilot.agent.records import (
    BudgetExceeded,
    DataArgs,
    DataSummary,
    EvalArgs,
    EvalSummary,
    ExportArgs,
    ExportSummary,
    Stopped,
    TrainArgs,
    TrainSummary,
)
from tunepilot.agent.toolbox import Toolbox
from tunepilot.paths import prompts_dir
from tunepilot.redact import clip


class PlannerVerdict(BaseModel):
    """The planner's final word: what it concluded and why (the criteria still decide)."""

    action: Literal["deploy", "iterate", "abort"]
    rationale: str


def openai_model(base_url: str | None, model_name: str, api_key_env: str = "OPENAI_API_KEY", attempts: int = 4,
                 max_wait_s: float = 8.0):
    """An OpenAIChatModel on any OpenAI-compatible endpoint, its HTTP transport retrying transient
    failures with tenacity backoff (the openai client's own retries are off, so one policy rules)."""
    import httpx2
    from openai import AsyncOpenAI
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider
    from pydantic_ai.retries import AsyncHTTPX2TenacityTransport, RetryConfig
    from tenacity import retry_if_exception, stop_after_attempt, wait_exponential

    def transient(e: BaseException) -> bool:
        if isinstance(e, httpx2.HTTPStatusError):
            return e.response.status_code in (408, 409, 429) or e.response.status_code >= 500
        return isinstance(e, (httpx2.TransportError,))

    def check(r):
        if r.status_code in (408, 409, 429) or r.status_code >= 500:
            r.raise_for_status()

    transport = AsyncHTTPX2TenacityTransport(
        RetryConfig(retry=retry_if_exception(transient), wait=wait_exponential(multiplier=0.5, max=max_wait_s),
                    stop=stop_after_attempt(attempts), reraise=True), validate_response=check)
    client = AsyncOpenAI(base_url=base_url, api_key=os.environ.get(api_key_env) or "not-set", max_retries=0,
                         http_client=httpx2.AsyncClient(transport=transport, timeout=120))
    return OpenAIChatModel(model_name, provider=OpenAIProvider(openai_client=client))


def build_agent(model):
    agent = Agent(model, deps_type=Toolbox, output_type=PlannerVerdict, retries=3,
                  instructions=(prompts_dir() / "planner.md").read_text())

    def _guard(fn, *a):
        try:
            return fn(*a)
        except BudgetExceeded as e:  # tell the model, it must wrap up
            raise ModelRetry(f"refused: {e}. Call decide and give your final verdict.") from e

    @agent.tool
    def generate_data(ctx: RunContext[Toolbox], args: DataArgs) -> DataSummary:
        """Generate the synthetic agentic tool-use dataset (80/10/10 split). Call once first;
        again with a larger n_examples only to add data."""
        return _guard(ctx.deps.generate_data, args)

    @agent.tool
    def train(ctx: RunContext[Toolbox], args: TrainArgs) -> TrainSummary:
        """Train one iteration (LoRA/QLoRA as requested) with the current config plus these changes.
        Each call is one iteration of the budget. Returns losses, throughput, memory and
        underfit/overfit signals."""
        return _guard(ctx.deps.train, args)

    @agent.tool
    def evaluate(ctx: RunContext[Toolbox], args: EvalArgs) -> EvalSummary:
        """Evaluate the latest adapter on the held-out test split; the first call also scores the
        base model. Returns success, latency, memory, per-role success and failure kinds."""
        return _guard(ctx.deps.evaluate, args)

    @agent.tool
    def export(ctx: RunContext[Toolbox], args: ExportArgs) -> ExportSummary:
        """Export the latest evaluated adapter for deployment: merge, GGUF, quant ladder
        Q4_K_M -> Q5_K_M -> Q8_0 verified in llama.cpp. decide exports by itself when needed and
        then judges the exported model (what would be deployed)."""
        return _guard(ctx.deps.export, args)

    @agent.tool
    def decide(ctx: RunContext[Toolbox]) -> Decision:
        """Apply the deploy / iterate / abort criteria to the latest evaluation."""
        return _guard(ctx.deps.decide)

    return agent


def request_limit(request) -> int:
    """Model requests one planning conversation may make: a handful per allowed iteration."""
    return 12 + 10 * request.budget.max_iterations


class LLMPlanner:
    name = "llm"

    def __init__(self, model, fallback=None):
        self.model = model
        self.fallback = fallback or PlaybookPlanner()

    def run(self, tb: Toolbox) -> Decision:
        agent = build_agent(self.model)
        goal = (f"Goal: {tb.request.goal}\nCriteria: {tb.request.criteria.model_dump()}\n"
                f"Budget: {tb.request.budget.model_dump()}\nStarting config: {tb.config.model_dump(exclude_none=True)}")
        try:  # a bounded conversation: an LLM that keeps calling tools hands over to the playbook
            result = agent.run_sync(goal, deps=tb, usage_limits=UsageLimits(request_limit=request_limit(tb.request)))
        except Stopped:
            raise  # a rejection: no planner continues
        except Exception as e:  # noqa: BLE001 - any model failure hands over to the playbook
            tb.journal.log(tb.actor, "fallback", rationale=f"LLM planner failed ({type(e).__name__}: "
                           f"{clip(e, 300)}); the playbook planner continues from the current state")
            tb.actor = "planner:playbook(fallback)"
            return self.fallback.run(tb)
        verdict = result.output
        final = tb.state.decided
        if final is None:
            tb.journal.log(tb.actor, "note", rationale="the LLM finished without a decision on the latest "
                           "iteration; the criteria decide")
            if tb.trained is None:
                tb.actor = "planner:playbook(fallback)"
                return self.fallback.run(tb)
            if tb.evaluated is None or tb.evaluated.iteration != tb.iteration:
                tb.evaluate(EvalArgs())
            final = tb.decide()
        agree = verdict.action == final.action
        tb.journal.log(tb.actor, "verdict", decision=final.action, output={"llm_action": verdict.action},
                       rationale=verdict.rationale if agree else
                       f"LLM said {verdict.action} ({verdict.rationale}); the criteria say {final.action}, which stands")
        return final
