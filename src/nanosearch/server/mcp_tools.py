"""The MCP server: ``web_search`` and ``fetch`` over the local index, and optionally the same
tools under the names and argument names of Jan's own MCP search tools (``google_search``,
``scrape``), so a model tuned on those calls them unchanged."""

from __future__ import annotations

from mcp.server.fastmcp import FastMCP
from mcp.server.fastmcp.exceptions import ToolError

from nanosearch.errors import NanosearchError
from nanosearch.search import SearchEngine
from nanosearch.server.limits import ServerLimits
from nanosearch.server.pages import format_hits, format_page, page_of

DEFAULT_RESULTS = 5
LOOPBACK = ("127.0.0.1", "localhost", "::1")


class SearchTools:
    """The tools' behaviour, kept apart from MCP so both names of each tool share it."""

    def __init__(self, engine: SearchEngine, limits: ServerLimits) -> None:
        self.engine = engine
        self.limits = limits

    def search(self, query: str, k: int) -> str:
        try:
            self.limits.check_k(k)
            self.limits.check_queries([query])
            hits = self.engine.search([query], k)[0]
        except NanosearchError as error:
            raise ToolError(str(error)) from None
        return format_hits(query, hits)

    def fetch(self, reference: str, offset: int, max_chars: int | None) -> str:
        try:
            document = self.engine.resolve(reference)
            return format_page(page_of(document, offset, self.limits.fetch_chars(max_chars)))
        except NanosearchError as error:
            raise ToolError(str(error)) from None


def create_mcp_server(
    engine: SearchEngine,
    limits: ServerLimits | None = None,
    *,
    jan_aliases: bool = False,
    host: str = "127.0.0.1",
) -> FastMCP:
    """An MCP server over ``engine``. ``host`` is where it will be reached over HTTP: on
    loopback the SDK's DNS-rebinding protection stays on."""
    tools = SearchTools(engine, limits or ServerLimits())
    server = FastMCP(
        "nanosearch",
        instructions=(
            "Search a local document collection with web_search, then read a result in full "
            "with fetch, using the id or url the search printed."
        ),
        host=host if host in LOOPBACK else "0.0.0.0",
        streamable_http_path="/mcp",
        log_level="WARNING",
    )

    @server.tool()
    def web_search(query: str, k: int = DEFAULT_RESULTS) -> str:
        """Search the web for pages about a topic.

        Use short keyword queries (names, places, dates), one fact per search. Returns ranked
        results, each with a title, an id (and url when there is one) and a short snippet.
        When the snippet does not hold the answer, call fetch with the result's id to read
        the whole page.

        Args:
            query: keywords to search for, e.g. "Bubye River country".
            k: how many results to return (1 to the server's limit, default 5).
        """
        return tools.search(query, k)

    @server.tool()
    def fetch(id: str, offset: int = 0, max_chars: int | None = None) -> str:
        """Read the full text of a search result.

        Pass the id (or url) exactly as web_search printed it. Long pages come in parts: the
        reply says which characters it holds and the offset to fetch the next part with.

        Args:
            id: the id or url of a result returned by web_search.
            offset: character to start reading from (0 for the beginning).
            max_chars: how many characters to return (default set by the server).
        """
        return tools.fetch(id, offset, max_chars)

    if jan_aliases:

        @server.tool()
        def google_search(
            q: str, num: int = DEFAULT_RESULTS, gl: str = "us", hl: str = "en"
        ) -> str:
            """Search the web with a query and get back ranked results (title, link, snippet).

            Args:
                q: the search query.
                num: number of results to return.
                gl: country code (accepted for compatibility; the local index has no regions).
                hl: language code (accepted for compatibility).
            """
            return tools.search(q, num)

        @server.tool()
        def scrape(url: str, includeMarkdown: bool = False) -> str:
            """Read the content of a page returned by google_search.

            Args:
                url: the link (or id) of a search result.
                includeMarkdown: accepted for compatibility; pages are plain text.
            """
            return tools.fetch(url, 0, None)

    return server
