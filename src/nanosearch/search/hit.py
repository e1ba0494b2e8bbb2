"""What a search returns for one ranked document."""

from __future__ import annotations

from dataclasses import asdict, dataclass

SNIPPET_CHARS = 200


@dataclass(frozen=True, slots=True)
class Hit:
    """One ranked result: enough to show the model a search-engine result line."""

    id: str
    title: str
    snippet: str
    score: float
    url: str | None = None

    def to_dict(self) -> dict[str, str | float | None]:
        return asdict(self)


def make_snippet(text: str, max_chars: int = SNIPPET_CHARS) -> str:
    """The opening of ``text`` with runs of whitespace collapsed, cut at a word boundary, with an
    ellipsis when shortened. Only the opening is looked at, so long documents cost no more."""
    window = text[: 2 * max_chars + 64]
    flat = " ".join(window.split())
    if len(flat) <= max_chars and len(window) == len(text):
        return flat
    cut = flat[:max_chars]
    space = cut.rfind(" ")
    if space > max_chars // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:") + "…"
