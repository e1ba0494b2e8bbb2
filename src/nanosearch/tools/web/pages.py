"""Reading a web page a search returned: one HTTP GET, within size, time and redirect limits,
turned into clean text by trafilatura.

No request is made here that the caller did not choose: :class:`~nanosearch.tools.web.WebSearch`
passes only addresses its own searches returned. A redirect is followed only to an http(s)
address on the same host, or on a host whose every address is public; pages on private,
loopback or link-local addresses are read only when the search API itself lives on one (a
self-hosted SearXNG, a test server), so a result can never point the server at its own network.
A host is resolved once per read and the request goes to the address that was checked (the
``Host`` header and TLS name stay the host's), so a name that answers a public address to the
check and a private one to the connection (DNS rebinding) reaches nothing private.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from nanosearch.tools.web.apis import USER_AGENT, UpstreamError

TEXT_TYPES = ("text/html", "application/xhtml+xml", "text/plain", "text/markdown")
TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True, slots=True)
class PageLimits:
    max_bytes: int = 2_000_000
    """Bytes of a page read at most; the rest is not downloaded."""
    seconds: float = 20.0
    """Seconds for the whole read, redirects included."""
    max_redirects: int = 5


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    location: str | None = None
    body: bytes = b""
    content_type: str = ""
    charset: str = "utf-8"


@dataclass(frozen=True, slots=True)
class WebPage:
    url: str
    title: str
    text: str


def is_private_host(host: str, unresolved: bool = True) -> bool:
    """Whether ``host`` is, or resolves to, an address that is not public (loopback, private,
    link-local, reserved). A name that does not resolve counts as ``unresolved`` (private, so
    not read, unless the caller says otherwise)."""
    addresses = host_addresses(host)
    if addresses is None:
        return unresolved
    return not all_public(addresses)


def all_public(addresses: list[ipaddress.IPv4Address | ipaddress.IPv6Address]) -> bool:
    return bool(addresses) and all(address.is_global for address in addresses)


def host_addresses(host: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address] | None:
    """The addresses ``host`` is or resolves to, in the resolver's order; None when it does not
    resolve."""
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
        except (OSError, UnicodeError):
            return None
        found = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
        return list(dict.fromkeys(found))


def pinned_request(url: str, address: str | None) -> tuple[str, dict[str, str], dict[str, Any]]:
    """The URL, headers and httpx extensions of a GET of ``url`` sent to ``address`` (None:
    to whatever the host resolves to when connecting), naming the host in ``Host`` and, over
    TLS, in the SNI name the certificate is checked against."""
    if address is None:
        return url, {}, {}
    parts = urlsplit(url)
    netloc = f"[{address}]" if ":" in address else address
    if parts.port is not None:
        netloc += f":{parts.port}"
    headers = {"Host": parts.netloc.rpartition("@")[2]}
    extensions = {"sni_hostname": parts.hostname} if parts.scheme == "https" else {}
    return urlunsplit(parts._replace(netloc=netloc)), headers, extensions


class PageReader:
    def __init__(
        self,
        limits: PageLimits | None = None,
        *,
        allow_private: bool = False,
        client: httpx.Client | None = None,
    ) -> None:
        self.limits = limits or PageLimits()
        self.allow_private = allow_private
        self.client = client or httpx.Client(
            headers={"User-Agent": USER_AGENT, "Accept": ", ".join(TEXT_TYPES)},
            follow_redirects=False,
            timeout=httpx.Timeout(self.limits.seconds, connect=min(5.0, self.limits.seconds)),
        )

    def read(self, url: str) -> WebPage:
        deadline = time.monotonic() + self.limits.seconds
        address = self.check_address(url)
        origin = urlsplit(url).hostname
        for _ in range(self.limits.max_redirects + 1):
            reply = self.get(url, deadline, address)
            if reply.location is None:
                if reply.status >= 400:
                    raise UpstreamError(f"{url} answered HTTP {reply.status}")
                return self.extract(url, reply)
            target = urljoin(url, reply.location)
            if urlsplit(target).hostname != origin:
                address = self.check_address(target)
                origin = urlsplit(target).hostname
            elif urlsplit(target).scheme not in ("http", "https"):
                raise UpstreamError(f"{url} redirects to {target[:200]!r}, which is not http(s)")
            url = target
        raise UpstreamError(f"more than {self.limits.max_redirects} redirects from the result")

    def check_address(self, url: str) -> str | None:
        """Refuse what is not an http(s) address on a public host; the one address of the
        host to connect to (None when private hosts are allowed: the connection resolves it)."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UpstreamError(f"{url[:200]!r} is not an http(s) address")
        if self.allow_private:
            return None
        addresses = host_addresses(parts.hostname)
        if addresses is None or not all_public(addresses):
            raise UpstreamError(
                f"{parts.hostname} is not a public address; pages on private networks are not read"
            )
        return str(addresses[0])

    def get(self, url: str, deadline: float, address: str | None = None) -> Reply:
        """One GET, sent to ``address`` when given: a redirect's target, or the body (at
        most ``max_bytes``)."""
        chunks, size = [], 0
        target, headers, extensions = pinned_request(url, address)
        try:
            with self.client.stream(
                "GET", target, headers=headers, extensions=extensions
            ) as response:
                location = response.headers.get("location")
                if response.is_redirect and location:
                    return Reply(response.status_code, location)
                content_type = response.headers.get("content-type", "text/html")
                for chunk in response.iter_bytes():
                    chunks.append(chunk)
                    size += len(chunk)
                    if size >= self.limits.max_bytes:
                        break
                    if time.monotonic() > deadline:
                        raise UpstreamError(f"{url} took over {self.limits.seconds:g} s to read")
                return Reply(
                    response.status_code,
                    body=b"".join(chunks)[: self.limits.max_bytes],
                    content_type=content_type.split(";")[0].strip().lower(),
                    charset=response.charset_encoding or "utf-8",
                )
        except httpx.TimeoutException:
            raise UpstreamError(f"{url} took over {self.limits.seconds:g} s to answer") from None
        except httpx.TransportError as error:
            raise UpstreamError(f"{url} could not be read: {error}") from None

    def extract(self, url: str, reply: Reply) -> WebPage:
        kind = reply.content_type
        if kind not in TEXT_TYPES:
            raise UpstreamError(f"{url} is {kind or 'of no stated type'}, not a text page")
        try:
            markup = reply.body.decode(reply.charset, errors="replace")
        except LookupError:
            markup = reply.body.decode("utf-8", errors="replace")
        if kind in ("text/plain", "text/markdown"):
            return WebPage(url, url, markup.strip())
        return WebPage(url, page_title(markup) or url, html_text(markup))


def page_title(markup: str) -> str:
    from html import unescape

    match = TITLE.search(markup[:200_000])
    return " ".join(unescape(match.group(1)).split())[:300] if match else ""


def html_text(markup: str) -> str:
    """The main text of a page (trafilatura), or all its visible text when trafilatura finds no
    main content (a short page)."""
    import trafilatura

    text = trafilatura.extract(
        markup, include_comments=False, include_tables=True, favor_recall=True
    )
    if not text:
        text = trafilatura.html2txt(markup) or ""
    return text.strip()
