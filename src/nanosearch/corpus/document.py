"""The one document schema every corpus reader produces."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True, slots=True)
class Document:
    """A passage of the corpus: what the search engine indexes and ``fetch`` returns.

    ``url`` is the document's address when the source has one (a web page, a Wikipedia
    article); it is ``None`` for corpora that have none, such as MuSiQue paragraphs.
    """

    id: str
    title: str
    text: str
    url: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        return asdict(self)

    @property
    def contents(self) -> str:
        """The text that is indexed: title and body, as in Search-R1's ``"Title"\\ntext``."""
        return f"{self.title}\n{self.text}" if self.title else self.text
