"""Does a world base's sampled episode hold what reinforcement learning needs to learn from?

    python benchmarks/base_rollouts.py [--model DIR] [--tokenizer own|shared] [--seed 0]
        [--entities 600] [--questions 32] [--samples 8] [--answer-from results|top]
        [--temperature 0.7] [--top-p 0.8] [--per-relation N]

DAPO learns only from a group whose rewards differ: in the correctness stage, a question one of
whose ``--samples`` episodes (the recipe's ``num_generations``) answers right. A format-only base
reaches a right answer in two steps, each of which its transcripts show: a query that finds the
supporting passage, then an answer copied from the results. This plays one-hop training questions
as training does (the world recipes' sampling, temperature 0.7 and top-p 0.8, their turns and
budget; ``--temperature`` and ``--top-p`` change the sampling) and counts, per episode:

- ``found``: the results hold a gold answer;
- ``copied``: the answer is a string of the results (of the answered episodes);
- ``correct``: exact match;
- ``signal``: per question, at least one of its samples is correct (a group dynamic sampling
  keeps).

``--per-relation N`` draws N one-hop questions of every relation instead of ``--questions`` in
all, and adds a table by relation: a relation whose answers the base never samples (``signal``
0 where the transcripts' is not) is one RL cannot learn from this base, whatever its rewards.

The baseline is the format-only transcripts' own distribution on the same questions and tools
(:func:`nanosearch.world.base.format_only_episodes`, with the base's recorded draws): what the
base would sample if it had learnt its transcripts exactly. The ratio is the base's figure over
the transcripts'; a base whose ``copied`` ratio is far under 1 answers with names it makes up,
and its groups rarely hold a right answer for RL to reinforce.

Why it does shows teacher-forced on the transcripts themselves, at their ``<answer>`` tag: the
base's probability of the drawn answer's first token and its mass on the first tokens of all
the candidates the answer was drawn from, against a uniform copy of those candidates (1 over
their number, and 1).
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from nanosearch.assets import WORLD_BASES
from nanosearch.corpus import read_corpus
from nanosearch.env import ChatFormat, EnvConfig, run_episodes
from nanosearch.env.policy import TransformersPolicy
from nanosearch.errors import NanosearchError
from nanosearch.models import load_model
from nanosearch.protocol import Episode
from nanosearch.rewards.answers import exact_match, gold_answers, normalize_answer
from nanosearch.search import build_index
from nanosearch.tools import EngineTools
from nanosearch.world import build_world, read_description, read_questions
from nanosearch.world.base import BaseSettings, base_record, check_base_world, format_only_episodes
from nanosearch.world.files import TOKENIZERS
from nanosearch.world.transcripts import ANSWER_DRAWS, MentionFinder

MEASURES = ("found", "copied", "correct", "signal")


def measure(episodes: list[Episode], examples: list[dict[str, Any]], samples: int) -> dict:
    """The four measures of episodes played ``samples`` times per question, in question order
    repeated (``examples`` holds each question once)."""
    found = copied = answered = 0
    right = [0] * len(examples)
    for number, episode in enumerate(episodes):
        question = number % len(examples)
        golds = gold_answers(examples[question])
        results = normalize_answer(
            " ".join(m["content"] for m in episode.messages if m["role"] == "tool")
        )
        found += any(normalize_answer(g) in results for g in golds)
        if episode.answer:
            answered += 1
            copied += normalize_answer(episode.answer) in results
            right[question] += exact_match(episode.answer, golds) > 0
    return {
        "found": found / len(episodes),
        "copied": copied / max(answered, 1),
        "correct": sum(right) / len(episodes),
        "signal": sum(r > 0 for r in right) / len(examples),
    }


def measure_by_relation(
    episodes: list[Episode], examples: list[dict[str, Any]], samples: int
) -> dict[str, dict]:
    """:func:`measure` of each one-hop relation's questions alone."""
    found = {}
    for relation, numbers in by_relation(examples).items():
        played = [episodes[k * len(examples) + n] for k in range(samples) for n in numbers]
        found[relation] = measure(played, [examples[n] for n in numbers], samples)
    return found


def answer_copy(
    model: Any, tokenizer: Any, transcripts: list[Any], pools: list[list[str]]
) -> tuple[list[float], list[float], int] | None:
    """Mean (drawn answer, candidates) probability at each transcript's ``<answer>`` tag and the
    same for a uniform copy of the candidates; None when ``<answer>`` is not one token."""
    import torch

    tag = tokenizer.convert_tokens_to_ids("<answer>")
    if tag in (None, tokenizer.unk_token_id):
        return None
    device = next(model.parameters()).device
    base, uniform, counted = [0.0, 0.0], [0.0, 1.0], 0
    with torch.no_grad():
        for episode, pool in zip(transcripts, pools, strict=True):
            ids = episode.prompt_ids + episode.completion_ids
            if not pool or tag not in ids:
                continue
            at = len(ids) - ids[::-1].index(tag)
            logits = model(input_ids=torch.tensor([ids[:at]], device=device)).logits[0, -1]
            probability = logits.float().softmax(-1)
            firsts = {tokenizer.encode(c, add_special_tokens=False)[0] for c in pool}
            base[0] += probability[ids[at]].item()
            base[1] += sum(probability[t].item() for t in firsts)
            uniform[0] += 1 / len(firsts)
            counted += 1
    if not counted:
        return None
    return [b / counted for b in base], [uniform[0] / counted, 1.0], counted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=WORLD_BASES / "lexicon-8-worlds")
    parser.add_argument(
        "--tokenizer",
        choices=TOKENIZERS,
        help="the world's tokenizer (default: the one the base's pretraining record implies)",
    )
    parser.add_argument(
        "--answer-from",
        choices=ANSWER_DRAWS,
        help="the transcripts' answer draw (default: the one the base's pretraining record holds)",
    )
    parser.add_argument("--seed", type=int, default=0, help="the world measured on")
    parser.add_argument("--entities", type=int, default=600)
    parser.add_argument("--questions", type=int, default=32, help="one-hop training questions")
    parser.add_argument("--samples", type=int, default=8, help="episodes per question")
    parser.add_argument(
        "--per-relation",
        type=int,
        help="one-hop training questions of each relation (instead of --questions in all), "
        "with a table by relation",
    )
    parser.add_argument("--max-turns", type=int, default=3)
    parser.add_argument("--temperature", type=float, default=0.7, help="rollout sampling")
    parser.add_argument("--top-p", type=float, default=0.8, help="rollout nucleus sampling")
    parser.add_argument("--context-tokens", type=int, default=1280)
    parser.add_argument("--turn-tokens", type=int, default=60)
    parser.add_argument(
        "--result-chars",
        type=int,
        help="characters of a search result (default: the base's pretraining result_chars)",
    )
    args = parser.parse_args()

    record = base_record(args.model)
    if record is None and args.tokenizer is None:
        raise SystemExit(
            f"{args.model} holds no pretraining record to tell its world's tokenizer: "
            "pass --tokenizer own or --tokenizer shared"
        )
    settings = BaseSettings(**record["settings"]) if record else BaseSettings()
    if args.answer_from:
        settings = replace(settings, answer_from=args.answer_from)
    tokenizer = args.tokenizer or ("shared" if settings.worlds else "own")
    config = EnvConfig(
        max_turns=args.max_turns,
        token_budget=args.context_tokens,
        result_chars=args.result_chars or settings.result_chars,
        turn_tokens=args.turn_tokens,
    )
    with tempfile.TemporaryDirectory() as scratch:
        world = build_world(args.seed, args.entities, Path(scratch) / "world", tokenizer)
        try:
            check_base_world(args.model, world)
        except NanosearchError as error:
            raise SystemExit(str(error)) from error
        engine = build_index(
            read_corpus(world / "corpus.jsonl", progress=False),
            Path(scratch) / "index",
            progress=False,
        )
        tools = EngineTools(engine)
        finder = MentionFinder(read_description(world)["mentions"])
        one_hop = [q for q in read_questions(world, "train") if q["hops"] == 1]
        examples = draw_questions(one_hop, args.questions, args.per_relation)
        played = examples * args.samples

        model, tok = load_model(str(args.model))
        model.eval()
        chat = ChatFormat.from_tokenizer(tok)
        started = time.perf_counter()
        transcripts, pools = format_only_episodes(
            played,
            tools,
            chat,
            finder,
            max_turns=args.max_turns,
            token_budget=args.context_tokens,
            result_chars=settings.result_chars,
            seed=0,
            settings=settings.draws(),
        )
        baseline_s = time.perf_counter() - started
        copy = answer_copy(model, tok, transcripts, pools)
        policy = TransformersPolicy(
            model,
            tok,
            temperature=args.temperature,
            top_p=args.top_p,
            end_token_id=chat.eos_token_id,
        )
        started = time.perf_counter()
        sampled = run_episodes(policy, tools, chat, played, config)
        base_s = time.perf_counter() - started

    expected, got = (
        measure(transcripts, examples, args.samples),
        measure(sampled, examples, args.samples),
    )
    print(
        f"base {args.model.name} on the {tokenizer}-tokenizer world of seed {args.seed}: "
        f"{len(examples)} one-hop training questions × {args.samples} episodes at temperature "
        f"{args.temperature:g}, top-p {args.top_p:g}"
    )
    print(f"{'measure':8} {'transcripts':>11} {'base':>8} {'ratio':>7}")
    for key in MEASURES:
        ratio = got[key] / expected[key] if expected[key] else float("nan")
        print(f"{key:8} {expected[key]:11.3f} {got[key]:8.3f} {ratio:7.2f}")
    if copy is not None:
        (drawn, candidates), (uniform, _), counted = copy
        print(f"\nteacher-forced at the <answer> tag of {counted} transcripts (first tokens)")
        print(f"{'probability of':16} {'uniform copy':>12} {'base':>8} {'ratio':>7}")
        print(f"{'the drawn answer':16} {uniform:12.3f} {drawn:8.3f} {drawn / uniform:7.2f}")
        print(f"{'any candidate':16} {1.0:12.3f} {candidates:8.3f} {candidates:7.2f}")
    if args.per_relation:
        print_by_relation(
            measure_by_relation(transcripts, examples, args.samples),
            measure_by_relation(sampled, examples, args.samples),
        )
    print(f"wall: transcripts {baseline_s:.0f} s, base {base_s:.0f} s")


def draw_questions(
    one_hop: list[dict[str, Any]], questions: int, per_relation: int | None
) -> list[dict[str, Any]]:
    rng = random.Random(0)
    if per_relation is None:
        return rng.sample(one_hop, min(questions, len(one_hop)))
    return [
        one_hop[number]
        for numbers in by_relation(one_hop).values()
        for number in rng.sample(numbers, min(per_relation, len(numbers)))
    ]


def by_relation(one_hop: list[dict[str, Any]]) -> dict[str, list[int]]:
    """The positions of the one-hop questions of each relation, relations sorted."""
    found: dict[str, list[int]] = {}
    for number, question in enumerate(one_hop):
        found.setdefault(question["relations"][0], []).append(number)
    return dict(sorted(found.items()))


def print_by_relation(expected: dict[str, dict], got: dict[str, dict]) -> None:
    print("\nby relation (one-hop): correct and signal, transcripts against the base")
    print(f"{'relation':14} {'correct':>8} {'base':>7} {'signal':>7} {'base':>7}")
    for relation, want in expected.items():
        have = got[relation]
        print(
            f"{relation:14} {want['correct']:8.3f} {have['correct']:7.3f} "
            f"{want['signal']:7.3f} {have['signal']:7.3f}"
        )


if __name__ == "__main__":
    from nanosearch.allocator import run_with_tuned_allocator

    run_with_tuned_allocator()  # the settings the nanosearch command runs with
    main()
