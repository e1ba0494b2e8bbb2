"""What the environment writes, in either of the two tool protocols: the system prompt, the
tools the chat template lists, and the turns that carry tool results.

- ``xml`` (the report's): the system prompt lists the tools and teaches ``<tool>`` calls;
  results come back as ``<result>`` blocks in a user turn.
- ``hermes`` (Qwen's native tool calling, what vLLM's hermes parser, LangGraph and MCP clients
  use): the tools go to the chat template as ``tools=``, which teaches ``<tool_call>`` blocks;
  results come back as ``tool`` messages (``<tool_response>`` in Qwen's template).

Both end an episode with ``<answer>``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

RESULT_CHARS = 4000
ProtocolName = Literal["xml", "hermes"]


class DescribedTool(Protocol):
    """A tool as the model is told about it (``nanosearch.tools.ToolSpec``)."""

    def to_dict(self) -> dict[str, Any]: ...


ANSWER_RULE = "When you know the answer, write it as <answer>short answer</answer> and stop."


def system_prompt(tools: Sequence[DescribedTool]) -> str:
    """The minimal system prompt of the report: the tool list and the tag rules."""
    listing = "\n".join(json.dumps(tool.to_dict(), ensure_ascii=False) for tool in tools)
    return (
        "Answer the question. You can use these tools:\n"
        f"{listing}\n\n"
        'To call a tool, write only <tool>{"name": TOOL, "arguments": {...}}</tool> and stop; '
        "its output comes back in <result></result>. Call one tool per turn. " + ANSWER_RULE
    )


def cut_result(content: str, max_chars: int = RESULT_CHARS) -> str:
    """A tool's output cut at ``max_chars``, saying so."""
    if len(content) > max_chars:
        return content[:max_chars] + f"\n[output cut at {max_chars} characters]"
    return content


def render_result(content: str, max_chars: int = RESULT_CHARS) -> str:
    """A tool's output (or an error message for the model) as the environment's turn."""
    return f"<result>\n{cut_result(content, max_chars)}\n</result>"


def result_content(rendered: str) -> str:
    """The text inside an environment turn :func:`render_result` wrote."""
    return rendered.removeprefix("<result>\n").removesuffix("\n</result>")


@dataclass(frozen=True, slots=True)
class ToolProtocol:
    """How one protocol shows the tools to the model and gives it their results.
    ``result_role`` is the chat role the result turn is framed as by the chat template."""

    name: ProtocolName
    call_tag: str
    result_role: Literal["user", "tool"]

    def system(self, tools: Sequence[DescribedTool]) -> str:
        if self.name == "xml":
            return system_prompt(tools)
        return "Answer the question. Call one tool per turn. " + ANSWER_RULE

    def template_tools(self, tools: Sequence[DescribedTool]) -> list[dict[str, Any]]:
        """The ``tools=`` the chat template lists (OpenAI's function schema); none for xml,
        whose system prompt lists them."""
        if self.name == "xml":
            return []
        return [{"type": "function", "function": tool.to_dict()} for tool in tools]

    def result(self, content: str, max_chars: int = RESULT_CHARS) -> str:
        """The content of the environment's turn for a tool's output."""
        return (
            render_result(content, max_chars)
            if self.name == "xml"
            else cut_result(content, max_chars)
        )

    def invalid_hint(self) -> str:
        """What a turn that is neither a tool call nor an answer is told."""
        return (
            f'Call one tool as <{self.call_tag}>{{"name": ..., "arguments": {{...}}}}'
            f"</{self.call_tag}>, or give the final answer as <answer>...</answer>."
        )


PROTOCOLS: dict[str, ToolProtocol] = {
    "xml": ToolProtocol("xml", "tool", "user"),
    "hermes": ToolProtocol("hermes", "tool_call", "tool"),
}


def tool_protocol(name: str) -> ToolProtocol:
    """The protocol called ``name``, or a ValueError naming the choices."""
    if name not in PROTOCOLS:
        raise ValueError(f"unknown tool protocol {name!r}: use {' or '.join(PROTOCOLS)}")
    return PROTOCOLS[name]
