"""The HTTP server: batched search for trainers, Search-R1's ``/retrieve``, paged ``/fetch``,
``/health``, and the MCP server's streamable HTTP transport at ``/mcp``, in one process.

Searches run in a worker thread, so a large batch never stalls ``/health`` or other requests.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import json
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import asdict
from typing import Any

import anyio
import h11
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException
from uvicorn.protocols.http.h11_impl import H11Protocol

from nanosearch.errors import DocumentNotFoundError, NanosearchError
from nanosearch.search import SearchEngine
from nanosearch.server.jsonrpc import MAX_DEPTH, PARSE_ERROR, body_problem, error_reply
from nanosearch.server.mcp_tools import create_mcp_server, open_source
from nanosearch.tools import FETCH, WEB_SEARCH, ServerLimits
from nanosearch.tools.rendering import page_of
from nanosearch.tools.web import UpstreamError, WebSearch

API_KEY_ENV = "NANOSEARCH_API_KEY"
OPEN_PATHS = frozenset({"/health"})

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    queries: list[str]
    k: int = 10


class FetchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    id: str
    offset: int = 0
    max_chars: int | None = None


class RetrieveRequest(BaseModel):
    """Search-R1's request: ``topk`` and ``return_scores`` as its retrieval server names them.
    The Jan-nano authors' retrieve-then-rerank server takes ``topk_retrieval`` (candidates)
    and ``topk_rerank`` (results returned); with no reranker here, the number of results is
    ``topk_rerank``, else ``topk``, else ``topk_retrieval``."""

    model_config = ConfigDict(extra="forbid", strict=True)
    queries: list[str]
    topk: int | None = None
    topk_retrieval: int | None = None
    topk_rerank: int | None = None
    return_scores: bool = False

    def results_wanted(self) -> tuple[int, str]:
        """The number of results and the key that set it (named in errors)."""
        for key in ("topk_rerank", "topk", "topk_retrieval"):
            value = getattr(self, key)
            if value is not None:
                return value, key
        return 3, "topk"


async def _send_json(
    send: Send, status: int, payload: Any, headers: tuple[tuple[bytes, bytes], ...] = ()
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), *headers],
        }
    )
    await send({"type": "http.response.body", "body": json.dumps(payload).encode()})


async def _reply(
    send: Send, status: int, message: str, headers: tuple[tuple[bytes, bytes], ...] = ()
) -> None:
    await _send_json(send, status, {"error": message}, headers)


def _replaying(messages: list[dict[str, Any]], receive: Receive) -> Receive:
    """A ``receive`` that gives back the messages already read, then reads on."""
    buffered = iter(messages)

    async def replay() -> dict[str, Any]:
        return next(buffered, None) or await receive()

    return replay


class BodyLimit:
    """Reads each request body before the app sees it, counting the bytes that really arrive:
    over ``max_bytes`` is 413, whatever ``Content-Length`` claimed (a declared length over the
    limit is refused before reading; one under it is not trusted), and a body that stops
    arriving for ``body_seconds`` is 408, so a client cannot hold a worker with half a body."""

    def __init__(self, app: ASGIApp, max_bytes: int, body_seconds: float = 30.0) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.body_seconds = body_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await _reply(send, 413, f"request body over {self.max_bytes} bytes")
            return
        messages, size = [], 0
        while True:
            try:
                message = await asyncio.wait_for(receive(), self.body_seconds)
            except TimeoutError:
                await _reply(
                    send, 408, f"the request body stopped arriving for {self.body_seconds:g} s"
                )
                return
            messages.append(message)
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                await _reply(send, 413, f"request body over {self.max_bytes} bytes")
                return
            if message["type"] != "http.request" or not message.get("more_body", False):
                break
        await self.app(scope, _replaying(messages, receive), send)


class McpBodyCheck:
    """Answers a JSON-RPC parse error (400) to an MCP request whose body is not UTF-8 JSON the
    SDK can read. The SDK's transport catches only ``JSONDecodeError``: invalid UTF-8, deep
    nesting and integers of thousands of digits reached it as a 500."""

    def __init__(self, app: ASGIApp, path: str = "/mcp", max_depth: int = MAX_DEPTH) -> None:
        self.app = app
        self.path = path
        self.max_depth = max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != self.path:
            await self.app(scope, receive, send)
            return
        messages, body = [], b""
        while True:
            message = await receive()
            messages.append(message)
            body += message.get("body", b"")
            if message["type"] != "http.request" or not message.get("more_body", False):
                break
        problem = self.problem(body)
        if problem is not None:
            await _send_json(send, 400, error_reply(None, PARSE_ERROR, problem))
            return
        await self.app(scope, _replaying(messages, receive), send)

    def problem(self, body: bytes) -> str | None:
        return body_problem(body, self.max_depth)


class BearerAuth:
    """Requires ``Authorization: Bearer <key>`` on every path but ``/health``."""

    def __init__(self, app: ASGIApp, api_key: str) -> None:
        self.app = app
        self.expected = f"Bearer {api_key}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in OPEN_PATHS:
            given = dict(scope.get("headers", [])).get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                await _reply(
                    send, 401, "missing or wrong API key", ((b"www-authenticate", b"Bearer"),)
                )
                return
        await self.app(scope, receive, send)


def create_app(
    engine: SearchEngine | WebSearch,
    limits: ServerLimits | None = None,
    *,
    api_key: str | None = None,
    jan_aliases: bool = False,
    host: str = "127.0.0.1",
) -> ASGIApp:
    """The HTTP application over a loaded engine or a web backend, MCP included at ``/mcp``.
    On the web, the HTTP API is one session: ``/fetch`` reads pages ``/search`` returned."""
    limits = limits or ServerLimits()
    mcp = create_mcp_server(engine, limits, jan_aliases=jan_aliases, host=host)
    mcp_routes = mcp.streamable_http_app().routes

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with mcp.session_manager.run():
            yield

    from nanosearch import __version__

    app = FastAPI(title="nanosearch", version=__version__, lifespan=lifespan)
    app.router.routes.extend(mcp_routes)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, error: RequestValidationError) -> JSONResponse:
        problems = [_problem(item) for item in error.errors()]
        return JSONResponse({"error": "; ".join(problems)}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            {"error": str(error.detail)}, status_code=error.status_code, headers=error.headers
        )

    @app.exception_handler(NanosearchError)
    async def refused(_: Request, error: NanosearchError) -> JSONResponse:
        status = 404 if isinstance(error, DocumentNotFoundError) else 400
        if isinstance(error, UpstreamError):
            status = 502
        return JSONResponse({"error": str(error)}, status_code=status)

    async def search_batch(queries: list[str], k: int, documents: bool = False) -> list[list[Any]]:
        limits.check_queries(queries)
        method = engine.search_documents if documents else engine.search
        return await anyio.to_thread.run_sync(method, queries, k)

    @app.api_route("/health", methods=["GET", "HEAD"])
    async def health() -> dict[str, Any]:
        """Liveness and the document count (or the web backend's name): open to all, so
        nothing about the index's files or where its corpus came from."""
        if isinstance(engine, WebSearch):
            return {"status": "ok", "backend": engine.name}
        return {"status": "ok", "num_documents": len(engine)}

    @app.get("/info")
    async def info() -> dict[str, Any]:
        """The index manifest (its corpus, settings and files), or the web backend and its
        address, behind the API key."""
        if isinstance(engine, WebSearch):
            return engine.describe()
        return {"num_documents": len(engine), "manifest": engine.manifest.to_dict()}

    # Search responses are plain JSON already: returning a JSONResponse skips FastAPI's
    # per-field encoder, which costs more than the search itself on large batches.
    @app.post("/search")
    async def search(request: SearchRequest) -> JSONResponse:
        """Ranked hits for a batch of queries, one list per query, in one engine call."""
        WEB_SEARCH.argument("k").check(request.k, limits)
        results = await search_batch(request.queries, request.k)
        return JSONResponse({"results": [[hit.to_dict() for hit in hits] for hits in results]})

    @app.post("/fetch")
    async def fetch(request: FetchRequest) -> dict[str, Any]:
        """A page of a document's text, with the total length and the next offset."""
        FETCH.argument("id").check(request.id, limits)
        FETCH.argument("offset").check(request.offset, limits)
        max_chars = limits.fetch_chars(request.max_chars)
        document = await anyio.to_thread.run_sync(engine.resolve, request.id)
        return page_of(document, request.offset, max_chars).to_dict()

    @app.post("/retrieve")
    async def retrieve(request: RetrieveRequest) -> JSONResponse:
        """Search-R1's retrieval endpoint, response shape unchanged."""
        k, key = request.results_wanted()
        limits.check_k(k, key)
        results = await search_batch(request.queries, k, documents=True)
        shaped = []
        for ranking in results:
            records = [
                ({"id": doc.id, "contents": f'"{doc.title}"\n{doc.text}'}, score)
                for doc, score in ranking
            ]
            if request.return_scores:
                shaped.append([{"document": r, "score": s} for r, s in records])
            else:
                shaped.append([r for r, _ in records])
        return JSONResponse({"result": shaped})

    wrapped: ASGIApp = McpBodyCheck(app)
    if api_key:
        wrapped = BearerAuth(wrapped, api_key)
    return BodyLimit(wrapped, limits.max_body_bytes, limits.body_seconds)


def _problem(item: dict[str, Any]) -> str:
    if item.get("type") == "json_invalid":
        reason = item.get("ctx", {}).get("error", "")
        return f"malformed JSON at character {item['loc'][-1]}: {reason}"
    field = ".".join(str(part) for part in item["loc"] if part != "body") or "body"
    return f"{field}: {item['msg']}"


@functools.cache
def limits_from_environment() -> ServerLimits:
    return ServerLimits(**json.loads(os.environ.get("NANOSEARCH_LIMITS", "{}")))


class HeaderDeadline(H11Protocol):
    """uvicorn's HTTP/1.1 protocol with a deadline on request headers. uvicorn closes idle
    keep-alive connections, but once a client has sent the first bytes of a request it waits
    for the rest forever, so a few hundred half-sent requests hold a server. Here a connection
    whose request headers are not complete ``header_seconds`` after it opened (or after its
    last response) is closed."""

    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_deadline()

    def handle_events(self) -> None:
        super().handle_events()
        if self.conn.their_state is not h11.IDLE and self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self._arm_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        super().connection_lost(exc)

    def _arm_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        seconds = limits_from_environment().header_seconds
        self._deadline = self.loop.call_later(seconds, self._headers_too_slow)

    def _headers_too_slow(self) -> None:
        self._deadline = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()


def app_from_environment() -> ASGIApp:
    """The application for ``uvicorn --factory`` worker processes: each worker maps the same
    index files, so N workers cost little more memory than one."""
    limits = limits_from_environment()
    return create_app(
        open_source(
            os.environ.get("NANOSEARCH_INDEX") or None,
            os.environ.get("NANOSEARCH_BACKEND", "local"),
            os.environ.get("NANOSEARCH_BACKEND_URL") or None,
        ),
        limits,
        api_key=os.environ.get(API_KEY_ENV) or None,
        jan_aliases=os.environ.get("NANOSEARCH_JAN_ALIASES") == "1",
        host=os.environ.get("NANOSEARCH_HOST", "127.0.0.1"),
    )


def serve(
    index: str | None,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    limits: ServerLimits | None = None,
    api_key: str | None = None,
    jan_aliases: bool = False,
    backend: str = "local",
    backend_url: str | None = None,
) -> None:
    """Run the server until interrupted. The index is loaded (and checked), or the web
    backend's key found, before binding."""
    import uvicorn

    limits = limits or ServerLimits()
    engine = open_source(index, backend, backend_url)
    if isinstance(engine, WebSearch):
        if workers > 1:
            raise NanosearchError(
                "a web backend serves with one worker: a fetch must reach the worker whose "
                "search returned the page"
            )
        what = f"the web through {engine.name} ({engine.api.url})"
    else:
        what = f"{index} ({len(engine)} documents)"
    print(f"serving {what} on http://{host}:{port}, MCP at /mcp", file=sys.stderr, flush=True)
    os.environ.update(
        {
            "NANOSEARCH_INDEX": str(index or ""),
            "NANOSEARCH_BACKEND": backend,
            "NANOSEARCH_BACKEND_URL": backend_url or "",
            "NANOSEARCH_LIMITS": json.dumps(asdict(limits)),
            "NANOSEARCH_JAN_ALIASES": "1" if jan_aliases else "0",
            "NANOSEARCH_HOST": host,
        }
    )
    if api_key:
        os.environ[API_KEY_ENV] = api_key
    uvicorn.run(
        "nanosearch.server.http_app:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        http=HeaderDeadline,
        limit_concurrency=limits.max_connections,
    )
