"""What every agent runtime returns for one question, in one shape, whatever framework ran it:
the prediction, the trajectory (every model turn, tool call and result) and its costs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from nanosearch.protocol import StopReason, strip_thinking


@dataclass(slots=True)
class AgentRun:
    prediction: str | None = None
    trajectory: list[dict[str, Any]] = field(default_factory=list)
    turns: int = 0
    tool_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    stop: StopReason = "max_turns"

    def model_turn(
        self, content: str, tool_calls: list[dict[str, Any]] | None = None, tokens: tuple = (0, 0)
    ) -> None:
        self.turns += 1
        self.prompt_tokens += tokens[0]
        self.completion_tokens += tokens[1]
        step: dict[str, Any] = {"type": "model", "content": content}
        if tool_calls:
            step["tool_calls"] = tool_calls
        self.trajectory.append(step)

    def tool_result(self, name: str, arguments: Any, ok: bool, content: str) -> None:
        self.tool_calls += 1
        self.trajectory.append(
            {"type": "tool", "name": name, "arguments": arguments, "ok": ok, "content": content}
        )

    def note(self, message: str) -> None:
        """Feedback the runtime gave the model that is not a tool's output (a parse error)."""
        self.trajectory.append({"type": "feedback", "content": message})

    def finish(self, prediction: str | None, stop: StopReason) -> AgentRun:
        self.prediction = strip_thinking(prediction) if prediction is not None else None
        self.stop = stop
        return self

    def costs(self) -> dict[str, Any]:
        return {
            "turns": self.turns,
            "tool_calls": self.tool_calls,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "tokens": self.prompt_tokens + self.completion_tokens,
            "stop": self.stop,
        }


def text_of(content: Any) -> str:
    """Message content as text: frameworks pass a string or a list of typed parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text", "") if isinstance(p, dict) else str(p) for p in content]
        return "\n".join(part for part in parts if part)
    return "" if content is None else str(content)


class Agent(Protocol):
    name: str

    def solve(self, question: str) -> AgentRun:
        """Answer one question; safe to call from several threads at once."""
        ...

    def close(self) -> None: ...
