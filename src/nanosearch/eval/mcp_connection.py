"""One MCP client session to our search server, for a whole evaluation run.

The server is launched over stdio on an index (``nanosearch mcp --index DIR``), or reached at
the URL of a running one (streamable HTTP). The session lives on its own event loop in a
background thread, so agents running in worker threads call tools concurrently through it, and
async frameworks (LangGraph) run their coroutines on the same loop.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from collections.abc import Coroutine
from contextlib import AsyncExitStack, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from nanosearch.errors import NanosearchError
from nanosearch.protocol import RESULT_CHARS
from nanosearch.tools import ToolRequest, ToolResult, ToolSpec

T = TypeVar("T")
CONNECT_SECONDS = 120.0


@dataclass(frozen=True, slots=True)
class McpTarget:
    """Where the search tools are: an index or a web backend to serve over stdio, or a
    server's MCP URL."""

    index: Path | None = None
    url: str | None = None
    api_key: str | None = None
    result_chars: int = RESULT_CHARS
    """The result cut a launched server fits its replies to (a server at ``url`` has its own)."""
    backend: str = "local"
    """``local`` (the index), or a web search API the launched server searches."""
    backend_url: str | None = None

    def __post_init__(self) -> None:
        given = [self.index is not None, self.url is not None, self.backend != "local"]
        if sum(given) != 1:
            raise NanosearchError(
                "give one of: an index directory (stdio), a web backend (stdio), or an MCP URL"
            )

    def stdio_command(self) -> tuple[str, list[str]]:
        where = (
            ["--index", str(self.index)]
            if self.index is not None
            else ["--backend", self.backend]
            + (["--backend-url", self.backend_url] if self.backend_url else [])
        )
        return sys.executable, [
            *("-m", "nanosearch.cli", "mcp", *where),
            *("--result-chars", str(self.result_chars)),
        ]

    def auth_headers(self) -> dict[str, str] | None:
        """The bearer key of a server reached by URL: given, or ``NANOSEARCH_API_KEY``."""
        key = self.api_key or os.environ.get("NANOSEARCH_API_KEY")
        return {"Authorization": f"Bearer {key}"} if key else None

    def described(self) -> str:
        if self.index is not None:
            return f"stdio:{self.index}"
        if self.url is not None:
            return str(self.url)
        return f"stdio:web:{self.backend}" + (f"@{self.backend_url}" if self.backend_url else "")


@dataclass(frozen=True, slots=True)
class ToolOutcome:
    ok: bool
    content: str


class McpConnection:
    """``with McpConnection(target) as mcp:`` opens the session; ``mcp.call(name, args)`` from any
    thread; ``mcp.run(coro)`` runs a coroutine on the session's loop and waits for it."""

    def __init__(self, target: McpTarget) -> None:
        self.target = target
        self.session: Any = None
        self.tools: list[Any] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._stack: AsyncExitStack | None = None

    def __enter__(self) -> McpConnection:
        self._thread.start()
        try:
            self.run(self._open(), timeout=CONNECT_SECONDS)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    async def _open(self) -> None:
        from mcp import ClientSession

        self._stack = AsyncExitStack()
        try:
            read, write = await self._stack.enter_async_context(self._transport())
            self.session = await self._stack.enter_async_context(ClientSession(read, write))
            await self.session.initialize()
            self.tools = list((await self.session.list_tools()).tools)
        except Exception as error:
            await self._stack.aclose()
            raise NanosearchError(
                f"cannot open an MCP session to {self.target.described()}: {error}"
            ) from error

    def _transport(self) -> Any:
        if self.target.url is not None:
            import httpx
            from mcp.client.streamable_http import streamable_http_client

            client = httpx.AsyncClient(
                headers=self.target.auth_headers(), timeout=httpx.Timeout(60, read=300)
            )
            return _TwoStreams(streamable_http_client(self.target.url, http_client=client))
        from mcp import StdioServerParameters
        from mcp.client.stdio import stdio_client

        command, args = self.target.stdio_command()
        return stdio_client(StdioServerParameters(command=command, args=args, env=dict(os.environ)))

    def specs(self) -> tuple[ToolSpec, ...]:
        """The server's tools as the model is told about them."""
        return tuple(
            ToolSpec(tool.name, tool.description or "", dict(tool.inputSchema or {}))
            for tool in self.tools
        )

    def call(self, name: str, arguments: dict[str, Any], timeout: float = 300.0) -> ToolOutcome:
        """One tool call; a failure the model caused (unknown tool, bad arguments, unknown id)
        comes back as a failed outcome with the server's message."""
        result = self.run(self.session.call_tool(name, arguments), timeout)
        text = "\n".join(
            getattr(part, "text", "") for part in result.content if getattr(part, "text", None)
        )
        return ToolOutcome(not result.isError, text)

    def close(self) -> None:
        if self._stack is not None and self._loop.is_running():
            with suppress(Exception):
                self.run(self._stack.aclose(), timeout=30)
            self._stack = None
        if self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)


class _TwoStreams:
    """The streamable HTTP client yields (read, write, get_session_id); stdio yields two."""

    def __init__(self, manager: Any) -> None:
        self.manager = manager

    async def __aenter__(self) -> tuple[Any, Any]:
        streams = await self.manager.__aenter__()
        return streams[0], streams[1]

    async def __aexit__(self, *exc: Any) -> Any:
        return await self.manager.__aexit__(*exc)


class McpTools:
    """A :class:`~nanosearch.tools.ToolClient` over an MCP session, so ``run_episodes`` calls the
    server's tools: a failed call reads ``Error: <the server's message>``, as the in-process
    tools word it. The server cuts results itself (``McpTarget.result_chars``)."""

    def __init__(self, mcp: McpConnection) -> None:
        self.mcp = mcp
        self.specs = mcp.specs()

    def run(self, requests: list[ToolRequest]) -> list[ToolResult]:
        results = []
        for request in requests:
            arguments = request.arguments if isinstance(request.arguments, dict) else {}
            outcome = self.mcp.call(request.name, arguments)
            results.append(
                ToolResult(True, outcome.content)
                if outcome.ok
                else ToolResult.failure(outcome.content)
            )
        return results
