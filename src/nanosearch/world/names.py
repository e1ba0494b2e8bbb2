"""Invented names: pronounceable, seeded, and unknown to any pretrained model.

Person names are drawn from small pools of given names and family names, so several people
share a word: a query with only one of the two words finds the wrong person among the top hits.

A world's names are invented for it, or drawn from the :func:`lexicon`: one fixed set of
invented words every lexicon world draws from, each with facts of its own in every world. The
shared tokenizer learns each lexicon word as one token, so a base pretrained on other worlds
reads a name it saw in none of its facts, and copying it is copying one token.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Mapping, Sequence

ONSETS = (
    "b",
    "br",
    "d",
    "dr",
    "f",
    "g",
    "gr",
    "k",
    "kr",
    "l",
    "m",
    "n",
    "p",
    "r",
    "s",
    "st",
    "t",
    "th",
    "v",
    "z",
    "qu",
    "sh",
    "h",
    "j",
)
VOWELS = ("a", "e", "i", "o", "u", "ae", "ei", "ou", "ia")
CODAS = ("", "", "n", "r", "l", "s", "th", "m", "nd", "rk", "x")
ENDINGS = {
    "given": ("", "a", "o", "en", "is"),
    "family": ("", "ek", "ani", "ov", "ley", "ard"),
    "city": ("", "ton", "ford", "by", "holm", "ora"),
    "country": ("ia", "and", "ar", "esh", "ovia", "ica"),
    "river": ("", "a", "en", "is"),
    "organization": ("", "", "um", "ex"),
}


LEXICON_SEED = 123_456
# words per kind: enough for a world of 1,502 entities (generator.lexicon_capacity), each word
# in about two fifths of the 600-entity worlds; every one is a token of the shared tokenizer
LEXICON_SIZES = {
    "country": 120,
    "city": 330,
    "river": 180,
    "given": 60,
    "family": 90,
    "organization": 180,
}


def word(rng: random.Random, syllables: int, ending: str = "") -> str:
    parts = [rng.choice(ONSETS) + rng.choice(VOWELS) + rng.choice(CODAS) for _ in range(syllables)]
    return ("".join(parts) + ending).capitalize()


class NameMaker:
    """Unique invented words per kind; no word is used by two kinds."""

    def __init__(
        self, rng: random.Random, lexicon: Mapping[str, Sequence[str]] | None = None
    ) -> None:
        self.rng = rng
        self.lexicon = lexicon
        self.used: set[str] = set()

    def make(self, kind: str, syllables: tuple[int, int] = (1, 2)) -> str:
        if self.lexicon is not None:
            return self.draw(kind)
        for _ in range(10_000):
            candidate = word(self.rng, self.rng.randint(*syllables), self.rng.choice(ENDINGS[kind]))
            if 4 <= len(candidate) <= 11 and candidate.lower() not in self.used:
                self.used.add(candidate.lower())
                return candidate
        raise RuntimeError("ran out of invented names: lower the number of entities")

    def pool(self, kind: str, size: int) -> list[str]:
        return [self.make(kind) for _ in range(size)]

    def draw(self, kind: str) -> str:
        """An unused word of the lexicon's ``kind``."""
        assert self.lexicon is not None
        free = [w for w in self.lexicon[kind] if w.lower() not in self.used]
        if not free:
            raise ValueError(
                f"the lexicon has {len(self.lexicon[kind])} {kind} names and this world needs "
                "more: lower the number of entities"
            )
        choice = self.rng.choice(free)
        self.used.add(choice.lower())
        return choice


@functools.cache
def lexicon() -> dict[str, tuple[str, ...]]:
    """The fixed invented words lexicon worlds draw their names from, by kind."""
    maker = NameMaker(random.Random(LEXICON_SEED))
    return {kind: tuple(maker.pool(kind, size)) for kind, size in LEXICON_SIZES.items()}
