"""The journal's event kinds, typed: one pydantic union discriminated by `kind`.

Every line of journal.jsonl parses into one of these (agent/journal.py refuses to write anything
else and moves unreadable lines aside); agent/state.py folds them into the run state. The kinds
whose payload a decision depends on (goal, decision, finished, approval, rejection, deployed,
iterate) have typed payloads; tool events carry the tool's typed summary (agent/records.py), which
the state validates per tool.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seq: int = Field(ge=1)
    time: str
    actor: str
    tool: str | None = None
    input: Any = None
    output: Any = None
    decision: str | None = None
    rationale: str | None = None


class GoalInput(BaseModel):
    """What the person typed and chose: enough to rebuild the request and the planner on resume."""

    model_config = ConfigDict(extra="ignore")

    goal: str = Field(max_length=20_000)
    model: str | None = Field(None, max_length=1024)
    planner: Literal["playbook", "llm"] = "playbook"
    base_url: str | None = Field(None, max_length=2048, pattern=r"^https?://\S+$")  # never with user:pw@ (check_goal)
    llm_model: str = Field("gpt-4o-mini", max_length=256)
    api_key_env: str = Field("OPENAI_API_KEY", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")  # the *name* of the
    # variable holding the key, never the key
    overrides: dict = {}


class Goal(_Event):
    kind: Literal["goal"]
    input: GoalInput


class DecisionOutput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    metrics: dict
    reasons: list[str]
    failing: list[str] = []  # criteria names: success, latency, memory, regression, template
    next_step: str | None = None  # iterate: what the playbook does next; abort: alternatives; deploy: approve
    iteration: int | None = None
    evidence: dict[str, str] = {}  # artifact path -> sha256 of what was judged (approve checks them)
    adapter: str | None = None
    export: dict | None = None  # the ExportSummary judged, when the decision was on the exported GGUF


class DecisionEvent(_Event):
    kind: Literal["decision"]
    decision: Literal["deploy", "iterate", "abort"]
    output: DecisionOutput


class FinishedOutput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    status: str
    iterations: int
    elapsed_s: float


class Finished(_Event):
    kind: Literal["finished"]
    decision: Literal["deploy", "iterate", "abort"] | None = None  # None: stopped before any decision (rejected)
    output: FinishedOutput


class ApprovalOutput(BaseModel):
    bundle: str
    evidence: dict[str, str]  # the artifacts checked against the decision's hashes, then bundled


class Approval(_Event):
    kind: Literal["approval"]
    decision: Literal["deploy"]
    output: ApprovalOutput


class Rejection(_Event):
    kind: Literal["rejection"]
    decision: Literal["reject"]
    rationale: str


class IterateEvent(_Event):
    kind: Literal["iterate"]
    input: dict  # {"rule": id}
    output: dict  # field -> {"from", "to"}


class Other(_Event):
    kind: Literal["request", "memory", "machine", "tool_start", "tool", "plan", "refused", "diagnosis", "recover",
                  "note", "stop", "resumed", "recovered", "fallback", "verdict", "deployed", "deploy_failed"]


Event = Annotated[Union[Goal, DecisionEvent, Finished, Approval, Rejection, IterateEvent, Other],
                  Field(discriminator="kind")]
_ADAPTER = TypeAdapter(Event)


def parse_event(obj: dict) -> BaseModel:
    """One journal line as its typed event; ValueError (pydantic's ValidationError) when it is not one."""
    if not isinstance(obj, dict):
        raise ValueError(f"a journal line must be a JSON object, not {type(obj).__name__}")
    return _ADAPTER.validate_python(obj)
