"""What the environment writes: the system prompt that teaches the tags, and ``<result>`` turns."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Protocol

RESULT_CHARS = 4000


class DescribedTool(Protocol):
    """A tool as the model is told about it (``nanosearch.tools.ToolSpec``)."""

    def to_dict(self) -> dict[str, Any]: ...


def system_prompt(tools: Sequence[DescribedTool]) -> str:
    """The minimal system prompt of the report: the tool list and the tag rules."""
    listing = "\n".join(json.dumps(tool.to_dict(), ensure_ascii=False) for tool in tools)
    return (
        "Answer the question. You can use these tools:\n"
        f"{listing}\n\n"
        'To call a tool, write only <tool>{"name": TOOL, "arguments": {...}}</tool> and stop; '
        "its output comes back in <result></result>. Call one tool per turn. "
        "When you know the answer, write it as <answer>short answer</answer> and stop."
    )


def render_result(content: str, max_chars: int = RESULT_CHARS) -> str:
    """A tool's output (or an error message for the model) as the environment's turn."""
    if len(content) > max_chars:
        content = content[:max_chars] + f"\n[output cut at {max_chars} characters]"
    return f"<result>\n{content}\n</result>"


def result_content(rendered: str) -> str:
    """The text inside an environment turn :func:`render_result` wrote."""
    return rendered.removeprefix("<result>\n").removesuffix("\n</result>")
