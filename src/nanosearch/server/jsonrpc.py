"""Reading one MCP (JSON-RPC) message the way both transports need it.

The SDK reads messages with pydantic's JSON parser and catches only its own decode error:
invalid UTF-8, nesting thousands of levels deep and integers of thousands of digits reached the
HTTP transport as a 500, and over stdio a lone surrogate (``\\ud800``, which JSON escapes allow
and Python's parser accepts) got no reply at all. :func:`read_message` reads a message with
Python's parser, so what the SDK would choke on either reaches the tool's own checks (a lone
surrogate in a query is the tool's error, as in training) or is a JSON-RPC error naming it.
"""

from __future__ import annotations

import json
from typing import Any

from mcp import types
from pydantic import ValidationError

MAX_DEPTH = 64
PARSE_ERROR = -32700
INVALID_REQUEST = -32600


def json_depth(value: Any) -> int:
    """How deeply ``value`` nests arrays and objects, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            stack.extend(
                (child, depth + 1) for child in (item.values() if isinstance(item, dict) else item)
            )
    return deepest


def body_problem(body: bytes, max_depth: int = MAX_DEPTH) -> str | None:
    """Why ``body`` is not JSON the SDK can take, or None. The message starts "Parse error"."""
    try:
        message = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as error:
        return f"Parse error: the body is not UTF-8 (byte {error.start})"
    except (ValueError, RecursionError) as error:  # also integers over 4,300 digits
        return f"Parse error: {str(error)[:200] or type(error).__name__}"
    if json_depth(message) > max_depth:
        return f"Parse error: JSON nested deeper than {max_depth} levels"
    return None


def error_reply(request_id: Any, code: int, message: str) -> dict[str, Any]:
    """A JSON-RPC error; ``request_id`` is the request's id when it had a usable one, else
    null, as JSON-RPC asks (the SDK's own error type cannot carry a null id)."""
    usable = isinstance(request_id, str) or (
        isinstance(request_id, int) and not isinstance(request_id, bool)
    )
    return {
        "jsonrpc": "2.0",
        "id": request_id if usable else None,
        "error": {"code": code, "message": message},
    }


def read_message(line: bytes) -> tuple[types.JSONRPCMessage | None, dict[str, Any] | None]:
    """``(message, None)`` for a message to hand the server, ``(None, reply)`` for one to
    answer at once with an error, ``(None, None)`` for a blank line."""
    if not line.strip():
        return None, None
    problem = body_problem(line)
    if problem is not None:
        return None, error_reply(None, PARSE_ERROR, problem)
    value = json.loads(line)
    try:
        return types.JSONRPCMessage.model_validate(value), None
    except ValidationError as error:
        request_id = value.get("id") if isinstance(value, dict) else None
        detail = error.errors()[0]["msg"] if error.errors() else str(error)
        return None, error_reply(
            request_id, INVALID_REQUEST, f"Invalid request: not a JSON-RPC message ({detail})"
        )
