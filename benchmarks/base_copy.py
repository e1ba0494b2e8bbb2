"""Does a world base copy the question's names into its first query, as its transcripts do?

    python benchmarks/base_copy.py [--model DIR] [--seed 0] [--entities 600] [--questions 64]

Reinforcement learning only sharpens what the base already samples: on a one-hop question the
stage-1 group finds the supporting passage only when a query names the question's subject. The
format-only transcripts start a query with one of the question's name words about a fifth of
the time, or more with ``question_name`` (:meth:`FormatOnlyPolicy.question_query`, sampled here
with the base's own settings: the baseline). This measures
how much of that the base realises, at the token where its first query starts (the prompt and
the turn teacher-forced up to ``"query": "``), on one-hop questions of the train and dev splits:

- ``names``: the base's probability mass on the question's name words (the world's mentions
  found in the question), against the transcripts' share of first queries starting with one;
- ``swapped word``: the subject's name replaced by a frequent corpus word the question does not
  hold (``capital``, ``river``, ``engineer``, ...); a base that copies the question's words puts
  mass on it as it would on a name, a base that predicts its templates' words does not.

The ratio is the base's mass over the transcripts' share (1 when the base realises them).
"""

from __future__ import annotations

import argparse
import random
import tempfile
from pathlib import Path
from typing import Any

import torch

from nanosearch.assets import WORLD_BASES
from nanosearch.env import ChatFormat
from nanosearch.errors import NanosearchError
from nanosearch.models import load_model
from nanosearch.protocol import tool_protocol
from nanosearch.tools import tool_specs
from nanosearch.world import build_world, read_description, read_questions
from nanosearch.world.base import PRETRAINING_FILE, BaseSettings, base_record, check_base_world
from nanosearch.world.transcripts import (
    WORD,
    FormatOnlyPolicy,
    MentionFinder,
    call,
)

QUERY_START = call("web_search", {"query": ""})[: -len('"}}</tool>')]
SWAP_WORDS = ("capital", "river", "engineer", "city", "country", "school", "painter")
SPAN_DRAWS = 400


def first_words(policy: FormatOnlyPolicy, question: str) -> list[str]:
    return [WORD.findall(policy.question_query(question))[0] for _ in range(SPAN_DRAWS)]


def swapped(question: str, name: str, used: set[str]) -> tuple[str, str] | None:
    for word in SWAP_WORDS:
        if word not in used:
            return question.replace(name, word, 1), word
    return None


class FirstQuery:
    """The base's next-token distribution where its first query's text starts."""

    def __init__(self, model_dir: Path) -> None:
        self.model, self.tokenizer = load_model(str(model_dir))
        self.model.eval()
        self.chat = ChatFormat.from_tokenizer(self.tokenizer)
        self.system = tool_protocol("xml").system(tool_specs())

    def mass(self, question: str, words: set[str]) -> float:
        """The probability that the query starts with one of ``words``, each word's tokens
        teacher-forced (a tokenizer may spell a name in several pieces)."""
        messages = [
            {"role": "system", "content": self.system},
            {"role": "user", "content": question},
        ]
        ids = self.chat.prompt_ids(messages) + self.chat.encode(QUERY_START)
        spellings = [self.chat.encode(word) for word in words]
        width = max(map(len, spellings))
        rows = [ids + pieces + [ids[-1]] * (width - len(pieces)) for pieces in spellings]
        with torch.no_grad():  # right padding: no position a word is scored at sees it
            log_probs = self.model(torch.tensor(rows)).logits[:, len(ids) - 1 :].log_softmax(-1)
        total = 0.0
        for row, pieces in enumerate(spellings):
            total += float(log_probs[row, range(len(pieces)), pieces].sum().exp())
        return total


def measure(
    probe: FirstQuery, policy: FormatOnlyPolicy, rows: list[dict[str, Any]]
) -> dict[str, float]:
    base_names = share_names = base_swap = share_swap = 0.0
    swaps = 0
    for row in rows:
        question = row["question"]
        names = policy.finder.names_in(question)
        name_words = {w for name in names for w in WORD.findall(name)}
        share_names += sum(w in name_words for w in first_words(policy, question)) / SPAN_DRAWS
        base_names += probe.mass(question, name_words)
        change = swapped(question, names[0], set(WORD.findall(question))) if names else None
        if change is not None:
            text, word = change
            share_swap += sum(w == word for w in first_words(policy, text)) / SPAN_DRAWS
            base_swap += probe.mass(text, {word})
            swaps += 1
    n = len(rows)
    return {
        "names_base": base_names / n,
        "names_transcripts": share_names / n,
        "swap_base": base_swap / max(swaps, 1),
        "swap_transcripts": share_swap / max(swaps, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=WORLD_BASES / "lexicon-8-worlds")
    parser.add_argument(
        "--seed", type=int, default=0, help="the world measured on (a world base's own)"
    )
    parser.add_argument("--entities", type=int, default=600)
    parser.add_argument("--questions", type=int, default=64, help="one-hop questions per split")
    args = parser.parse_args()

    record = base_record(args.model)
    if record is None:
        raise SystemExit(f"{args.model} holds no {PRETRAINING_FILE}: pretrain_base did not make it")
    settings = BaseSettings(**record["settings"])
    with tempfile.TemporaryDirectory() as scratch:
        tokenizer = "shared" if settings.worlds else "own"
        world = build_world(args.seed, args.entities, Path(scratch) / "world", tokenizer)
        try:
            check_base_world(args.model, world)
        except NanosearchError as error:
            raise SystemExit(str(error)) from error
        finder = MentionFinder(read_description(world)["mentions"])
        splits = {split: read_questions(world, split) for split in ("train", "dev")}
    probe = FirstQuery(args.model)
    rng = random.Random(0)
    print(f"base {args.model.name}: where the first query starts, one-hop questions")
    print(f"{'split':6} {'measure':13} {'transcripts':>11} {'base':>8} {'ratio':>7}")
    for split, rows in splits.items():
        one_hop = [r for r in rows if r["hops"] == 1]
        rng.shuffle(one_hop)
        policy = FormatOnlyPolicy(
            probe.tokenizer, [], finder, max_turns=1, seed=0, settings=settings.draws()
        )
        found = measure(probe, policy, one_hop[: args.questions])
        for label, key in (("names", "names"), ("swapped word", "swap")):
            share, base = found[f"{key}_transcripts"], found[f"{key}_base"]
            ratio = base / share if share else float("nan")
            print(f"{split:6} {label:13} {share:11.3f} {base:8.3f} {ratio:7.2f}")


if __name__ == "__main__":
    from nanosearch.allocator import run_with_tuned_allocator

    run_with_tuned_allocator()  # the settings the nanosearch command runs with
    main()
