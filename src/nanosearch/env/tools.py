"""Tool clients for the environment: the engine in-process, or the HTTP server.

Both take a whole batch of calls, so one rollout step sends every episode's searches to the
engine in one call. A failure (bad arguments, unknown document, timeout, server error) is a
:class:`ToolResult` with ``ok=False`` and a message for the model, never an exception.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from nanosearch.errors import NanosearchError
from nanosearch.protocol import ToolSpec
from nanosearch.protocol.prompt import SEARCH_TOOLS
from nanosearch.server.limits import ServerLimits
from nanosearch.server.pages import Page, format_hits, format_page, page_of

DEFAULT_K = 5


@dataclass(frozen=True, slots=True)
class ToolRequest:
    """One call; ``result_chars`` is the environment's result cut: a fetched page is made to
    fit in it (header included), so the text the model sees ends where the page says it does."""

    name: str
    arguments: dict[str, Any]
    result_chars: int | None = None


@dataclass(frozen=True, slots=True)
class ToolResult:
    ok: bool
    content: str
    error: str | None = None

    @classmethod
    def failure(cls, message: str) -> ToolResult:
        return cls(False, f"Error: {message}", message)


class ToolClient(Protocol):
    specs: tuple[ToolSpec, ...]

    def run(self, requests: list[ToolRequest]) -> list[ToolResult]: ...


def _search_arguments(arguments: dict[str, Any], max_k: int) -> tuple[str, int]:
    unknown = set(arguments) - {"query", "k"}
    if unknown:
        raise ValueError(f"web_search takes query and k, not {sorted(unknown)[0]!r}")
    query, k = arguments.get("query"), arguments.get("k", DEFAULT_K)
    if not isinstance(query, str) or not query.strip():
        raise ValueError("web_search needs a non-empty string 'query'")
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= max_k:
        raise ValueError(f"'k' must be an integer from 1 to {max_k}")
    return query, k


def _fetch_arguments(arguments: dict[str, Any]) -> tuple[str, int]:
    unknown = set(arguments) - {"id", "offset", "url"}
    if unknown:
        raise ValueError(f"fetch takes id and offset, not {sorted(unknown)[0]!r}")
    reference = arguments.get("id", arguments.get("url"))
    offset = arguments.get("offset", 0)
    if not isinstance(reference, str | int) or isinstance(reference, bool) or str(reference) == "":
        raise ValueError("fetch needs the 'id' of a search result")
    if isinstance(offset, bool) or not isinstance(offset, int):
        raise ValueError("'offset' must be an integer")
    return str(reference), offset


def fit_page(read: Callable[[int], Page], size: int, result_chars: int | None) -> Page:
    """The page ``read(size)`` returns, shrunk until its rendering fits in ``result_chars``:
    the header's length depends on the page's offsets, so a few reads may be needed."""
    page = read(size)
    for _ in range(4):
        overflow = 0 if result_chars is None else len(format_page(page)) - result_chars
        if overflow <= 0 or size == 1:
            break
        size = max(1, size - overflow)
        page = read(size)
    return page


class _BatchingTools(ABC):
    """Validates each call alone (one episode's bad call never fails another's), batches the
    valid searches by ``k`` within the batch limit, and fetches one by one."""

    specs: tuple[ToolSpec, ...] = SEARCH_TOOLS

    def __init__(self, limits: ServerLimits | None = None) -> None:
        self.limits = limits or ServerLimits()

    def run(self, requests: list[ToolRequest]) -> list[ToolResult]:
        results: list[ToolResult | None] = [None] * len(requests)
        searches: dict[int, list[tuple[int, str]]] = defaultdict(list)
        for position, request in enumerate(requests):
            try:
                if request.name == "web_search":
                    query, k = _search_arguments(request.arguments, self.limits.max_k)
                    self.limits.check_query(query)
                    searches[k].append((position, query))
                elif request.name == "fetch":
                    reference, offset = _fetch_arguments(request.arguments)
                    results[position] = self._fetch(reference, offset, request.result_chars)
                else:
                    names = ", ".join(spec.name for spec in self.specs)
                    results[position] = ToolResult.failure(
                        f"unknown tool {request.name!r}; the tools are: {names}"
                    )
            except ValueError as error:
                results[position] = ToolResult.failure(str(error))
        size = self.limits.max_batch
        for k, calls in searches.items():
            for start in range(0, len(calls), size):
                batch = calls[start : start + size]
                for (position, _), result in zip(
                    batch, self._search([q for _, q in batch], k), strict=True
                ):
                    results[position] = result
        return [result or ToolResult.failure("the call was not run") for result in results]

    @abstractmethod
    def _search(self, queries: list[str], k: int) -> list[ToolResult]:
        """One result per query, in order."""

    @abstractmethod
    def _fetch(self, reference: str, offset: int, result_chars: int | None) -> ToolResult:
        """The page of the document at ``offset``, rendered within ``result_chars``."""

    def page_chars(self, result_chars: int | None) -> int:
        """The first page size to try: the server's default, or less under a result cut."""
        default = self.limits.default_fetch_chars
        return default if result_chars is None else max(1, min(default, result_chars))


class EngineTools(_BatchingTools):
    """``web_search`` and ``fetch`` on an engine loaded in this process."""

    def __init__(self, engine: Any, limits: ServerLimits | None = None) -> None:
        super().__init__(limits)
        self.engine = engine

    def _search(self, queries: list[str], k: int) -> list[ToolResult]:
        try:
            self.limits.check_queries(queries)
            batches = self.engine.search(queries, k)
        except NanosearchError as error:
            return [ToolResult.failure(str(error)) for _ in queries]
        return [
            ToolResult(True, format_hits(q, hits)) for q, hits in zip(queries, batches, strict=True)
        ]

    def _fetch(self, reference: str, offset: int, result_chars: int | None) -> ToolResult:
        try:
            document = self.engine.resolve(reference)
            page = fit_page(
                lambda size: page_of(document, offset, size),
                self.page_chars(result_chars),
                result_chars,
            )
        except NanosearchError as error:
            return ToolResult.failure(str(error))
        return ToolResult(True, format_page(page))


class HTTPTools(_BatchingTools):
    """``web_search`` and ``fetch`` through a running ``nanosearch serve``."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        timeout: float = 30.0,
        limits: ServerLimits | None = None,
    ) -> None:
        import httpx

        super().__init__(limits)
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(base_url=base_url, headers=headers, timeout=timeout)

    def _post(self, path: str, payload: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
        import httpx

        try:
            response = self._http.post(path, json=payload)
        except httpx.TimeoutException:
            return None, f"the search server did not answer in {self._http.timeout.read} s"
        except httpx.HTTPError as error:
            return None, f"the search server cannot be reached ({error})"
        try:
            body = response.json()
        except ValueError:
            return None, f"the search server answered {response.status_code} without JSON"
        if response.status_code != 200:
            return None, str(body.get("error", body)) if isinstance(body, dict) else str(body)
        return body, None

    def _search(self, queries: list[str], k: int) -> list[ToolResult]:
        body, error = self._post("/search", {"queries": queries, "k": k})
        if body is None:
            return [ToolResult.failure(error or "search failed") for _ in queries]
        from nanosearch.search import Hit

        return [
            ToolResult(True, format_hits(query, [Hit(**hit) for hit in hits]))
            for query, hits in zip(queries, body["results"], strict=True)
        ]

    def _fetch(self, reference: str, offset: int, result_chars: int | None) -> ToolResult:
        def read(size: int) -> Page:
            payload = {"id": reference, "offset": offset, "max_chars": size}
            body, error = self._post("/fetch", payload)
            if body is None:
                raise NanosearchError(error or "fetch failed")
            return Page(**body)

        try:
            page = fit_page(read, self.page_chars(result_chars), result_chars)
        except NanosearchError as error:
            return ToolResult.failure(str(error))
        return ToolResult(True, format_page(page))

    def close(self) -> None:
        self._http.close()
