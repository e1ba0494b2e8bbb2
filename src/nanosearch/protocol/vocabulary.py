"""The protocol's vocabulary in one place: its tags, where a model turn stops, and how thinking
is taken out of an answer (the hint a malformed turn gets is each protocol's, in ``prompt``)."""

from __future__ import annotations

import re

TAGS = ("think", "tool", "tool_call", "answer", "result")
ACTION_TAGS = frozenset({"tool", "tool_call", "answer"})
"""The tags that close a model turn: a tool call (ours or Qwen's) or the final answer."""
STOP_STRINGS = ("</tool>", "</tool_call>", "</answer>")
"""Where generation stops: the closing tag of an action."""
CUT_TAGS = ("tool_call", "tool", "answer")
"""The tags whose closing string an OpenAI-compatible endpoint leaves out of a stopped reply
(``tool_call`` first: ``<tool`` is its prefix)."""
THINK = re.compile(r"<think>.*?(</think>|$)", re.DOTALL)


def strip_thinking(text: str) -> str:
    """``text`` without its ``<think>`` blocks (an unclosed one runs to the end)."""
    return THINK.sub("", text).strip()
