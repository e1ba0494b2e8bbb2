"""The format-only base model: a tiny Qwen3-architecture model pretrained by plain next-token
prediction on format-only transcripts (see :mod:`nanosearch.world.transcripts`).

This is not supervised fine-tuning on the task: no transcript was chosen with its gold answer,
no query was chosen to find it, and the answers are uniform draws from what the results showed.
The base learns the syntax (how to call a tool, read a result, close an answer) and the
language of the passages, the role a pretrained Qwen3-4B plays in the report; which query to
write and which value to answer must come from reinforcement learning.

A base learns from the transcripts of the task world's training questions (``worlds: 0``), or
from those of ``worlds`` fresh worlds and never the task world's: with names new in every
world, the only way to predict a name in a query or an answer is to copy it from the question or
a result, where one world's transcripts can be learnt by heart name by name.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import shutil
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from nanosearch.env.policy import shared_prefix
from nanosearch.errors import NanosearchError
from nanosearch.files import building
from nanosearch.world.files import read_description
from nanosearch.world.generator import PRETRAINING_SEED
from nanosearch.world.transcripts import (
    ANSWER_DRAWS,
    FOLLOW_DRAWS,
    AnswerDraw,
    FollowDraw,
    FormatOnlyPolicy,
    FormatOnlySettings,
    MentionFinder,
)

PRETRAINING_FILE = "pretraining.json"
COMPLETE_MARK = ".complete"
STATE_SUFFIX = ".pretraining.pt"  # beside the base directory while it is pretrained
SAVE_EVERY = 100  # pretraining steps between saves of the resumable state
COPY_SPAN = 40  # tokens of a copy span, said twice
CHUNK = 256  # episodes per environment batch (the tools take at most 512 queries at once)
LossOn = Literal["turns", "all"]
LOSS_ON: dict[LossOn, str] = {
    "turns": "the loss is on the model's own turns (the tokens the environment inserted are "
    "read, not learnt)",
    "all": "the loss is on every token after the system prompt: the question, the model's "
    "turns and the results (the passages' language, with names repeated and copied)",
}


@dataclass(frozen=True)
class BaseSettings:
    """The base model's shape and its pretraining."""

    hidden_size: int = 64
    intermediate_size: int = 256
    num_hidden_layers: int = 3
    num_attention_heads: int = 2
    num_key_value_heads: int = 1
    head_dim: int = 64
    transcripts_per_question: int = 1
    epochs: int = 1
    batch_size: int = 16
    learning_rate: float = 3e-3
    max_turns: int = 4
    token_budget: int = 1280  # the system prompt is about 470 of the world tokenizer's tokens
    result_chars: int = 600
    seed: int = 0
    worlds: int = 0  # fresh worlds to learn from instead of the task world (0: the task world)
    world_entities: int = 600  # entities per fresh world
    question_name: float = 0.0  # FormatOnlySettings.question_name
    answer_from: AnswerDraw = "results"  # FormatOnlySettings.answer_from
    answer_unasked: bool = False  # FormatOnlySettings.answer_unasked
    follow_from: FollowDraw = "results"  # FormatOnlySettings.follow_from
    learn: LossOn = "turns"  # the loss on the model's turns, or on "all" after the system prompt
    answer_weight: float = 1.0  # loss weight of the final answer's tokens, relative to the rest
    shorter_results: tuple[int, ...] = ()  # a first-epoch curriculum's result characters
    copy_spans: int = 0  # rows of a random token span said twice, added to every batch
    start_from: str = ""  # a shipped base's name or a base directory to continue (random: "")

    def __post_init__(self) -> None:
        check_result_budgets(self.shorter_results, self.result_chars)
        object.__setattr__(self, "shorter_results", tuple(self.shorter_results))  # from JSON

    def draws(self) -> FormatOnlySettings:
        """How the base's transcripts draw their queries and answers."""
        return FormatOnlySettings(
            question_name=self.question_name,
            answer_from=self.answer_from,
            answer_unasked=self.answer_unasked,
            follow_from=self.follow_from,
        )

    def result_budgets(self) -> list[int]:
        """The result characters the transcripts are played with, in equal shares, shortest
        first: ``shorter_results``, then ``result_chars``.

        A transcript's answer is a copy of one of the names and values its latest result's top
        entry showed, and a copy among five is learnt far more slowly than among one or two
        (``benchmarks/selective_copy.py --grade``). A result cut short shows few (the top
        entry's title and about one name at 100 characters): with ``shorter_results`` the first
        epoch learns the copy from short results first, the rule of the draw unchanged."""
        return [*self.shorter_results, self.result_chars]

    def pretraining_seeds(self) -> range:
        """The seeds of the fresh worlds (empty when the base learns from the task world)."""
        return range(PRETRAINING_SEED, PRETRAINING_SEED + self.worlds)


def check_result_budgets(shorter_results: Sequence[int], result_chars: int) -> None:
    budgets = [*shorter_results, result_chars]
    if any(b < 64 for b in budgets) or budgets != sorted(set(budgets)):
        raise ValueError(
            "shorter_results must rise, each of at least 64 characters and under "
            f"result_chars ({result_chars}), not {list(shorter_results)}"
        )


@dataclass(frozen=True)
class TranscriptSource:
    """Questions a base sees format-only transcripts of: the tools that answer their searches,
    their world's names and values, and the seed of the transcripts' draws."""

    questions: Sequence[dict[str, Any]]
    tools: Any
    mentions: Sequence[str]
    seed: int


def format_only_episodes(
    examples: Sequence[dict[str, Any]],
    tools: Any,
    chat: Any,
    finder: MentionFinder,
    *,
    max_turns: int,
    token_budget: int,
    result_chars: int,
    seed: int,
    titles: dict[str, str] | None = None,
    settings: FormatOnlySettings | None = None,
) -> tuple[list[Any], list[list[str]]]:
    """Play format-only episodes through the real environment; also return, per episode, the
    candidates its answer was drawn from (for the chance level)."""
    from nanosearch.env import EnvConfig, run_episodes

    config = EnvConfig(max_turns=max_turns, token_budget=token_budget, result_chars=result_chars)
    episodes, pools = [], []
    for start in range(0, len(examples), CHUNK):
        chunk = list(examples[start : start + CHUNK])
        policy = FormatOnlyPolicy(
            chat.tokenizer,
            chunk,
            finder,
            max_turns=max_turns,
            seed=seed + start,
            settings=settings,
            titles=titles,
        )
        episodes += run_episodes(policy, tools, chat, chunk, config)
        pools += [policy.answer_pools.get(i, []) for i in range(len(chunk))]
    return episodes, pools


def pretrain_base(
    sources: Iterable[TranscriptSource],
    tokenizer_dir: str | Path,
    out: str | Path,
    settings: BaseSettings | None = None,
    progress: Callable[[str], None] | None = None,
    world: str | None = None,
) -> Path:
    """Write the base model to ``out`` (built beside it, renamed in when complete), pretrained
    on the transcripts of ``sources``' questions. ``world`` (the task world's
    :func:`world_fingerprint`, when the base learns from it) is recorded in its
    ``pretraining.json``, with the tokenizer's :func:`tokenizer_fingerprint`.

    It runs on the GPU when there is one. Every :data:`SAVE_EVERY` steps the pretraining state
    is saved beside ``out``; a run killed meanwhile resumes from it when called again with the
    same settings."""
    import torch
    from transformers import AutoTokenizer, Qwen3Config

    from nanosearch.env import ChatFormat

    settings = settings or BaseSettings()
    if settings.learn not in LOSS_ON:
        raise ValueError(f"learn must be one of {', '.join(LOSS_ON)}, not {settings.learn!r}")
    out = Path(out)
    started = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    chat = ChatFormat.from_tokenizer(tokenizer)
    answer_id = tokenizer.convert_tokens_to_ids("<answer>")
    if settings.answer_weight != 1.0 and answer_id in (None, tokenizer.unk_token_id):
        raise ValueError("answer_weight needs a tokenizer with <answer> as one token (a world's)")
    config = Qwen3Config(
        vocab_size=len(tokenizer),
        hidden_size=settings.hidden_size,
        intermediate_size=settings.intermediate_size,
        num_hidden_layers=settings.num_hidden_layers,
        num_attention_heads=settings.num_attention_heads,
        num_key_value_heads=settings.num_key_value_heads,
        head_dim=settings.head_dim,
        max_position_embeddings=32_768,
        rope_theta=1_000_000.0,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=chat.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(settings.seed)
    start, earlier = starting_base(settings, config, tokenizer_dir)
    draws = settings.draws()
    budgets = settings.result_budgets()
    episodes, grades = [], []
    for source in sources:
        examples = [q for q in source.questions for _ in range(settings.transcripts_per_question)]
        finder = MentionFinder(source.mentions)
        for grade, result_chars in enumerate(budgets):
            played, _ = format_only_episodes(
                examples[grade :: len(budgets)],
                source.tools,
                chat,
                finder,
                max_turns=settings.max_turns,
                token_budget=settings.token_budget,
                result_chars=result_chars,
                seed=source.seed + grade,
                settings=draws,
            )
            episodes += played
            grades += [grade] * len(played)
        if progress is not None and settings.worlds:
            progress(f"base pretraining: {len(episodes)} transcripts played")
    sequences = [e.prompt_ids + e.completion_ids for e in episodes]
    weights = [token_weights(e, settings, answer_id) for e in episodes]
    del episodes  # their other fields would double the memory of a long pretraining
    model = start.to("cuda" if torch.cuda.is_available() else "cpu")
    state = out.with_name(out.name + STATE_SUFFIX)
    losses = train_language_model(
        model,
        sequences,
        tokenizer.pad_token_id,
        settings,
        progress,
        weights=weights,
        state=state,
        grades=grades,
        copy_tokens=plain_tokens(tokenizer) if settings.copy_spans else None,
    )
    model.generation_config.eos_token_id = chat.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    seeds = settings.pretraining_seeds()
    questions = (
        f"the training questions of {settings.worlds} fresh worlds (seeds {seeds[0]} to "
        f"{seeds[-1]}), never the task world's"
        if settings.worlds
        else "the world's training questions"
    )
    record = {
        "what_it_saw": (
            f"{earlier}format-only transcripts of {questions}: the real system prompt, "
            "the question, tool calls whose queries are random spans of the question, names "
            f"the question holds or {FOLLOW_DRAWS[settings.follow_from]}, the real engine's "
            "results, "
            f"and {ANSWER_DRAWS[settings.answer_from]}{unasked_answers(settings)}, never "
            "chosen with the gold answer; "
            f"{LOSS_ON[settings.learn]}{answer_weighting(settings.answer_weight)}"
            f"{result_grading(budgets)}{copy_span_rows(settings.copy_spans)}"
        ),
        "settings": asdict(settings),
        "world": world,
        "tokenizer": tokenizer_fingerprint(tokenizer_dir),
        "transcripts": len(sequences),
        "tokens": sum(len(s) for s in sequences),
        "parameters": sum(p.numel() for p in model.parameters()),
        "loss_first": losses[0] if losses else None,
        "loss_last": losses[-1] if losses else None,
        "wall_s": round(time.perf_counter() - started, 1),
        "device": model.device.type,
    }
    with building(out) as staging:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        (staging / PRETRAINING_FILE).write_text(json.dumps(record, indent=2) + "\n")
        (staging / COMPLETE_MARK).write_text("")
    state.unlink(missing_ok=True)
    return out


def starting_base(
    settings: BaseSettings, config: Any, tokenizer_dir: str | Path
) -> tuple[Any, str]:
    """The weights pretraining starts from: random (``start_from`` empty), or those of a base
    :func:`pretrain_base` made, by the name it ships under or its directory, which must have
    ``config``'s shape and the tokenizer's fingerprint; with what that base saw, for the
    record."""
    from transformers import AutoModelForCausalLM, Qwen3ForCausalLM

    if not settings.start_from:
        return Qwen3ForCausalLM(config), ""
    source = base_source(settings.start_from)
    record = base_record(source)
    assert record is not None
    check_base_tokenizer(record, tokenizer_dir, f"start_from {settings.start_from!r}")
    model = AutoModelForCausalLM.from_pretrained(source, dtype="float32")
    wanted, found = config.to_dict(), model.config.to_dict()
    differ = [k for k in SHAPE_FIELDS if wanted[k] != found[k]]
    if differ:
        shown = ", ".join(f"{k} {found[k]} (settings: {wanted[k]})" for k in differ)
        raise NanosearchError(f"start_from {settings.start_from!r} has another shape: {shown}")
    return model, f"the base {settings.start_from}, which saw {record['what_it_saw']}; then "


def base_source(name: str) -> Path:
    """A base to continue: the shipped base of that name, or a directory holding a base
    :func:`pretrain_base` made."""
    from nanosearch.assets import WORLD_BASES

    for source in (WORLD_BASES / name, Path(name)):
        if (source / PRETRAINING_FILE).is_file():
            return source
    names = ", ".join(base.name for base in shipped_bases())
    raise NanosearchError(
        f"start_from {name!r} is neither a shipped base ({names}) nor a directory "
        "with a base's pretraining record"
    )


SHAPE_FIELDS = (
    "vocab_size",
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "head_dim",
)


def world_fingerprint(directory: str | Path) -> str:
    """A digest of the world's files (description, corpus, questions, tokenizer): two worlds
    with one fingerprint give the base the very same transcripts and tokens."""
    directory = Path(directory)
    files = [directory / "world.json", directory / "corpus.jsonl"]
    files += sorted((directory / "questions").glob("*.jsonl"))
    files += sorted(p for p in (directory / "tokenizer").iterdir() if p.is_file())
    return _digest(directory, files)


def base_fingerprint(world: str | Path, settings: BaseSettings) -> str:
    """What a shipped base for ``world`` is looked up by: the world's tokenizer's
    :func:`tokenizer_fingerprint` for a base of fresh worlds (it serves every world sharing
    that tokenizer), else the world's own :func:`world_fingerprint`."""
    world = Path(world)
    return (
        tokenizer_fingerprint(world / "tokenizer") if settings.worlds else world_fingerprint(world)
    )


def tokenizer_fingerprint(directory: str | Path) -> str:
    """A digest of a tokenizer directory's files."""
    directory = Path(directory)
    return _digest(directory, sorted(p for p in directory.iterdir() if p.is_file()))


def _digest(root: Path, files: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def bundled_base(fingerprint: str, settings: BaseSettings) -> Path | None:
    """The base shipped in the package that was pretrained with exactly ``settings`` for
    ``fingerprint``: the task world's :func:`world_fingerprint` or, for a base of fresh worlds,
    its tokenizer's :func:`tokenizer_fingerprint` (such a base serves every world that shares
    it), if one was (pretraining the recipe's base takes over an hour on two cores). A setting
    a record lacks has its default: it was made before the setting existed, which reproduces
    that default."""
    wanted = asdict(settings)
    for base in shipped_bases():
        seen = base_record(base)
        assert seen is not None
        try:
            made_with = BaseSettings(**seen.get("settings", {}))
        except (TypeError, ValueError):  # a setting since removed, or a record edited by hand
            continue
        if asdict(made_with) != wanted:
            continue
        if seen.get("tokenizer" if settings.worlds else "world") == fingerprint:
            return base
    return None


def shipped_bases() -> list[Path]:
    """The bases shipped in the package, by name."""
    from nanosearch.assets import WORLD_BASES

    return sorted(record.parent for record in WORLD_BASES.glob(f"*/{PRETRAINING_FILE}"))


def base_record(model: str | Path) -> dict[str, Any] | None:
    """What :func:`pretrain_base` recorded of a base (None for a model it did not make)."""
    path = Path(model) / PRETRAINING_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def base_draws(model: str | Path) -> FormatOnlySettings:
    """How the transcripts a base learnt from were drawn (the defaults for a model
    :func:`pretrain_base` did not make)."""
    record = base_record(model)
    return BaseSettings(**record["settings"]).draws() if record else FormatOnlySettings()


def check_base_world(model: str | Path, world: str | Path) -> None:
    """Refuse to measure a base on a world it was not made for: a base of the task world on
    any other world, a base of fresh worlds on one of them or on a world of another tokenizer.
    A model :func:`pretrain_base` did not make is taken as it is."""
    record = base_record(model)
    if record is None:
        return
    settings = BaseSettings(**record["settings"])
    found = read_description(world)
    if settings.worlds:
        if found["seed"] in settings.pretraining_seeds():
            raise NanosearchError(f"{model} pretrained on the world of seed {found['seed']}")
        check_base_tokenizer(record, Path(world) / "tokenizer", str(model))
    elif record.get("world") != world_fingerprint(world):
        raise NanosearchError(
            f"{model} was not pretrained on the world of seed {found['seed']} with "
            f"{found['entities']} entities: measure it on the world it was"
        )


def check_base_tokenizer(record: dict[str, Any], tokenizer_dir: str | Path, base: str) -> None:
    """Refuse a base (its :func:`base_record`, named ``base`` in the error) pretrained with
    another tokenizer than the one in ``tokenizer_dir``: its token ids would mean other words."""
    if record.get("tokenizer") != tokenizer_fingerprint(tokenizer_dir):
        raise NanosearchError(f"{base} was not pretrained with the tokenizer {tokenizer_dir}")


def copy_base(source: Path, out: str | Path) -> Path:
    """Put the complete base ``source`` at ``out`` (built beside it, renamed in)."""
    out = Path(out)
    with building(out) as staging:
        shutil.copytree(source, staging, dirs_exist_ok=True)
        (staging / COMPLETE_MARK).write_text("")
    return out


def token_weights(episode: Any, settings: BaseSettings, answer_id: int) -> list[float]:
    """The loss weight of each token of a transcript: 1 on what ``settings.learn`` learns (the
    model's turns, or every token), 0 elsewhere, and ``settings.answer_weight`` on the final
    answer's tokens (after its last ``<answer>`` tag, which keeps 1)."""
    sequence = episode.prompt_ids + episode.completion_ids
    if settings.learn == "turns":
        weights = [0.0] * len(episode.prompt_ids) + [float(m) for m in episode.completion_mask]
    else:
        weights = [1.0] * len(sequence)
    if settings.answer_weight != 1.0 and answer_id in episode.completion_ids:
        start = len(sequence) - sequence[::-1].index(answer_id)
        weights[start:] = [w * settings.answer_weight for w in weights[start:]]
    return weights


def unasked_answers(settings: BaseSettings) -> str:
    if not settings.answer_unasked:
        return ""
    return ", leaving out the names and values the question itself holds (unless it holds them all)"


def answer_weighting(weight: float) -> str:
    return f", the final answer's tokens weighted ×{weight:g}" if weight != 1.0 else ""


def copy_span_rows(rows: int) -> str:
    if not rows:
        return ""
    return (
        f"; and in every batch {rows} rows of {COPY_SPAN} random tokens said twice, the loss on "
        "the repeat: the in-context copying a pretrained language model learns from text, "
        "with no word of any world"
    )


def plain_tokens(tokenizer: Any) -> list[int]:
    """The tokenizer's ids but its special tokens and protocol tags."""
    added = set(tokenizer.get_added_vocab().values()) | set(tokenizer.all_special_ids)
    return [i for i in range(len(tokenizer)) if i not in added]


def copy_span_batch(
    rng: random.Random, tokens: Sequence[int], rows: int
) -> tuple[list[list[int]], list[list[float]]]:
    """``rows`` spans of :data:`COPY_SPAN` random ``tokens``, each said twice, weighted to
    learn the repeat (its first token, which nothing predicts, excepted).

    A base learns in-context copying from these at once where its transcripts alone take far
    more examples than two cores give (``benchmarks/selective_copy.py --repeats``): its
    answers are copies of names in its results, and a pretrained model knows how to copy."""
    spans = [[rng.choice(tokens) for _ in range(COPY_SPAN)] for _ in range(rows)]
    weights = [[0.0] * (COPY_SPAN + 1) + [1.0] * (COPY_SPAN - 1) for _ in range(rows)]
    return [[*span, *span] for span in spans], weights


def result_grading(budgets: Sequence[int]) -> str:
    if len(budgets) < 2:
        return ""
    shorter = ", ".join(str(b) for b in budgets[:-1])
    return (
        f"; results cut at {shorter} or {budgets[-1]} characters in equal shares, the first "
        "epoch learning them shortest first"
    )


def train_language_model(
    model: Any,
    sequences: list[list[int]],
    pad_id: int,
    settings: BaseSettings,
    progress: Callable[[str], None] | None = None,
    weights: list[list[float]] | None = None,
    state: Path | None = None,
    grades: Sequence[int] | None = None,
    copy_tokens: Sequence[int] | None = None,
) -> list[float]:
    """Next-token prediction on the tokens after the prefix all sequences share, each token's
    loss weighted by ``weights`` (all 1 when not given), in length-sorted batches with a cosine
    learning rate; returns the loss of each step. With ``grades`` (a curriculum level per
    sequence), a batch holds one level and the first epoch takes the levels in order, each
    level's batches shuffled; later epochs shuffle them all. With ``copy_tokens``, every step
    adds the loss of ``settings.copy_spans`` rows of :func:`copy_span_batch`, a mean of its own
    (among a batch's transcripts of hundreds of tokens each, theirs would weigh a twentieth).
    With ``state``, the model, optimizer and step are saved there every :data:`SAVE_EVERY`
    steps and a state saved with the same settings and data is resumed.

    The shared prefix (the system prompt: two thirds of a transcript's tokens) is run once per
    batch and its keys and values repeated for every row, gradients included: the same update
    as running every row in full, less the loss on the prefix itself, for about a third of the
    compute."""
    import torch

    rng = random.Random(settings.seed)
    keep = max(shared_prefix(sequences) - 1, 0)  # the last shared token predicts the first other
    device = next(model.parameters()).device
    prefix = torch.tensor([sequences[0][:keep]], device=device) if keep else None
    rests = [s[keep:] for s in sequences]
    kept = [w[keep:] for w in weights] if weights is not None else None
    order = sorted(range(len(rests)), key=lambda i: len(rests[i]))
    levels = (
        [[i for i in order if grades[i] == level] for level in sorted(set(grades))]
        if grades
        else [order]
    )
    by_level = [
        [ids[i : i + settings.batch_size] for i in range(0, len(ids), settings.batch_size)]
        for ids in levels
    ]
    batches = [batch for level in by_level for batch in level]
    total = len(batches) * settings.epochs
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.learning_rate, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: min(1.0, (step + 1) / 20) * 0.5 * (1 + math.cos(math.pi * step / total)),
    )
    identity = {"settings": asdict(settings), "sequences": len(sequences)}
    identity["tokens"] = sum(len(s) for s in sequences)
    losses: list[float] = []
    if state is not None and state.is_file():
        saved = torch.load(state, weights_only=False, map_location=device)
        if saved["identity"] == identity:
            model.load_state_dict(saved["model"])
            optimizer.load_state_dict(saved["optimizer"])
            schedule.load_state_dict(saved["schedule"])
            losses = saved["losses"]
            if progress is not None:
                progress(f"base pretraining: resuming at step {len(losses)}/{total}")
    done = len(losses)
    model.train()
    step = 0
    for epoch in range(settings.epochs):
        if epoch == 0 and len(by_level) > 1:
            for level in by_level:
                rng.shuffle(level)
            plan = [batch for level in by_level for batch in level]
        else:
            rng.shuffle(batches)
            plan = batches
        for batch in plan:
            step += 1
            if step <= done:
                continue
            loss = batch_loss(
                model,
                prefix,
                [rests[i] for i in batch],
                pad_id,
                None if kept is None else [kept[i] for i in batch],
            )
            if copy_tokens and settings.copy_spans:  # a loss of its own, not diluted by theirs
                spans, span_weights = copy_span_batch(
                    random.Random(settings.seed * 1_000_003 + step),
                    copy_tokens,
                    settings.copy_spans,
                )
                loss = loss + batch_loss(model, None, spans, pad_id, span_weights)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            losses.append(round(loss.item(), 4))
            if progress is not None and len(losses) % 25 == 0:
                progress(f"base pretraining: step {len(losses)}/{total}, loss {losses[-1]:.3f}")
            if state is not None and len(losses) % SAVE_EVERY == 0 and len(losses) < total:
                save_state(state, identity, model, optimizer, schedule, losses)
    model.eval()
    return losses


def save_state(
    path: Path, identity: dict[str, Any], model: Any, optimizer: Any, schedule: Any, losses: list
) -> None:
    import torch

    partial = path.with_name(path.name + ".partial")
    saved = {
        "identity": identity,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "schedule": schedule.state_dict(),
        "losses": losses,
    }
    with partial.open("wb") as sink:
        torch.save(saved, sink)
        sink.flush()
        os.fsync(sink.fileno())
    partial.replace(path)


def batch_loss(
    model: Any,
    prefix: Any,
    rests: Sequence[Sequence[int]],
    pad_id: int,
    weights: Sequence[Sequence[float]] | None = None,
) -> Any:
    """Next-token loss of ``rests``, each continuing the token tensor ``prefix`` (1 × P, or
    None), right-padded: the mean over their tokens weighted by ``weights`` (0 drops a token;
    every token 1 when None). The prefix is run once and its keys and values repeated per
    row."""
    import torch

    keep = 0 if prefix is None else prefix.shape[1]
    width = max(len(r) for r in rests)
    ids = torch.full((len(rests), width), pad_id, dtype=torch.long)
    weight = torch.zeros((len(rests), width))
    attention = torch.zeros((len(rests), keep + width), dtype=torch.long)
    attention[:, :keep] = 1
    for row, rest in enumerate(rests):
        ids[row, : len(rest)] = torch.tensor(list(rest))
        weight[row, : len(rest)] = torch.tensor(list(weights[row])) if weights else 1.0
        attention[row, keep : keep + len(rest)] = 1
    cache = None
    if prefix is not None:
        cache = model(input_ids=prefix, use_cache=True).cache
        cache.batch_repeat_interleave(len(rests))
    device = next(model.parameters()).device
    ids, attention, weight = ids.to(device), attention.to(device), weight.to(device)
    logits = model(input_ids=ids, attention_mask=attention, cache=cache).logits
    losses = torch.nn.functional.cross_entropy(
        logits[:, :-1].flatten(0, 1).float(), ids[:, 1:].flatten(), reduction="none"
    )
    weight = weight[:, 1:].flatten()
    return (losses * weight).sum() / weight.sum().clamp(min=1e-9)  # 0 when nothing is learnt


def is_complete_base(directory: str | Path) -> bool:
    return (Path(directory) / COMPLETE_MARK).is_file()
