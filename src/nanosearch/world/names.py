"""Invented names: pronounceable, seeded, and unknown to any pretrained model.

Person names are drawn from small pools of given names and family names, so several people
share a word: a query with only one of the two words finds the wrong person among the top hits.
"""

from __future__ import annotations

import random

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


def word(rng: random.Random, syllables: int, ending: str = "") -> str:
    parts = [rng.choice(ONSETS) + rng.choice(VOWELS) + rng.choice(CODAS) for _ in range(syllables)]
    return ("".join(parts) + ending).capitalize()


class NameMaker:
    """Unique invented words per kind; no word is used by two kinds."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()

    def make(self, kind: str, syllables: tuple[int, int] = (1, 2)) -> str:
        for _ in range(10_000):
            candidate = word(self.rng, self.rng.randint(*syllables), self.rng.choice(ENDINGS[kind]))
            if 4 <= len(candidate) <= 11 and candidate.lower() not in self.used:
                self.used.add(candidate.lower())
                return candidate
        raise RuntimeError("ran out of invented names: lower the number of entities")

    def pool(self, kind: str, size: int) -> list[str]:
        return [self.make(kind) for _ in range(size)]
