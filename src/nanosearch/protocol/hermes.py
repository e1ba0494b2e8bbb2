"""Qwen3's native (hermes-style) tool calls in model text, read the way an OpenAI-compatible
server reads them: ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>`` blocks become
the reply's ``tool_calls``; the text before the first block is its content."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from nanosearch.protocol.turn import MAX_TURN_CHARS, parse_tool_body

OPEN, CLOSE = "<tool_call>", "</tool_call>"


@dataclass(frozen=True, slots=True)
class HermesCall:
    name: str
    arguments: dict[str, Any]


def tool_call_bodies(text: str) -> Iterator[str]:
    """The bodies of the complete ``<tool_call>…</tool_call>`` blocks, in one left-to-right
    pass (a block left open ends the search: no later block can close)."""
    position = 0
    while (start := text.find(OPEN, position)) != -1:
        end = text.find(CLOSE, start + len(OPEN))
        if end == -1:
            return
        yield text[start + len(OPEN) : end].strip()
        position = end + len(CLOSE)


def parse_hermes(text: str) -> tuple[str, list[HermesCall]]:
    """``(content, calls)``. A block whose body is not a JSON object with a string ``name`` and
    object ``arguments`` (read by the ``<tool>`` protocol's own body parser) is no call: the
    whole text is then returned as content, so nothing the model wrote is lost. So is a text
    over ``MAX_TURN_CHARS``. Never raises; linear in the text's length."""
    if len(text) > MAX_TURN_CHARS:
        return text, []
    calls = []
    for body in tool_call_bodies(text):
        name, arguments, error = parse_tool_body(body)
        if error is not None or name is None:
            return text, []
        calls.append(HermesCall(name, arguments))
    if not calls:
        return text, []
    return text[: text.index(OPEN)].strip(), calls
