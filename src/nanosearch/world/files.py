"""A world on disk: plain files the rest of the pipeline already reads.

::

    corpus.jsonl            one passage per entity: {id, title, text} (for ``nanosearch index``)
    questions/train.jsonl   {id, question, answer, answer_aliases, hops, relations, subject,
    questions/dev.jsonl      supporting_ids}; split by subject entity
    questions/test.jsonl
    tokenizer/              the world's BPE tokenizer (a standard tokenizer directory)
    world.json              seed, entity and question counts by kind, split and hop count

The tokenizer is the world's ``own`` (learnt from its text: every name one token) or the
``shared`` one, the same for every world: a shared-tokenizer world draws its names from the
fixed :func:`~nanosearch.world.names.lexicon`, and the tokenizer, learnt from the text of
:data:`SHARED_TOKENIZER_WORLDS` pretraining worlds of the lexicon, spells every lexicon word as
one token. A base pretrained on other worlds then reads this world's names as tokens it knows
with other facts, and copies a name from a question or a result by copying one token per word.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, get_args

from nanosearch.errors import NanosearchError
from nanosearch.files import write_json, write_jsonl
from nanosearch.world.generator import (
    PRETRAINING_SEED,
    SPLITS,
    World,
    generate_world,
    hop_counts,
)
from nanosearch.world.transcripts import call

WORLD_FILE = "world.json"
CORPUS_FILE = "corpus.jsonl"
TOKENIZER_DIR = "tokenizer"
TokenizerKind = Literal["own", "shared"]
TOKENIZERS: tuple[str, ...] = get_args(TokenizerKind)
NAMES = {"own": "invented", "shared": "lexicon"}  # where a world's names come from, by tokenizer
SHARED_TOKENIZER_WORLDS = 16
SHARED_TOKENIZER_ENTITIES = 600


def questions_path(directory: Path, split: str) -> Path:
    return directory / "questions" / f"{split}.jsonl"


def tokenizer_texts(world: World) -> Iterator[str]:
    """What the world's tokenizer learns from: the passages, questions and answers, and the
    protocol's text as the environment writes it (the system prompt, tool calls, results)."""
    from nanosearch.protocol import system_prompt
    from nanosearch.search.hit import Hit, make_snippet
    from nanosearch.tools import format_hits, format_page, page_of, tool_specs

    prompt = system_prompt(tool_specs())
    for _ in range(50):
        yield prompt
    for document in world.documents():
        yield document.title + "\n" + document.text
        hit = Hit(document.id, document.title, make_snippet(document.text), 1.0)
        yield format_hits(document.title, [hit])
        yield format_page(page_of(document, 0, 4000))
        yield call("fetch", {"id": document.id})
    for rows in world.questions.values():
        for row in rows:
            yield row["question"]
            yield call("web_search", {"query": row["question"]})
            yield f"<answer>{row['answer']}</answer>"


def shared_tokenizer_texts() -> Iterator[str]:
    """What the shared tokenizer learns from: the text of the first pretraining worlds."""
    for offset in range(SHARED_TOKENIZER_WORLDS):
        yield from tokenizer_texts(
            generate_world(
                PRETRAINING_SEED + offset, SHARED_TOKENIZER_ENTITIES, names=NAMES["shared"]
            )
        )


def check_tokenizer(tokenizer: str) -> None:
    if tokenizer not in TOKENIZERS:
        raise NanosearchError(
            f"tokenizer must be one of {', '.join(TOKENIZERS)}, not {tokenizer!r}"
        )


def write_world(
    world: World, out: str | Path, vocab_size: int | None = None, tokenizer: str = "own"
) -> Path:
    from nanosearch.world.tokenizer import DEFAULT_VOCAB, train_tokenizer

    check_tokenizer(tokenizer)
    if world.names != NAMES[tokenizer]:
        raise NanosearchError(
            f"the {tokenizer} tokenizer is for worlds of {NAMES[tokenizer]} names, and this "
            f"world's names are {world.names}"
        )
    out = Path(out)
    write_jsonl(out / CORPUS_FILE, world.passages)
    for split in SPLITS:
        write_jsonl(questions_path(out, split), world.questions[split])
    texts = tokenizer_texts(world) if tokenizer == "own" else shared_tokenizer_texts()
    train_tokenizer(texts, out / TOKENIZER_DIR, vocab_size or DEFAULT_VOCAB)
    kinds = Counter(e.kind for e in world.entities.values())
    description = {
        "seed": world.seed,
        "entities": len(world.entities),
        "entities_by_kind": dict(sorted(kinds.items())),
        "questions": {s: len(world.questions[s]) for s in SPLITS},
        "questions_by_hops": {s: hop_counts(world.questions[s]) for s in SPLITS},
        "mentions": world.mentions(),
        "titles": {e.id: e.name for e in world.entities.values()},
    }
    if tokenizer != "own":  # recorded only then: an own-tokenizer world's files stay as they were
        description["tokenizer"] = tokenizer
        description["names"] = world.names
    write_json(out / WORLD_FILE, description, indent=1)
    return out


def build_world(seed: int, entities: int, out: str | Path, tokenizer: str = "own") -> Path:
    """Generate and write a world; an existing world of the same seed, size and tokenizer is
    kept."""
    check_tokenizer(tokenizer)
    out = Path(out)
    found = read_description(out) if (out / WORLD_FILE).is_file() else None
    if found is not None:
        held = (found["seed"], found["entities"], found.get("tokenizer", "own"))
        if held == (seed, entities, tokenizer):
            return out
        raise NanosearchError(
            f"{out} holds a world of seed {held[0]} with {held[1]} entities and the {held[2]} "
            f"tokenizer, not seed {seed} with {entities} and the {tokenizer} tokenizer: choose "
            "another directory"
        )
    return write_world(
        generate_world(seed, entities, names=NAMES[tokenizer]), out, tokenizer=tokenizer
    )


def read_description(directory: str | Path) -> dict[str, Any]:
    path = Path(directory) / WORLD_FILE
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise NanosearchError(
            f"no world at {directory} (make one with `nanosearch world`)"
        ) from None
    except json.JSONDecodeError as error:
        raise NanosearchError(f"{path}: not valid JSON ({error})") from None


def read_questions(directory: str | Path, split: str) -> list[dict[str, Any]]:
    from nanosearch.data.qa import load_qa_jsonl

    return load_qa_jsonl(questions_path(Path(directory), split))
