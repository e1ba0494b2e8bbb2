"""Format-only transcripts: the protocol's syntax without the skill.

:class:`FormatOnlyPolicy` plays episodes through the real environment (the real system prompt,
engine, result rendering and token framing) but chooses its content at random: each query is a
random span of the question's words or a name seen in earlier results, a fetch reads a random
result, and the final answer is drawn **uniformly** from the names and values the results
showed. The gold answer is never looked at. A model pretrained on these transcripts knows how
to call tools and answer, and answers about as well as chance: what makes it a searcher has to
come from reinforcement learning.

Where the answer is drawn from is :data:`ANSWER_DRAWS`' choice. With ``"top"`` every answer is a
copy of what the model last read (the top entry of the latest result that showed one), so the
one rule a base can learn about answers is to copy from its results; with ``"results"`` an
episode whose searches all came back empty answers with any name of the world, and a base learns
to make names up as well.

Where a further search's name is drawn from is :data:`FOLLOW_DRAWS`' choice. With ``"top"`` it
is a name the passage just read holds and the question does not: a reader following a link,
which is how a second hop is found (the bridge entity of a two-hop question is one of the few
names of its subject's passage, and one of the dozens of all the results).

The same policy with ``oracle_queries`` searches exactly the titles of the question's
supporting passages and still answers uniformly: the accuracy of a uniform answerer given
perfect retrieval, the bound a format-only base should stay under.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from nanosearch.env.policy import Generation, GenerationRequest
from nanosearch.tools import shown_ids

RESULT = re.compile(r"<result>\n(.*?)\n</result>", re.DOTALL)
WORD = re.compile(r"[A-Za-z0-9']+")
TOP_ENTRY = re.compile(r"\n1\. (.*?)(?=\n\d+\. |\Z)", re.DOTALL)
AnswerDraw = Literal["results", "top"]
FollowDraw = Literal["results", "top"]
ANSWER_DRAWS: dict[AnswerDraw, str] = {
    "results": "an answer drawn uniformly from the names and values in the results (any name of "
    "the world when every search came back empty)",
    "top": "an answer drawn uniformly from the names and values of the top entry of the latest "
    "result that showed one (the question's names when none did; an empty result with turns "
    "left is followed by another search)",
}

FOLLOW_DRAWS: dict[FollowDraw, str] = {
    "results": "names seen in earlier results",
    "top": "names the top entry of the latest result holds and the question does not",
}


@dataclass(frozen=True)
class FormatOnlySettings:
    answer_after_call: float = 0.5  # chance to answer once at least one search was made
    fetch: float = 0.15  # chance that a further call is a fetch
    query_from_results: float = 0.5  # chance that a further search names something seen
    max_query_words: int = 4
    question_name: float = 0.0  # chance that a query from the question is one of its names
    answer_from: AnswerDraw = "results"  # a key of ANSWER_DRAWS
    answer_unasked: bool = False  # never answer with a name or value the question holds
    follow_from: FollowDraw = "results"  # a key of FOLLOW_DRAWS

    def __post_init__(self) -> None:
        for name, draws in (("answer_from", ANSWER_DRAWS), ("follow_from", FOLLOW_DRAWS)):
            if getattr(self, name) not in draws:
                choices = ", ".join(draws)
                raise ValueError(f"{name} must be one of {choices}, not {getattr(self, name)!r}")


class MentionFinder:
    """Finds the world's names and values (years, occupations) in a text."""

    def __init__(self, mentions: Sequence[str]) -> None:
        ordered = sorted(set(mentions), key=len, reverse=True)
        self.pattern = re.compile(r"\b(?:" + "|".join(map(re.escape, ordered)) + r")\b")
        self.names = {m for m in mentions if not m.isdigit()}

    def find(self, text: str) -> list[str]:
        return list(dict.fromkeys(self.pattern.findall(text)))

    def names_in(self, text: str) -> list[str]:
        """The names (not the years or other values) ``text`` mentions, in order."""
        return [m for m in self.find(text) if m in self.names]


class FormatOnlyPolicy:
    """A :class:`~nanosearch.env.Policy` that writes random protocol turns (see the module doc)."""

    def __init__(
        self,
        tokenizer: Any,
        examples: Sequence[dict[str, Any]],
        finder: MentionFinder,
        *,
        max_turns: int,
        seed: int = 0,
        settings: FormatOnlySettings | None = None,
        titles: dict[str, str] | None = None,
    ) -> None:
        self.tokenizer = tokenizer
        self.examples = examples
        self.finder = finder
        self.max_turns = max_turns
        self.rng = random.Random(seed)
        self.settings = settings or FormatOnlySettings()
        self.titles = titles  # oracle queries when given: supporting id -> title
        self.end_id = tokenizer.convert_tokens_to_ids("<|im_end|>")
        self.answer_pools: dict[int, list[str]] = {}  # episode -> the candidates it drew from

    def generate(self, requests: list[GenerationRequest]) -> list[Generation]:
        generations = []
        for request in requests:
            text = self.turn_text(request)
            ids = list(self.tokenizer.encode(text, add_special_tokens=False))
            finish = "stop"
            if text.startswith("<answer>"):
                ids.append(self.end_id)
                finish = "eos"
            ids = ids[: request.max_new_tokens]
            generations.append(
                Generation(ids, self.tokenizer.decode(ids), finish)  # type: ignore[arg-type]
            )
        return generations

    def turn_text(self, request: GenerationRequest) -> str:
        example = self.examples[request.episode]
        seen = RESULT.findall(self.tokenizer.decode(request.input_ids))
        if self.titles is not None:
            return self.oracle_turn(request, example, seen)
        settings, rng = self.settings, self.rng
        last_turn = request.turn >= self.max_turns - 1
        answers = request.turn > 0 and (last_turn or rng.random() < settings.answer_after_call)
        if answers and (last_turn or self.read_something(seen)):
            return self.answer(request.episode, seen)
        ids = shown_ids(seen[-1]) if seen else []
        if ids and rng.random() < settings.fetch:
            return call("fetch", {"id": rng.choice(ids)})
        names = self.follow_names(request.episode, seen)
        if names and rng.random() < settings.query_from_results:
            return call("web_search", {"query": rng.choice(names)})
        return call("web_search", {"query": self.question_query(example["question"])})

    def oracle_turn(
        self, request: GenerationRequest, example: dict[str, Any], seen: list[str]
    ) -> str:
        supporting, turn = example["supporting_ids"], request.turn
        if turn < len(supporting) and turn < self.max_turns - 1:
            assert self.titles is not None
            return call("web_search", {"query": self.titles[supporting[turn]]})
        return self.answer(request.episode, seen)

    def follow_names(self, episode: int, seen: list[str]) -> list[str]:
        """The names a further search may name (:data:`FOLLOW_DRAWS`), drawn from by count."""
        if self.settings.follow_from == "results":
            return [m for text in seen for m in self.finder.names_in(text)]
        asked = self.asked(episode)
        for text in reversed(seen):
            if mentions := self.top_mentions(text):
                return [m for m in mentions if m in self.finder.names and m not in asked]
        return []

    def asked(self, episode: int) -> set[str]:
        """The names and values the episode's question itself holds."""
        return set(self.finder.find(self.examples[episode]["question"]))

    def question_query(self, question: str) -> str:
        """One of the question's names with chance ``question_name``, else a random span of
        its words. Either way the query comes from the question, not from its answer."""
        chance = self.settings.question_name
        if chance > 0:  # draws nothing at 0, so transcripts made before the setting are kept
            names = self.finder.names_in(question)
            if names and self.rng.random() < chance:
                return self.rng.choice(names)
        return self.question_span(question)

    def question_span(self, question: str) -> str:
        words = WORD.findall(question) or [question]
        length = self.rng.randint(1, min(self.settings.max_query_words, len(words)))
        start = self.rng.randint(0, len(words) - length)
        return " ".join(words[start : start + length])

    def answer(self, episode: int, seen: list[str]) -> str:
        if self.settings.answer_from == "top":
            candidates = self.top_candidates(episode, seen)
        else:
            candidates = [m for text in seen for m in self.finder.find(text)]
            candidates = list(dict.fromkeys(candidates)) or sorted(self.finder.names)
        if self.settings.answer_unasked:
            candidates = self.unasked(episode, candidates)
        self.answer_pools[episode] = candidates
        return f"<answer>{self.rng.choice(candidates)}</answer>"

    def unasked(self, episode: int, candidates: list[str]) -> list[str]:
        """The candidates the question does not itself name: any reader knows that "Where was
        X born?" is not answered "X". This looks at the question only, never at its answer,
        and says nothing about which of the others is right; when the question names every
        candidate, they all stay."""
        asked = self.asked(episode)
        return [c for c in candidates if c not in asked] or candidates

    def read_something(self, seen: list[str]) -> bool:
        """Whether an answer may follow: with ``answer_from="top"``, only a result that showed
        something (an empty one is followed by another search while turns are left)."""
        return self.settings.answer_from != "top" or bool(seen and self.top_mentions(seen[-1]))

    def top_candidates(self, episode: int, seen: list[str]) -> list[str]:
        """The mentions of the latest result that shows any, else the question's names, else
        its words: always something in the episode's context."""
        for text in reversed(seen):
            if mentions := self.top_mentions(text):
                return mentions
        question = self.examples[episode]["question"]
        return self.finder.names_in(question) or list(dict.fromkeys(WORD.findall(question)))

    def top_mentions(self, text: str) -> list[str]:
        """The names and values of a result list's top entry, or of a fetched page; none of a
        result that shows no document (no hits, an error)."""
        if entry := TOP_ENTRY.search(text):
            return self.finder.find(entry.group(1))
        return self.finder.find(text) if shown_ids(text) else []


def call(name: str, arguments: dict[str, Any]) -> str:
    return "<tool>" + json.dumps({"name": name, "arguments": arguments}) + "</tool>"


def uniform_answer_chance(answers_seen: Sequence[tuple[list[str], list[str]]]) -> float:
    """Expected exact match of a uniform pick: for each (candidates, golds), the share of the
    distinct candidates that match a gold answer, averaged."""
    from nanosearch.rewards.answers import normalize_answer

    total = 0.0
    for candidates, golds in answers_seen:
        unique = list(dict.fromkeys(candidates))
        wanted = {normalize_answer(g) for g in golds}
        if unique:
            total += sum(normalize_answer(c) in wanted for c in unique) / len(unique)
    return total / len(answers_seen) if answers_seen else 0.0
