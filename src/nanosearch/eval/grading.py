"""Grading a SimpleQA prediction: CORRECT, INCORRECT or NOT_ATTEMPTED.

The offline rule grader applies SimpleQA's rules without a model: an abstention is not
attempted; an answer that fully contains the gold target is correct, unless it also offers
other candidates (a hedge between alternatives, or a contradiction), which is incorrect;
numbers are compared to the gold's precision, dates by their parts, and a name may be given by
its distinctive last part ("Beethoven" for "Ludwig van Beethoven") but not by a first name.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from nanosearch.rewards.answers import normalize_answer

Grade = Literal["correct", "incorrect", "not_attempted"]
GRADES: tuple[Grade, ...] = ("correct", "incorrect", "not_attempted")

ABSTENTIONS = re.compile(
    r"\b(i\s+(do\s+not|don'?t|cannot|can'?t|could\s*n[o']t|am\s+unable\s+to|was\s+unable\s+to)"
    r"\s+(know|find|determine|say|tell|answer|confirm|verify|be\s+sure)"
    r"|do(es)?\s*n[o']t\s+(contain|include|mention|say|give)|i'?m\s+not\s+sure"
    r"|not\s+enough\s+information|no\s+(reliable\s+)?information"
    r"|unable\s+to\s+(find|determine|answer)|cannot\s+be\s+determined|unknown|no\s+answer"
    r"|i\s+have\s+no\s+idea|no\s+idea)\b",
    re.IGNORECASE,
)
ALTERNATIVES = re.compile(
    r"\b(either\b.+\bor|or\s+(possibly|maybe|perhaps)|(possibly|maybe|perhaps)\s+.+\bor\b"
    r"|not\s+sure\s+(if|whether)\s+.+\bor\b)",
    re.IGNORECASE,
)
OR_SPLIT = re.compile(r"\s*(?:,|;|/|\bor\b|\band/or\b)\s*", re.IGNORECASE)
NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")
MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}
DATE_WORDS = re.compile(r"[a-z]+|\d+")


@dataclass(frozen=True, slots=True)
class GradeResult:
    grade: Grade
    grader: str
    reason: str = ""
    flagged: bool = False


def grade_offline(prediction: str | None, gold: str, aliases: Sequence[str] = ()) -> GradeResult:
    """Grade one prediction against the gold answer by rule (see the module doc); it is
    correct when it is correct against the gold answer or any of its aliases."""
    grade, reason = _grade(prediction or "", gold)
    for alias in aliases:
        if grade == "correct":
            break
        alias_grade, alias_reason = _grade(prediction or "", alias)
        if alias_grade == "correct":
            grade, reason = alias_grade, f"{alias_reason} (alias {alias!r})"
    return GradeResult(grade, "offline", reason)


def _grade(prediction: str, gold: str) -> tuple[Grade, str]:
    text = prediction.strip()
    if not normalize_answer(text):
        return "not_attempted", "empty answer"
    abstains = ABSTENTIONS.search(text)
    matched, how = _matches(text, gold)
    if abstains and not matched:
        return "not_attempted", f"abstains ({abstains.group(0)!r})"
    if not matched:
        return "incorrect", "gold answer not found"
    if abstains:
        return "incorrect", "gives the answer and also says it does not know"
    if ALTERNATIVES.search(text) or _other_candidates(text, gold):
        return "incorrect", "hedges between the gold answer and other candidates"
    return "correct", how


def _matches(prediction: str, gold: str) -> tuple[bool, str]:
    gold_date, predicted_dates = _date(gold), _dates(prediction)
    if gold_date is not None and predicted_dates:
        if any(_same_date(gold_date, d) for d in predicted_dates):
            return True, "same date"
        return False, ""
    gold_number = _number(gold)
    if gold_number is not None and _is_numeric_answer(gold):
        if any(_same_number(gold_number, gold, p) for p in NUMBER.findall(prediction)):
            return True, "same number at the gold's precision"
        return False, ""
    guess, truth = normalize_answer(prediction), normalize_answer(gold)
    if f" {truth} " in f" {guess} ":
        return True, "contains the gold answer"
    gold_words, guess_words = truth.split(), guess.split()
    names_part = len(gold_words) > 1 and guess_words and set(guess_words) <= set(gold_words)
    if names_part and gold_words[-1] in guess_words and len(gold_words[-1]) > 2:
        return True, "gives the distinctive part of the name"
    return False, ""


def _other_candidates(prediction: str, gold: str) -> bool:
    """An answer listing candidates ("X or Y", "X, Y") where some are not the gold."""
    if _is_numeric_answer(gold) or _date(gold) is not None:
        return False
    if any(sep in gold.lower() for sep in (" or ", ",", ";", "/")):
        return False
    parts = [p for p in OR_SPLIT.split(prediction) if normalize_answer(p)]
    if len(parts) < 2 or not re.search(r"\bor\b", prediction, re.IGNORECASE):
        return False
    return any(not _matches(part, gold)[0] for part in parts)


def _is_numeric_answer(gold: str) -> bool:
    """A gold answer that is mostly a number (``"1,234"``, ``"3.5 km"``, ``"42%"``)."""
    words = normalize_answer(gold).split()
    return bool(words) and bool(NUMBER.fullmatch(gold.split()[0].rstrip("%"))) and len(words) <= 3


def _number(text: str) -> float | None:
    found = NUMBER.search(text)
    if not found:
        return None
    try:
        return float(found.group(0).replace(",", ""))
    except ValueError:
        return None


def _same_number(gold_value: float, gold_text: str, predicted: str) -> bool:
    """Equal when the prediction, rounded to the gold's last significant place, is the gold."""
    try:
        value = float(predicted.replace(",", ""))
    except ValueError:
        return False
    digits = NUMBER.search(gold_text).group(0).replace(",", "")  # type: ignore[union-attr]
    decimals = len(digits.partition(".")[2])
    if decimals:
        return round(value, decimals) == round(gold_value, decimals)
    trailing = len(digits) - len(digits.rstrip("0")) if gold_value else 0
    unit = 10**trailing
    return round(value / unit) * unit == gold_value


def _date(text: str) -> tuple[int | None, int | None, int | None] | None:
    dates = _dates(text)
    return dates[0] if len(dates) == 1 else None


def _dates(text: str) -> list[tuple[int | None, int | None, int | None]]:
    """(year, month, day) of each date written with a month name, or of a bare 4-digit year
    when the text is only that."""
    words = DATE_WORDS.findall(text.lower())
    found = []
    for i, word in enumerate(words):
        if word not in MONTHS or (word == "may" and not _has_number_near(words, i)):
            continue
        month = MONTHS[word]
        day = year = None
        for neighbour in words[max(0, i - 2) : i + 4]:
            if neighbour.isdigit():
                number = int(neighbour)
                if len(neighbour) == 4 and 1000 <= number <= 2100 and year is None:
                    year = number
                elif 1 <= number <= 31 and day is None:
                    day = number
        found.append((year, month, day))
    if not found and re.fullmatch(r"\s*(in\s+)?\d{4}\.?\s*", text.lower()):
        found.append((int(re.search(r"\d{4}", text).group(0)), None, None))  # type: ignore[union-attr]
    return found


def _has_number_near(words: list[str], i: int) -> bool:
    return any(w.isdigit() for w in words[max(0, i - 2) : i + 3])


def _same_date(
    gold: tuple[int | None, int | None, int | None],
    predicted: tuple[int | None, int | None, int | None],
) -> bool:
    """Every part the gold gives is given, and equal, by the prediction."""
    return all(g is None or g == p for g, p in zip(gold, predicted, strict=True))
