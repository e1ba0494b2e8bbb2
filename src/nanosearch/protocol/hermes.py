"""Qwen3's native (hermes-style) tool calls in model text, read the way an OpenAI-compatible
server reads them: ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>`` blocks become
the reply's ``tool_calls``; the text before the first block is its content."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

TOOL_CALL = re.compile(r"<tool_call>\s*(.*?)\s*</tool_call>", re.DOTALL)


@dataclass(frozen=True, slots=True)
class HermesCall:
    name: str
    arguments: dict[str, Any]


def parse_hermes(text: str) -> tuple[str, list[HermesCall]]:
    """``(content, calls)``. A block whose body is not a JSON object with a string ``name`` and
    object ``arguments`` is no call: the whole text is then returned as content, so nothing the
    model wrote is lost. Never raises."""
    calls = []
    for match in TOOL_CALL.finditer(text):
        try:
            body = json.loads(match.group(1))
        except ValueError:
            return text, []
        if not isinstance(body, dict) or not isinstance(body.get("name"), str):
            return text, []
        arguments = body.get("arguments", body.get("args", {}))
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments)
            except ValueError:
                return text, []
        if not isinstance(arguments, dict):
            return text, []
        calls.append(HermesCall(body["name"], arguments))
    if not calls:
        return text, []
    return text[: text.index("<tool_call>")].strip(), calls
