"""MuSiQue-Ans for training: questions with hop counts, and the report's difficulty mixture."""

from __future__ import annotations

import json
import logging
import random
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nanosearch.data.source import is_local_file, load_hub_rows, looks_like_missing_file
from nanosearch.errors import NanosearchError

# The Jan-nano report's mixture: 10,325 questions by number of hops.
MIXTURE = {2: 7000, 3: 2150, 4: 1175}
HOP_PATTERN = re.compile(r"^(\d)hop")

logger = logging.getLogger(__name__)


def hop_count(question_id: str) -> int:
    """The number of hops MuSiQue encodes at the start of an id (``2hop__…``, ``3hop1__…``)."""
    match = HOP_PATTERN.match(str(question_id))
    if not match:
        raise NanosearchError(f"MuSiQue id {question_id!r} does not start with a hop count")
    return int(match.group(1))


def example_of(record: dict[str, Any]) -> dict[str, Any]:
    """A training example: id, question, answer, aliases, hops, and the supporting paragraphs'
    titles (for checks of what the search engine retrieves)."""
    for key in ("id", "question", "answer"):
        if not isinstance(record.get(key), str):
            raise ValueError(f"a MuSiQue record needs a string {key!r}")
    aliases = record.get("answer_aliases") or []
    return {
        "id": record["id"],
        "question": record["question"],
        "answer": record["answer"],
        "answer_aliases": [alias for alias in aliases if isinstance(alias, str)],
        "hops": hop_count(record["id"]),
        "supporting_titles": [
            p.get("title") for p in record.get("paragraphs") or [] if p.get("is_supporting")
        ],
    }


def load_musique(source: str | Path, split: str = "train") -> list[dict[str, Any]]:
    """Answerable MuSiQue questions from the official JSONL (a local path) or a hub dataset id.

    Unanswerable questions (MuSiQue-Full) are left out; a malformed line is an error naming it.
    """
    if is_local_file(source):
        rows = []
        with Path(source).open() as lines:
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                try:
                    rows.append((number, json.loads(line)))
                except json.JSONDecodeError as error:
                    raise NanosearchError(
                        f"{source}: line {number}: invalid JSON ({error})"
                    ) from None
    elif looks_like_missing_file(source, (".jsonl", ".json")):
        raise NanosearchError(f"MuSiQue file not found: {source}")
    else:
        rows = list(enumerate(load_hub_rows(str(source), split), start=1))
    examples = []
    for number, record in rows:
        if record.get("answerable") is False:
            continue
        try:
            examples.append(example_of(record))
        except ValueError as error:
            raise NanosearchError(f"{source}: record {number}: {error}") from None
    if not examples:
        raise NanosearchError(f"{source}: no answerable MuSiQue question found")
    return examples


@dataclass(frozen=True, slots=True)
class Mixture:
    examples: list[dict[str, Any]]
    counts: dict[int, int]
    scaled: bool
    message: str


def scaled_counts(available: dict[int, int], wanted: dict[int, int]) -> dict[int, int]:
    """The largest counts in the proportions of ``wanted`` that ``available`` can supply."""
    total_wanted = sum(wanted.values())
    total = total_wanted
    while total > 0:
        counts = {hops: round(total * count / total_wanted) for hops, count in wanted.items()}
        if all(counts[hops] <= available.get(hops, 0) for hops in wanted):
            return counts
        total -= 1
    return {hops: 0 for hops in wanted}


def build_mixture(
    examples: list[dict[str, Any]], mixture: dict[int, int] | None = None, seed: int = 0
) -> Mixture:
    """Sample the report's 7,000 / 2,150 / 1,175 mixture (or ``mixture``), seeded. With fewer
    questions of some hop count, the same proportions at the largest size available."""
    wanted = dict(mixture or MIXTURE)
    by_hops: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for example in examples:
        by_hops[example["hops"]].append(example)
    available = {hops: len(by_hops[hops]) for hops in wanted}
    counts = wanted
    scaled = any(available[hops] < count for hops, count in wanted.items())
    if scaled:
        counts = scaled_counts(available, wanted)
        if not sum(counts.values()):
            raise NanosearchError(f"cannot build the mixture: available by hops {available}")
    rng = random.Random(seed)
    chosen = []
    for hops in sorted(counts):
        chosen += rng.sample(sorted(by_hops[hops], key=lambda e: e["id"]), counts[hops])
    rng.shuffle(chosen)
    describe = ", ".join(f"{counts[h]:,} {h}-hop" for h in sorted(counts))
    if scaled:
        have = ", ".join(f"{available[h]:,} {h}-hop" for h in sorted(available))
        asked = " / ".join(f"{wanted[h]:,}" for h in sorted(wanted))
        message = (
            f"only {have} questions available, fewer than the mixture's {asked}: "
            f"kept its proportions with {sum(counts.values()):,} questions ({describe})"
        )
        logger.warning(message)
    else:
        message = f"mixture of {sum(counts.values()):,} questions ({describe})"
    return Mixture(chosen, counts, scaled, message)


def split_dev(
    examples: list[dict[str, Any]], dev_fraction: float = 0.1, seed: int = 0
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A seeded held-out dev split (at least one example when there are two or more)."""
    if not 0 < dev_fraction < 1:
        raise NanosearchError(f"dev_fraction must be between 0 and 1, got {dev_fraction}")
    order = sorted(examples, key=lambda e: e["id"])
    random.Random(seed).shuffle(order)
    size = max(1, round(len(order) * dev_fraction)) if len(order) > 1 else 0
    return order[size:], order[:size]
