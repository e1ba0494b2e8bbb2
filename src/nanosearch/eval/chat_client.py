"""The model under evaluation, as any OpenAI-compatible chat endpoint sees it: how to reach it
and how to sample from it. Every runtime (native, LangGraph, smolagents) is built from one
:class:`ChatSettings`, so a run's settings are the same whichever agent drives the model."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from nanosearch.env import Generation, GenerationRequest
from nanosearch.errors import NanosearchError
from nanosearch.http_client import json_client, post_json
from nanosearch.protocol import CUT_TAGS, STOP_STRINGS

CONTEXT_WORDS = ("context length", "context window", "maximum context", "too long")


@dataclass(frozen=True, slots=True)
class ChatSettings:
    """``thinking`` goes to the chat template as ``enable_thinking``; None sends nothing, for
    hosted APIs that refuse unknown fields."""

    base_url: str
    model: str
    api_key: str | None = None
    temperature: float = 0.7
    top_p: float = 0.8
    max_tokens: int = 1024
    thinking: bool | None = False
    timeout: float = 300.0
    retries: int = 4

    def extra_body(self) -> dict[str, Any]:
        if self.thinking is None:
            return {}
        return {"chat_template_kwargs": {"enable_thinking": self.thinking}}

    def described(self) -> dict[str, Any]:
        """The settings as a run records them (the key is never written)."""
        return {key: value for key, value in asdict(self).items() if key != "api_key"}


class ContextOverflowError(NanosearchError):
    """The endpoint refused a request for being longer than the model's context."""


def is_context_overflow(message: str) -> bool:
    """Whether an endpoint's refusal says the prompt is beyond the model's context (vLLM,
    llama.cpp and OpenAI word it differently)."""
    lowered = message.lower()
    return any(words in lowered for words in CONTEXT_WORDS)


@dataclass(frozen=True, slots=True)
class ChatReply:
    content: str
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    finish_reason: str = "stop"
    prompt_tokens: int = 0
    completion_tokens: int = 0


class ChatEndpoint:
    """``POST {base_url}/chat/completions`` with retries on transient errors."""

    def __init__(self, settings: ChatSettings) -> None:
        self.settings = settings
        self._http = json_client(settings.base_url, settings.api_key, settings.timeout)

    def complete(
        self,
        messages: list[dict[str, Any]],
        stop: list[str] | None = None,
        max_tokens: int | None = None,
        tools: list[dict[str, Any]] | None = None,
    ) -> ChatReply:
        """One reply; at most ``max_tokens`` tokens (and never more than the settings allow).
        ``tools`` reach the chat template with ``tool_choice: none``: the model's tool calls
        stay in its text, for the caller to read as training read them."""
        s = self.settings
        body: dict[str, Any] = {
            "model": s.model,
            "messages": messages,
            "temperature": s.temperature,
            "top_p": s.top_p,
            "max_tokens": min(s.max_tokens, max_tokens) if max_tokens else s.max_tokens,
            **s.extra_body(),
        }
        if stop:
            body["stop"] = stop
        if tools:
            body["tools"] = tools
            body["tool_choice"] = "none"
        try:
            reply = post_json(self._http, "/chat/completions", body, retries=s.retries)
        except NanosearchError as error:
            if "answered 400" in str(error) and is_context_overflow(str(error)):
                raise ContextOverflowError(str(error)) from None
            raise
        try:
            choice = reply["choices"][0]
            message = choice.get("message") or {}
        except (KeyError, IndexError, TypeError):
            raise NanosearchError(
                f"{s.base_url} answered without choices: {str(reply)[:200]}"
            ) from None
        usage = reply.get("usage") or {}
        content = as_written(message)
        if stop and choice.get("finish_reason") == "stop":
            content = close_cut_tag(content)
        return ChatReply(
            content,
            list(message.get("tool_calls") or []),
            str(choice.get("finish_reason") or "stop"),
            int(usage.get("prompt_tokens") or 0),
            int(usage.get("completion_tokens") or 0),
        )

    def close(self) -> None:
        self._http.close()


def as_written(message: dict[str, Any]) -> str:
    """The reply's text as the model wrote it. An endpoint with a reasoning parser (vLLM's
    ``--reasoning-parser``) hands the think block back apart, as ``reasoning_content`` or
    ``reasoning``; the episode keeps it in the turn, as training played it, so the next request
    sends it back and the episode template renders it where the model wrote it."""
    content = message.get("content") or ""
    reasoning = message.get("reasoning_content") or message.get("reasoning") or ""
    if not isinstance(reasoning, str) or not reasoning.strip() or "</think>" in content:
        return content
    thought, answer = reasoning.strip("\n"), content.lstrip("\n")
    return f"<think>\n{thought}\n</think>\n\n{answer}"


def close_cut_tag(text: str) -> str:
    """Put back the closing tag a stop string cut off: OpenAI-compatible endpoints leave the
    matched stop string out of the reply, and the protocol's parser wants the tag closed."""
    for tag in CUT_TAGS:
        opened = [m.end() for m in re.finditer(f"<{tag}>", text)]
        if opened and f"</{tag}>" not in text[opened[-1] :]:
            return text.rstrip() + f"</{tag}>"
    return text


class ChatPolicy:
    """A :class:`~nanosearch.env.Policy` over a chat endpoint, for ``run_episodes`` without a
    tokenizer: each turn sends the episode's messages framed as training framed them (in the
    xml protocol the environment's turns as user turns; in hermes as ``tool`` messages, with the
    tools for the chat template) and stops at the protocol's stop strings. The endpoint's token
    counts come back as the turn's usage; a refusal for length ends the episode on its budget."""

    def __init__(self, settings: ChatSettings) -> None:
        self.endpoint = ChatEndpoint(settings)

    def generate(self, requests: list[GenerationRequest]) -> list[Generation]:
        return [self._one(request) for request in requests]

    def _one(self, request: GenerationRequest) -> Generation:
        messages = [
            _as_sent(m, turn, bool(request.tools)) for turn, m in enumerate(request.messages)
        ]
        try:
            reply = self.endpoint.complete(
                messages,
                stop=list(STOP_STRINGS),
                max_tokens=request.max_new_tokens,
                tools=list(request.tools),
            )
        except ContextOverflowError:
            return Generation([], "", "context")
        finish = "length" if reply.finish_reason == "length" else "stop"
        return Generation(
            [], reply.content, finish, usage=(reply.prompt_tokens, reply.completion_tokens)
        )

    def close(self) -> None:
        self.endpoint.close()


def _as_sent(message: dict[str, str], position: int, tool_role: bool) -> dict[str, str]:
    """One message of the episode as the endpoint gets it: a tool result is a ``tool`` message
    (with an id, which OpenAI's schema requires and Qwen's template ignores) or a user turn."""
    if message["role"] != "tool":
        return {"role": message["role"], "content": message["content"]}
    if not tool_role:
        return {"role": "user", "content": message["content"]}
    return {"role": "tool", "content": message["content"], "tool_call_id": f"call_{position}"}
