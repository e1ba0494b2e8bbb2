"""What the environment writes: the system prompt that teaches the tags, and ``<result>`` turns."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

RESULT_CHARS = 4000


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool as the model sees it: name, description, JSON schema of its arguments."""

    name: str
    description: str
    parameters: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "parameters": self.parameters}


WEB_SEARCH = ToolSpec(
    "web_search",
    "Search the web. Returns ranked results with title, id and a snippet. "
    "Use short keyword queries, one fact per search.",
    {
        "type": "object",
        "properties": {
            "query": {"type": "string", "description": "keywords to search for"},
            "k": {"type": "integer", "description": "number of results (default 5)"},
        },
        "required": ["query"],
    },
)
FETCH = ToolSpec(
    "fetch",
    "Read the full text of a search result by its id. Long pages come in parts; "
    "the reply gives the offset of the next part.",
    {
        "type": "object",
        "properties": {
            "id": {"type": "string", "description": "the id of a search result"},
            "offset": {"type": "integer", "description": "character to start from (default 0)"},
        },
        "required": ["id"],
    },
)
SEARCH_TOOLS = (WEB_SEARCH, FETCH)


def system_prompt(tools: tuple[ToolSpec, ...] | list[ToolSpec] = SEARCH_TOOLS) -> str:
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
