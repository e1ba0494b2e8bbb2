"""The agent's text protocol: ``<think>``, ``<tool>``/``<tool_call>``, ``<answer>`` and the
environment's ``<result>``. Pure Python, no heavy imports."""

from nanosearch.protocol.episode import Episode, StopReason, ToolCall
from nanosearch.protocol.prompt import (
    FETCH,
    SEARCH_TOOLS,
    WEB_SEARCH,
    ToolSpec,
    render_result,
    system_prompt,
)
from nanosearch.protocol.turn import Element, Turn, parse_tool_body, parse_turn, split_elements

__all__ = [
    "FETCH",
    "SEARCH_TOOLS",
    "WEB_SEARCH",
    "Element",
    "Episode",
    "StopReason",
    "ToolCall",
    "ToolSpec",
    "Turn",
    "parse_tool_body",
    "parse_turn",
    "render_result",
    "split_elements",
    "system_prompt",
]
