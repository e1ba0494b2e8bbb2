"""Web search backends behind the same tools. The internet is the one thing that cannot exist
here, so each API is a real HTTP server on loopback (``tests/fake_web.py``) that speaks the
provider's documented request and response JSON and serves the pages its results point to."""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from starlette.testclient import TestClient

from nanosearch.corpus import Document
from nanosearch.errors import NanosearchError
from nanosearch.search import build_index
from nanosearch.server.http_app import create_app
from nanosearch.tools import (
    EngineTools,
    ServerLimits,
    ToolRequest,
    WebTools,
    format_hits,
    tool_set,
    tool_specs,
)
from nanosearch.tools.web import (
    PageLimits,
    PageReader,
    RetryPolicy,
    UpstreamError,
    WebSearch,
    is_private_host,
    search_api,
    web_id,
)
from tests.fake_web import KEY, FakeWeb, fake_web

FAST = RetryPolicy(attempts=3, base_seconds=0.01)


@pytest.fixture(scope="module")
def web() -> Iterator[FakeWeb]:
    with fake_web() as served:
        yield served


@pytest.fixture(autouse=True)
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("SERPER_API_KEY", "BRAVE_API_KEY", "TAVILY_API_KEY"):
        monkeypatch.setenv(variable, KEY)


def backend(web: FakeWeb, name: str, **options: object) -> WebSearch:
    return WebSearch(search_api(name, f"{web.base}/{name}", retry=FAST, **options))


def tools(web: FakeWeb, name: str = "serper", **options: object) -> WebTools:
    return WebTools(backend(web, name, **options), ServerLimits(), tool_set(jan_aliases=True))


def call(client: WebTools, name: str, session: str = "s1", **arguments: object) -> str:
    (result,) = client.run([ToolRequest(name, arguments, 4000, session)])
    return result.content


@pytest.mark.parametrize(
    ("name", "path", "key_header"),
    [
        ("serper", "/serper/search", ("x-api-key", KEY)),
        ("searxng", "/searxng/search", None),
        ("brave", "/brave/res/v1/web/search", ("x-subscription-token", KEY)),
        ("tavily", "/tavily/search", ("authorization", f"Bearer {KEY}")),
    ],
)
def test_each_api_gets_its_documented_request_and_its_hits_render_as_the_index_s(
    web: FakeWeb, name: str, path: str, key_header: tuple[str, str] | None
) -> None:
    web.requests.clear()
    hits = backend(web, name).search(["orvald river"], 5)[0]
    assert [hit.url for hit in hits] == [web.page_url(i) for i in range(1, 6)]
    assert [hit.id for hit in hits] == [web_id(hit.url) for hit in hits]
    assert hits[0].title == "Page 1 title" and hits[0].snippet == "orvald river snippet 1"
    sent = [r for r in web.requests if r["path"] == path]
    if key_header is not None:
        assert sent[0]["headers"][key_header[0]] == key_header[1]
    shape = {
        "serper": lambda r: r["json"] == {"q": "orvald river", "num": 5, "page": 1},
        "searxng": lambda r: r["params"] == {"q": "orvald river", "format": "json", "pageno": "1"},
        "brave": lambda r: r["params"] == {"q": "orvald river", "count": "5"},
        "tavily": lambda r: r["json"] == {"query": "orvald river", "max_results": 5},
    }[name]
    assert shape(sent[0]), sent[0]
    rendered = call(tools(web, name), "web_search", query="orvald river")
    assert rendered == format_hits("orvald river", hits)
    assert f"id: {hits[0].id}  url: {web.page_url(1)}" in rendered


def test_searxng_pages_until_it_has_k_results(web: FakeWeb) -> None:
    web.requests.clear()
    hits = backend(web, "searxng").search(["mill town"], 5)[0]
    assert len(hits) == 5
    assert [r["params"]["pageno"] for r in web.requests] == ["1", "2"]
    web.requests.clear()
    assert len(backend(web, "searxng").search(["mill town"], 50)[0]) == 7  # all there is
    assert [r["params"]["pageno"] for r in web.requests] == ["1", "2", "3", "4"]


def test_a_missing_key_is_named_before_any_request(
    web: FakeWeb, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SERPER_API_KEY")
    with pytest.raises(NanosearchError, match="needs an API key: set SERPER_API_KEY"):
        search_api("serper", f"{web.base}/serper")
    with pytest.raises(NanosearchError, match="give its address with --backend-url"):
        search_api("searxng")
    with pytest.raises(NanosearchError, match="--backend must be one of local, serper"):
        search_api("bing")


def test_a_refused_key_is_a_tool_error_naming_the_variable(web: FakeWeb) -> None:
    client = tools(web, "serper", key="wrong")
    text = call(client, "web_search", query="x")
    assert text == "Error: serper refused the request (HTTP 403): check SERPER_API_KEY"
    text = call(client, "google_search", q="x")
    assert text.startswith("Error: serper refused the request (HTTP 403)")


def test_rate_limits_and_server_errors_are_retried_with_backoff(web: FakeWeb) -> None:
    web.requests.clear()
    web.fail_next[:] = [429, 503]
    hits = backend(web, "serper").search(["brenwick"], 3)[0]
    assert len(hits) == 3 and web.count("/serper/search") == 3
    web.fail_next[:] = [429, 429, 429]
    with pytest.raises(UpstreamError, match=r"serper is rate limiting \(HTTP 429\) after 3 tries"):
        backend(web, "serper").search(["brenwick"], 3)
    web.fail_next[:] = [500, 500, 500]
    text = call(tools(web, "brave"), "web_search", query="brenwick")
    assert text.startswith("Error: brave answered HTTP 500")
    web.fail_next.clear()


def test_retry_after_is_honoured_within_its_cap() -> None:
    import httpx

    policy = RetryPolicy(base_seconds=0.5, max_wait=10)
    reply = httpx.Response(429, headers={"Retry-After": "3"})
    assert policy.wait(0, reply) == 3
    assert policy.wait(0, httpx.Response(429, headers={"Retry-After": "999"})) == 10
    assert 0.25 <= policy.wait(0, None) <= 0.5 and 1 <= policy.wait(2, None) <= 2


def test_fetch_reads_only_what_this_session_s_searches_returned(web: FakeWeb) -> None:
    client = tools(web, "serper")
    forged = [web.page_url(1), f"{web.base}/x/plain", "http://169.254.169.254/latest/meta-data"]
    web.requests.clear()
    for url in forged:
        assert "fetch only reads pages a search returned" in call(client, "fetch", id=url)
        assert "fetch only reads pages a search returned" in call(client, "scrape", url=url)
    assert web.requests == []  # not one outbound request

    call(client, "web_search", query="orvald")
    first = web_id(web.page_url(1))
    by_id = call(client, "fetch", id=first)
    assert by_id.startswith(f"Title: Page 1 title\nid: {first}  url: {web.page_url(1)}")
    assert "Home | About" not in by_id  # the page's boilerplate is not its text
    assert call(client, "scrape", url=web.page_url(1)) == by_id
    other = call(client, "fetch", session="s2", id=first)
    assert "fetch only reads pages a search returned" in other
    assert web.count("/page/1") == 1


def test_long_pages_are_paged_like_the_index_s_and_downloaded_once(
    web: FakeWeb, tmp_path: Path
) -> None:
    """The same page read from the web and from an index of its text renders byte for byte
    alike, part by part: the model sees on the web what it was trained on."""
    client = tools(web, "serper")
    call(client, "web_search", query="orvald")
    web.requests.clear()
    reference = web_id(web.page_url(1))
    document = client.engine.resolve(reference, "s1")
    engine = build_index([document], tmp_path / "index", progress=False)
    local = EngineTools(engine, ServerLimits(), tool_set(jan_aliases=True))

    offset, parts = 0, 0
    while offset is not None:
        (from_web,) = client.run(
            [ToolRequest("fetch", {"id": reference, "offset": offset}, 900, "s1")]
        )
        (from_index,) = local.run([ToolRequest("fetch", {"id": reference, "offset": offset}, 900)])
        assert from_web == from_index and len(from_web.content) <= 900
        parts += 1
        marker = "fetch again with offset="
        offset = (
            int(from_web.content.split(marker)[1].split(")")[0])
            if marker in from_web.content
            else None
        )
    assert parts > 3
    assert web.count("/page/1") == 1  # read once, by resolve above
    assert client.specs == local.specs


def test_page_reader_limits(web: FakeWeb) -> None:
    reader = PageReader(
        PageLimits(max_bytes=50_000, seconds=1.0, max_redirects=3), allow_private=True
    )
    page = reader.read(f"{web.base}/x/moved")
    assert page.url == web.page_url(2) and page.title == "Page 2 title"
    assert len(reader.read(f"{web.base}/x/huge").text) <= 50_000
    assert reader.read(f"{web.base}/x/plain").text == "Just text.\nTwo lines."
    with pytest.raises(UpstreamError, match="more than 3 redirects"):
        reader.read(f"{web.base}/x/loop")
    with pytest.raises(UpstreamError, match="took over 1 s"):
        reader.read(f"{web.base}/x/slow")
    with pytest.raises(UpstreamError, match="application/pdf, not a text page"):
        reader.read(f"{web.base}/x/binary")
    with pytest.raises(UpstreamError, match="answered HTTP 404"):
        reader.read(f"{web.base}/x/nothing")


def test_private_addresses_are_never_read_for_a_public_search_api(web: FakeWeb) -> None:
    for host in ("127.0.0.1", "10.1.2.3", "169.254.169.254", "::1", "localhost", "no-such.invalid"):
        assert is_private_host(host), host
    assert not is_private_host("8.8.8.8")
    strict = PageReader(PageLimits(), allow_private=False)
    web.requests.clear()
    with pytest.raises(UpstreamError, match="127.0.0.1 is not a public address"):
        strict.read(web.page_url(1))
    assert web.requests == []
    with pytest.raises(UpstreamError, match="not an http"):
        strict.read("file:///etc/passwd")
    lenient = PageReader(PageLimits(seconds=2), allow_private=True)
    with pytest.raises(UpstreamError):  # a redirect to another private host: refused or unreachable
        lenient.read(f"{web.base}/x/elsewhere")
    # a search API on loopback (a self-hosted SearXNG) may read loopback pages; a public one not
    assert backend(web, "searxng").reader.allow_private
    assert not WebSearch(search_api("serper")).reader.allow_private


def test_a_host_is_resolved_once_and_read_at_the_address_that_was_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """DNS rebinding: a name answers a public address to the check and loopback afterwards.
    The public internet cannot exist here, so httpx's MockTransport stands in for it and
    records where each request was sent."""
    answers = {"rebind.example": ["93.184.216.34", "127.0.0.1"], "other.example": ["1.1.1.1"]}
    asked: list[str] = []

    def resolve(host: str, *args: object, **kwargs: object) -> list[tuple]:
        asked.append(host)
        address = answers[host][0] if len(answers[host]) == 1 else answers[host].pop(0)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, 0))]

    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        moves = {"/a": "/b", "/b": "https://other.example:8443/c"}
        if request.url.path in moves:
            return httpx.Response(302, headers={"location": moves[request.url.path]})
        return httpx.Response(
            200, text="<title>T</title><p>Read.</p>", headers={"content-type": "text/html"}
        )

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    reader = PageReader(client=httpx.Client(transport=httpx.MockTransport(handler)))
    page = reader.read("https://rebind.example/a")
    assert page.url == "https://other.example:8443/c" and page.title == "T"
    assert asked == ["rebind.example", "other.example"]
    assert [str(r.url) for r in sent] == [
        "https://93.184.216.34/a",
        "https://93.184.216.34/b",
        "https://1.1.1.1:8443/c",
    ]
    assert [r.headers["host"] for r in sent] == ["rebind.example"] * 2 + ["other.example:8443"]
    assert [r.extensions["sni_hostname"] for r in sent] == ["rebind.example"] * 2 + [
        "other.example"
    ]
    with pytest.raises(UpstreamError, match="rebind.example is not a public address"):
        reader.read("http://rebind.example/a")  # it answers loopback now: refused, not read
    assert len(sent) == 3


def test_http_api_on_a_web_backend(web: FakeWeb) -> None:
    app = create_app(backend(web, "serper"), ServerLimits())
    with TestClient(app) as client:
        assert client.get("/health").json() == {"status": "ok", "backend": "serper"}
        results = client.post("/search", json={"queries": ["orvald"], "k": 2}).json()["results"]
        assert [hit["url"] for hit in results[0]] == [web.page_url(1), web.page_url(2)]
        page = client.post("/fetch", json={"id": results[0][0]["id"], "max_chars": 100}).json()
        assert page["title"] == "Page 1 title" and page["next_offset"] == 100
        refused = client.post("/fetch", json={"id": f"{web.base}/x/plain"})
        assert refused.status_code == 404 and "search returned" in refused.json()["error"]
        retrieved = client.post("/retrieve", json={"queries": ["orvald"], "topk": 1}).json()
        assert retrieved["result"][0][0]["contents"] == '"Page 1 title"\norvald snippet 1'
        web.fail_next[:] = [503, 503, 503]
        failed = client.post("/search", json={"queries": ["x"], "k": 2})
        assert failed.status_code == 502 and "serper answered HTTP 503" in failed.json()["error"]


def test_mcp_stdio_server_on_searxng_offers_the_index_s_tools(web: FakeWeb) -> None:
    command = [
        *("-m", "nanosearch.cli", "mcp", "--backend", "searxng"),
        *("--backend-url", f"{web.base}/searxng", "--jan-aliases"),
    ]

    async def session() -> None:
        parameters = StdioServerParameters(command=sys.executable, args=command)
        async with stdio_client(parameters) as (read, write), ClientSession(read, write) as mcp:
            await mcp.initialize()
            listed = (await mcp.list_tools()).tools
            assert [(t.name, t.inputSchema) for t in listed] == [
                (s.name, s.parameters) for s in tool_specs(tool_set(jan_aliases=True))
            ]
            found = await mcp.call_tool("google_search", {"q": "kesh hills", "num": 2})
            text = found.content[0].text
            assert text.startswith('Results for "kesh hills":') and web.page_url(2) in text
            page = await mcp.call_tool("scrape", {"url": web.page_url(2)})
            assert not page.isError and "Page 2 title" in page.content[0].text
            forged = await mcp.call_tool("fetch", {"id": f"{web.base}/x/plain"})
            assert forged.isError and "search returned" in forged.content[0].text

    asyncio.run(session())


def test_the_local_and_web_backends_are_chosen_with_one_flag(tmp_path: Path) -> None:
    from nanosearch.server.mcp_tools import open_source

    with pytest.raises(NanosearchError, match="give --index DIR, or a web backend"):
        open_source(None)
    with pytest.raises(NanosearchError, match="--index is for the local backend"):
        open_source(str(tmp_path), "serper")
    with pytest.raises(NanosearchError, match="--backend-url is for a web backend"):
        open_source(str(tmp_path), "local", "http://x")
    assert isinstance(open_source(None, "serper"), WebSearch)


def test_a_document_of_the_web_is_an_ordinary_document(web: FakeWeb) -> None:
    search = backend(web, "tavily")
    search.search(["orvald"], 1, session="a")
    document = search.resolve(web.page_url(1), "a")
    assert isinstance(document, Document) and document.url == web.page_url(1)
    assert "The Orvald river rises in the Kesh hills" in document.text


def test_an_evaluation_reaches_the_web_with_one_flag(web: FakeWeb) -> None:
    """What ``nanosearch eval simpleqa --backend serper`` opens: the harness's own MCP
    connection to a launched ``nanosearch mcp --backend serper``, the key from the environment."""
    from nanosearch.eval.mcp_connection import McpConnection, McpTarget

    target = McpTarget(backend="serper", backend_url=f"{web.base}/serper", result_chars=500)
    assert target.described() == f"stdio:web:serper@{web.base}/serper"
    with McpConnection(target) as mcp:
        assert [spec.name for spec in mcp.specs()] == ["web_search", "fetch"]
        found = mcp.call("web_search", {"query": "orvald river", "k": 2})
        assert found.ok and found.content.startswith('Results for "orvald river":')
        page = mcp.call("fetch", {"id": web_id(web.page_url(1))})
        assert page.ok and len(page.content) <= 500 and "more follows" in page.content
    with pytest.raises(NanosearchError, match="give one of"):
        McpTarget(index=Path("x"), backend="serper")
