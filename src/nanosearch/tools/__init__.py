"""The tools the model can call (``web_search``, ``fetch`` and Jan's ``google_search`` and
``scrape``), defined once: descriptions, argument schemas and checks, error texts, result
rendering, and the code that runs a batch of calls on an engine. Everything the model sees of
a tool comes from here, whether it is trained, evaluated or reached through MCP or HTTP."""

from nanosearch.tools.calls import (
    BatchingTools,
    EngineTools,
    ToolClient,
    ToolRequest,
    ToolResult,
    WebTools,
    fit_page,
    tools_over,
)
from nanosearch.tools.definitions import (
    DEFAULT_K,
    FETCH,
    GOOGLE_SEARCH,
    JAN_TOOLS,
    SCRAPE,
    SEARCH_TOOLS,
    WEB_SEARCH,
    Argument,
    Tool,
    ToolArgumentError,
    ToolSpec,
    tool_set,
    tool_specs,
)
from nanosearch.tools.limits import ServerLimits
from nanosearch.tools.rendering import Page, format_hits, format_page, page_of, shown_ids

__all__ = [
    "DEFAULT_K",
    "FETCH",
    "GOOGLE_SEARCH",
    "JAN_TOOLS",
    "SCRAPE",
    "SEARCH_TOOLS",
    "WEB_SEARCH",
    "Argument",
    "BatchingTools",
    "EngineTools",
    "Page",
    "ServerLimits",
    "Tool",
    "ToolArgumentError",
    "ToolClient",
    "ToolRequest",
    "ToolResult",
    "ToolSpec",
    "WebTools",
    "fit_page",
    "format_hits",
    "format_page",
    "page_of",
    "shown_ids",
    "tool_set",
    "tool_specs",
    "tools_over",
]
