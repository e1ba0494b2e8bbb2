"""The record of one finished episode: what the environment produces and the rewards read."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

StopReason = Literal["answer", "max_turns", "token_budget", "error"]


@dataclass(slots=True)
class ToolCall:
    """One tool call the model made, and whether it ran."""

    turn: int
    name: str | None
    arguments: dict[str, Any]
    ok: bool
    error: str | None = None


@dataclass(slots=True)
class Episode:
    """A multi-turn episode.

    ``messages`` is the chat (system, user, then assistant turns and the environment's
    ``<result>`` turns as ``tool`` messages). ``completion_ids`` holds every token after the
    prompt, model and environment alike, and ``completion_mask`` is 1 where the model sampled
    the token and 0 where the environment inserted it. ``completion_logprobs`` holds the
    sampler's log-prob of each completion token where the policy reported one (vLLM does), and
    None elsewhere (inserted tokens, a closing token the environment added): the trainer's
    importance-sampling correction compares them with its own.

    ``prompt_tokens`` and ``completion_tokens`` sum what the model read and wrote over its
    turns (what an endpoint bills); ``context_tokens`` is how full its context was after the
    latest turn. Without a tokenizer (a chat endpoint that frames the chat itself) the ids stay
    empty and these come from the endpoint's counts.
    """

    question: str
    messages: list[dict[str, str]] = field(default_factory=list)
    tool_calls: list[ToolCall] = field(default_factory=list)
    answer: str | None = None
    stop_reason: StopReason | None = None
    prompt_ids: list[int] = field(default_factory=list)
    completion_ids: list[int] = field(default_factory=list)
    completion_mask: list[int] = field(default_factory=list)
    completion_logprobs: list[float | None] = field(default_factory=list)
    truncated: bool = False
    prompt_tokens: int = 0
    completion_tokens: int = 0
    context_tokens: int = 0

    @property
    def model_turns(self) -> list[str]:
        return [m["content"] for m in self.messages if m["role"] == "assistant"]

    @property
    def num_model_tokens(self) -> int:
        return sum(self.completion_mask)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
