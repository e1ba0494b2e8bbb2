"""The MCP server: the tools of ``nanosearch.tools`` over the local index or a web search API,
optionally with Jan's names for them (``google_search``, ``scrape``), so a model tuned on those
calls them unchanged.

FastMCP would derive each tool's schema from a Python signature and check arguments with
pydantic, which coerces (``"5"`` becomes 5) and words errors its own way. Here the listed
schemas, the argument checks and the error texts are those of ``nanosearch.tools``, the very
ones the training environment uses; FastMCP still provides the transports (stdio, streamable
HTTP) and the SDK's DNS-rebinding protection.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import anyio
from mcp.server.fastmcp import FastMCP
from mcp.server.fastmcp.exceptions import ToolError
from mcp.types import TextContent
from mcp.types import Tool as McpTool

from nanosearch.errors import NanosearchError
from nanosearch.search import SearchEngine, load
from nanosearch.tools import BatchingTools, ServerLimits, ToolRequest, tool_set, tools_over
from nanosearch.tools.web import BACKENDS, WebSearch, search_api

LOOPBACK = ("127.0.0.1", "localhost", "::1")


class SearchMcp(FastMCP):
    """FastMCP whose tools are a :class:`~nanosearch.tools.BatchingTools`."""

    def __init__(self, tools: BatchingTools, **settings: Any) -> None:
        super().__init__("nanosearch", **settings)
        self.search_tools = tools

    async def list_tools(self) -> list[McpTool]:  # type: ignore[override]
        return [
            McpTool(name=spec.name, description=spec.description, inputSchema=spec.parameters)
            for spec in self.search_tools.specs
        ]

    async def call_tool(  # type: ignore[override]
        self, name: str, arguments: dict[str, Any]
    ) -> Sequence[TextContent]:
        """One call, run as the environment runs it; a failure is the tool's error (an MCP
        result with ``isError``) carrying the same message the environment gives the model."""
        request = ToolRequest(
            name, arguments, self.search_tools.limits.result_chars, self.session_key()
        )
        (result,) = await anyio.to_thread.run_sync(self.search_tools.run, [request])
        if not result.ok:
            raise ToolError(result.error or result.content)
        return [TextContent(type="text", text=result.content)]

    async def run_stdio_async(self) -> None:
        """Over stdio through :func:`~nanosearch.server.mcp_stdio.serve_stdio`, which answers
        every request (the SDK's transport leaves some unanswered)."""
        from nanosearch.server.mcp_stdio import serve_stdio

        await serve_stdio(self._mcp_server)

    def session_key(self) -> str:
        """The calling client's MCP session: on the web, its fetches read only the pages its
        own searches returned."""
        try:
            return f"mcp-{id(self.get_context().session)}"
        except (LookupError, ValueError):
            return "mcp"


def create_mcp_server(
    source: SearchEngine | WebSearch,
    limits: ServerLimits | None = None,
    *,
    jan_aliases: bool = False,
    host: str = "127.0.0.1",
) -> FastMCP:
    """An MCP server over an index or the web. ``host`` is where it will be reached over HTTP:
    on loopback the SDK's DNS-rebinding protection stays on."""
    tools = tools_over(source, limits or ServerLimits(), tool_set(jan_aliases))
    where = (
        f"the web (through {source.name})"
        if isinstance(source, WebSearch)
        else "a local document collection"
    )
    return SearchMcp(
        tools,
        instructions=(
            f"Search {where} with web_search, then read a result in full "
            "with fetch, using the id the search printed."
        ),
        host=host if host in LOOPBACK else "0.0.0.0",
        streamable_http_path="/mcp",
        log_level="WARNING",
    )


def open_source(
    index: str | None, backend: str = "local", backend_url: str | None = None
) -> SearchEngine | WebSearch:
    """What the tools search: the index at ``index`` (``backend="local"``), or a web search API
    (its key from the environment, at ``backend_url`` or its public address)."""
    if backend not in BACKENDS:
        raise NanosearchError(f"--backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    if backend == "local":
        if index is None:
            raise NanosearchError("give --index DIR, or a web backend with --backend")
        if backend_url is not None:
            raise NanosearchError("--backend-url is for a web backend, not the local index")
        return load(index)
    if index is not None:
        raise NanosearchError(f"--index is for the local backend, not {backend}")
    return WebSearch(search_api(backend, backend_url))
