"""What the tools say: result lists a model reads easily, and documents paged to fit a context."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from nanosearch.corpus import Document
from nanosearch.errors import QueryError
from nanosearch.search import Hit

SHOWN_ID = re.compile(r"^\s*id: (\S+)", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Page:
    """A slice ``text`` of a document starting at ``offset``; ``next_offset`` is ``None`` on the
    last page."""

    id: str
    title: str
    url: str | None
    text: str
    offset: int
    next_offset: int | None
    total_chars: int

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def page_of(document: Document, offset: int, max_chars: int) -> Page:
    total = len(document.text)
    if offset < 0:
        raise QueryError(f"offset must be 0 or more, got {offset}")
    if offset > 0 and offset >= total:
        raise QueryError(f"offset {offset} is past the end of the document ({total} characters)")
    end = min(total, offset + max_chars)
    return Page(
        id=document.id,
        title=document.title,
        url=document.url,
        text=document.text[offset:end],
        offset=offset,
        next_offset=end if end < total else None,
        total_chars=total,
    )


def format_hits(query: str, hits: list[Hit]) -> str:
    """Search results as numbered entries: title, the reference to fetch, a snippet."""
    if not hits:
        return f'No results for "{query}". Try fewer or different keywords.'
    lines = [f'Results for "{query}":']
    for rank, hit in enumerate(hits, start=1):
        lines.append(f"\n{rank}. {hit.title}")
        lines.append(f"   id: {hit.id}" + (f"  url: {hit.url}" if hit.url else ""))
        lines.append(f"   {hit.snippet}")
    return "\n".join(lines)


def shown_ids(text: str) -> list[str]:
    """The document ids a rendered result list or page shows (each ``id:`` line), in order."""
    return SHOWN_ID.findall(text)


def format_page(page: Page) -> str:
    """A document page with its position, so the model knows whether to read on."""
    end = page.offset + len(page.text)
    where = f"characters {page.offset}-{end} of {page.total_chars}"
    more = (
        f"; more follows: fetch again with offset={page.next_offset}"
        if page.next_offset is not None
        else "; end of document"
    )
    header = [f"Title: {page.title}", f"id: {page.id}" + (f"  url: {page.url}" if page.url else "")]
    return "\n".join([*header, f"({where}{more})", "", page.text])
