"""The agent's text protocol: ``<think>``, ``<tool>``/``<tool_call>``, ``<answer>`` and the
environment's ``<result>``. Pure Python, no heavy imports."""

from nanosearch.protocol.episode import Episode, StopReason, ToolCall
from nanosearch.protocol.prompt import (
    PROTOCOLS,
    RESULT_CHARS,
    DescribedTool,
    ProtocolName,
    ToolProtocol,
    cut_result,
    render_result,
    result_content,
    system_prompt,
    tool_protocol,
)
from nanosearch.protocol.turn import Element, Turn, parse_tool_body, parse_turn, split_elements
from nanosearch.protocol.vocabulary import (
    ACTION_TAGS,
    CUT_TAGS,
    STOP_STRINGS,
    TAGS,
    strip_thinking,
)

__all__ = [
    "ACTION_TAGS",
    "CUT_TAGS",
    "PROTOCOLS",
    "RESULT_CHARS",
    "STOP_STRINGS",
    "TAGS",
    "DescribedTool",
    "Element",
    "Episode",
    "ProtocolName",
    "StopReason",
    "ToolCall",
    "ToolProtocol",
    "Turn",
    "cut_result",
    "parse_tool_body",
    "parse_turn",
    "render_result",
    "result_content",
    "split_elements",
    "strip_thinking",
    "system_prompt",
    "tool_protocol",
]
