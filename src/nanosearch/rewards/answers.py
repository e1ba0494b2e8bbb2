"""Answer normalisation and matching, as in SQuAD/MuSiQue evaluation."""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Iterable
from typing import Any

ARTICLES = re.compile(r"\b(a|an|the)\b")
PUNCTUATION = str.maketrans("", "", string.punctuation + "‘’“”–—")


def normalize_answer(text: str) -> str:
    """Lower-case, drop punctuation and articles, collapse whitespace."""
    text = text.lower().translate(PUNCTUATION)
    return " ".join(ARTICLES.sub(" ", text).split())


def gold_answers(example: dict[str, Any]) -> list[str]:
    """The answer and its aliases, from MuSiQue (``answer``, ``answer_aliases``), Search-R1/NQ
    (``golden_answers``) or a plain ``answers`` list."""
    answers: list[str] = []
    for key in ("answer", "answers", "answer_aliases", "golden_answers"):
        value = example.get(key)
        if isinstance(value, str):
            answers.append(value)
        elif isinstance(value, Iterable):
            answers.extend(item for item in value if isinstance(item, str))
    return [answer for answer in answers if normalize_answer(answer)]


def exact_match(prediction: str, golds: list[str]) -> float:
    guess = normalize_answer(prediction)
    return float(any(guess == normalize_answer(gold) for gold in golds))


def cover_match(prediction: str, golds: list[str], max_words: int | None = None) -> float:
    """1.0 when a normalised gold answer occurs in the normalised prediction as whole words
    (cover exact match, the authors' substring match); predictions longer than ``max_words``
    words score 0, so listing every candidate earns nothing."""
    guess = normalize_answer(prediction).split()
    if not guess or (max_words is not None and len(guess) > max_words):
        return 0.0
    padded = f" {' '.join(guess)} "
    return float(any(f" {normalize_answer(gold)} " in padded for gold in golds))


def token_f1(prediction: str, golds: list[str]) -> float:
    """The best token-level F1 of the prediction against any gold answer."""
    guess = normalize_answer(prediction).split()
    best = 0.0
    for gold in golds:
        truth = normalize_answer(gold).split()
        common = sum((Counter(guess) & Counter(truth)).values())
        if common:
            precision, recall = common / len(guess), common / len(truth)
            best = max(best, 2 * precision * recall / (precision + recall))
    return best
