"""The agent's text protocol: ``<think>``, ``<tool>``/``<tool_call>``, ``<answer>`` and the
environment's ``<result>``. Pure Python, no heavy imports."""

from nanosearch.protocol.episode import Episode, StopReason, ToolCall
from nanosearch.protocol.prompt import (
    RESULT_CHARS,
    DescribedTool,
    render_result,
    result_content,
    system_prompt,
)
from nanosearch.protocol.turn import Element, Turn, parse_tool_body, parse_turn, split_elements
from nanosearch.protocol.vocabulary import (
    ACTION_TAGS,
    CUT_TAGS,
    INVALID_HINT,
    STOP_STRINGS,
    TAGS,
    strip_thinking,
)

__all__ = [
    "ACTION_TAGS",
    "CUT_TAGS",
    "INVALID_HINT",
    "RESULT_CHARS",
    "STOP_STRINGS",
    "TAGS",
    "DescribedTool",
    "Element",
    "Episode",
    "StopReason",
    "ToolCall",
    "Turn",
    "parse_tool_body",
    "parse_turn",
    "render_result",
    "result_content",
    "split_elements",
    "strip_thinking",
    "system_prompt",
]
