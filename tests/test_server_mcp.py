"""The MCP server through real clients: the SDK's stdio client launching ``nanosearch mcp``, the
streamable-HTTP transport at ``/mcp``, and the tools as langchain-mcp-adapters and smolagents
load them."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

from nanosearch.search import SearchEngine
from nanosearch.server.process import running_server
from nanosearch.tools import WEB_SEARCH, EngineTools, ServerLimits, ToolRequest, tool_set

RESULT_CHARS = 300


@pytest.fixture(scope="module")
def server(musique_index_dir: Path) -> Iterator[str]:
    with running_server(
        musique_index_dir, "--jan-aliases", "--result-chars", str(RESULT_CHARS)
    ) as base:
        yield base


def text_of(result: Any) -> str:
    return "\n".join(item.text for item in result.content)


async def exercise(session: ClientSession, engine: SearchEngine) -> None:
    """What every transport must do: list the tools, search, page through a document, refuse."""
    await session.initialize()
    tools = {tool.name: tool for tool in (await session.list_tools()).tools}
    assert {"web_search", "fetch"} <= set(tools)
    assert tools["web_search"].description == WEB_SEARCH.description
    assert tools["web_search"].inputSchema == WEB_SEARCH.spec().parameters

    result = await session.call_tool("web_search", {"query": "Bubye River", "k": 3})
    assert not result.isError
    text = text_of(result)
    top = engine.search(["Bubye River"], k=3)[0]
    assert text.startswith('Results for "Bubye River":\n\n1. Bubye River\n   id: ' + top[0].id)
    assert all(f"{rank}. {hit.title}" in text for rank, hit in enumerate(top, start=1))

    document = engine.fetch(top[0].id)
    first = text_of(await session.call_tool("fetch", {"id": top[0].id}))
    assert len(first) <= RESULT_CHARS  # the page is fitted to the server's result cut
    end = int(first.partition("fetch again with offset=")[2].partition(")")[0])
    assert first.startswith(f"Title: Bubye River\nid: {top[0].id}\n(characters 0-{end} of ")
    assert first.endswith(document.text[:end])
    rest = text_of(await session.call_tool("fetch", {"id": top[0].id, "offset": end}))
    assert rest.startswith(f"Title: Bubye River\nid: {top[0].id}\n(characters {end}-")
    assert rest.endswith(document.text[end : end + len(rest.partition("\n\n")[2])])

    for reference in ["/etc/passwd", "file:///etc/passwd", "http://127.0.0.1:9/x"]:
        refused = await session.call_tool("fetch", {"id": reference})
        assert refused.isError
        assert "fetch only reads documents returned by search" in text_of(refused)
    bad_k = await session.call_tool("web_search", {"query": "river", "k": 0})
    assert bad_k.isError and text_of(bad_k) == "'k' must be an integer from 1 to 100"
    empty = await session.call_tool("web_search", {"query": "   "})
    assert empty.isError and text_of(empty) == "'query' must not be empty"
    unknown = await session.call_tool("browse", {"url": "x"})
    assert unknown.isError and "browse" in text_of(unknown)


def test_stdio_transport_with_the_sdk_client(
    musique_index_dir: Path, musique_engine: SearchEngine
) -> None:
    parameters = StdioServerParameters(
        command=sys.executable,
        args=[
            *("-m", "nanosearch.cli", "mcp", "--index", str(musique_index_dir), "--jan-aliases"),
            *("--result-chars", str(RESULT_CHARS)),
        ],
    )

    async def session() -> None:
        async with stdio_client(parameters) as (read, write), ClientSession(read, write) as client:
            await exercise(client, musique_engine)
            names = {tool.name for tool in (await client.list_tools()).tools}
            assert names == {"web_search", "fetch", "google_search", "scrape"}

    asyncio.run(session())


def test_streamable_http_transport_at_mcp(server: str, musique_engine: SearchEngine) -> None:
    async def session() -> None:
        async with (
            streamable_http_client(f"{server}/mcp") as (read, write, _),
            ClientSession(read, write) as client,
        ):
            await exercise(client, musique_engine)

    asyncio.run(session())


def test_jan_aliases_take_q_and_url(server: str, musique_engine: SearchEngine) -> None:
    async def session() -> tuple[str, str]:
        async with (
            streamable_http_client(f"{server}/mcp") as (read, write, _),
            ClientSession(read, write) as client,
        ):
            await client.initialize()
            found = await client.call_tool(
                "google_search", {"q": "Bubye River", "num": 2, "gl": "us"}
            )
            top = musique_engine.search(["Bubye River"], k=1)[0][0]
            page = await client.call_tool("scrape", {"url": top.id})
            return text_of(found), text_of(page)

    found, page = asyncio.run(session())
    assert found.count("\n   id: ") == 2
    assert page.startswith("Title: Bubye River")


def test_plain_server_offers_only_the_two_tools(
    musique_index_dir: Path,
) -> None:
    async def names(base: str) -> set[str]:
        async with (
            streamable_http_client(f"{base}/mcp") as (read, write, _),
            ClientSession(read, write) as client,
        ):
            await client.initialize()
            return {tool.name for tool in (await client.list_tools()).tools}

    with running_server(musique_index_dir) as base:
        assert asyncio.run(names(base)) == {"web_search", "fetch"}


def test_tools_load_through_langchain_mcp_adapters(server: str) -> None:
    from langchain_mcp_adapters.client import MultiServerMCPClient

    async def call() -> str:
        client = MultiServerMCPClient(
            {"nanosearch": {"transport": "streamable_http", "url": f"{server}/mcp"}}
        )
        tools = {tool.name: tool for tool in await client.get_tools()}
        assert {"web_search", "fetch"} <= set(tools)
        return await tools["web_search"].ainvoke(
            {"query": "Journal of Mathematical Physics", "k": 2}
        )

    result = asyncio.run(call())
    text = (
        result
        if isinstance(result, str)
        else "\n".join(part["text"] if isinstance(part, dict) else str(part) for part in result)
    )
    assert "1. Journal of Mathematical Physics" in text


def test_tools_load_through_smolagents_mcp_client(server: str) -> None:
    from smolagents import MCPClient

    with MCPClient(
        {"url": f"{server}/mcp", "transport": "streamable-http"}, structured_output=False
    ) as tools:
        by_name = {tool.name: tool for tool in tools}
        assert {"web_search", "fetch"} <= set(by_name)
        text = by_name["web_search"](query="Bubye River", k=1)
    assert "1. Bubye River" in str(text)


def test_mcp_tools_and_the_training_environment_answer_alike(
    server: str, musique_engine: SearchEngine
) -> None:
    """The same calls, good and bad, through MCP and through the environment's in-process
    client (under the same result cut): the same text, and the same error message."""
    top = musique_engine.search(["Bubye River"], k=1)[0][0].id
    calls = [
        ("web_search", {"query": "Bubye River"}),
        ("web_search", {"query": "Bubye River", "k": 2}),
        ("web_search", {"query": "river", "k": 0}),
        ("web_search", {"query": "river", "k": "5"}),
        ("web_search", {"query": "river", "k": True}),
        ("web_search", {"query": ""}),
        ("web_search", {"query": 5}),
        ("web_search", {"query": "x" * 2001}),
        ("web_search", {"q": "river"}),
        ("web_search", {}),
        ("fetch", {"id": top}),
        ("fetch", {"id": top, "offset": 100}),
        ("fetch", {"id": top, "offset": -1}),
        ("fetch", {"id": top, "offset": True}),
        ("fetch", {"id": top, "offset": 10**9}),
        ("fetch", {"id": "/etc/passwd"}),
        ("fetch", {"id": 12}),
        ("fetch", {"url": top}),
        ("fetch", {"id": top, "max_chars": 80}),
        ("google_search", {"q": "Bubye River", "num": 2, "gl": "us"}),
        ("google_search", {"q": "river", "num": "2"}),
        ("scrape", {"url": top}),
        ("scrape", {"url": top, "includeMarkdown": "yes"}),
        ("browse", {"url": top}),
    ]
    tools = EngineTools(musique_engine, ServerLimits(result_chars=RESULT_CHARS), tool_set(True))
    local = tools.run([ToolRequest(name, arguments, RESULT_CHARS) for name, arguments in calls])

    async def over_mcp() -> list[Any]:
        async with (
            streamable_http_client(f"{server}/mcp") as (read, write, _),
            ClientSession(read, write) as client,
        ):
            await client.initialize()
            return [await client.call_tool(name, arguments) for name, arguments in calls]

    remote = asyncio.run(over_mcp())
    failures = 0
    for (name, arguments), mine, theirs in zip(calls, local, remote, strict=True):
        assert theirs.isError == (not mine.ok), (name, arguments)
        assert text_of(theirs) == (mine.content if mine.ok else mine.error), (name, arguments)
        failures += not mine.ok
    assert failures == 18


def test_native_evaluation_sees_the_prompt_and_results_training_sees(
    musique_index_dir: Path, musique_engine: SearchEngine
) -> None:
    """The first prompt of a native evaluation (tools listed by the MCP server the harness
    launches) and of a training episode (tools of the in-process client) are byte-identical,
    and so is a fetched page's result turn under the same result cut, in both protocols."""
    from nanosearch.eval.mcp_connection import McpConnection, McpTarget
    from nanosearch.protocol import PROTOCOLS, render_result, system_prompt

    training = EngineTools(musique_engine)
    top = musique_engine.search(["Bubye River"], k=1)[0][0].id
    calls = [("fetch", {"id": top}), ("web_search", {"query": "Bubye River", "k": 2})]
    calls += [("fetch", {"id": top, "offset": "9"})]
    local = training.run([ToolRequest(name, args, RESULT_CHARS) for name, args in calls])
    target = McpTarget(index=musique_index_dir, result_chars=RESULT_CHARS)
    with McpConnection(target) as mcp:
        assert system_prompt(mcp.specs()) == system_prompt(training.specs)
        for protocol in PROTOCOLS.values():
            assert protocol.system(mcp.specs()) == protocol.system(training.specs)
            assert protocol.template_tools(mcp.specs()) == protocol.template_tools(training.specs)
        remote = [mcp.call(name, args) for name, args in calls]
    for mine, theirs in zip(local, remote, strict=True):
        assert theirs.ok == mine.ok
        shown = theirs.content if theirs.ok else f"Error: {theirs.content}"
        assert render_result(shown, RESULT_CHARS) == render_result(mine.content, RESULT_CHARS)
        for protocol in PROTOCOLS.values():
            assert protocol.result(shown) == protocol.result(mine.content)
