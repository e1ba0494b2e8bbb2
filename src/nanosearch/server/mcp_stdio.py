"""The MCP server over stdio, answering every request it receives.

The SDK's stdio transport drops a line it cannot validate after logging an internal error, so a
client waits forever for that request's reply. This transport reads each line with
:func:`~nanosearch.server.jsonrpc.read_message`: a message is handed to the server, anything
else is answered at once with a JSON-RPC error carrying the request's id when it has one.
"""

from __future__ import annotations

import json
import sys
from io import TextIOWrapper
from typing import Any

import anyio
from mcp.server.lowlevel import Server
from mcp.shared.message import SessionMessage

from nanosearch.server.jsonrpc import read_message


async def serve_stdio(server: Server[Any, Any]) -> None:
    """Run ``server`` on this process's stdin and stdout until stdin closes."""
    stdin = anyio.wrap_file(sys.stdin.buffer)
    stdout = anyio.wrap_file(TextIOWrapper(sys.stdout.buffer, encoding="utf-8"))
    to_server, from_client = anyio.create_memory_object_stream[SessionMessage | Exception](0)
    to_client, from_server = anyio.create_memory_object_stream[SessionMessage](0)
    writing = anyio.Lock()

    async def write(text: str) -> None:
        async with writing:
            await stdout.write(text + "\n")
            await stdout.flush()

    async def read_client() -> None:
        async with to_server:
            async for line in stdin:
                message, error = read_message(line)
                if message is not None:
                    await to_server.send(SessionMessage(message))
                elif error is not None:
                    await write(json.dumps(error))

    async def write_client() -> None:
        async with from_server:
            async for outgoing in from_server:
                await write(outgoing.message.model_dump_json(by_alias=True, exclude_none=True))

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(read_client)
        tasks.start_soon(write_client)
        await server.run(from_client, to_client, server.create_initialization_options())
        tasks.cancel_scope.cancel()
