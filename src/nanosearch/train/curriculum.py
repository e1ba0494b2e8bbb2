"""``nanosearch train``: the three-stage curriculum, each stage starting from the previous one's
final weights, resumable after a kill at any point.

A run directory holds::

    recipe.yaml              the recipe as validated, its paths absolute (it loads from here)
    world/                   the synthetic world (recipes with a ``world`` section)
    data/train.jsonl         the training questions (dev.jsonl, test.jsonl: the held-out splits)
    index/                   the search index (unless the recipe names one)
    base-model/              the tiny model built from a config, or the world's format-only base
    stage-1/                 checkpoint-N/ (weights, optimizer, step), metrics.jsonl,
      final/                 rollouts.jsonl (every episode played), heldout-episodes.jsonl
                             (every held-out episode), tensorboard/, and the stage's final
                             weights (+ .complete)
    base-eval.json           held-out metrics of the starting weights (recipes with evaluation)
    heldout-episodes-base.jsonl   every dev episode of the starting weights (step 0)
    rewards.png              reward curves of every stage
    learning.png, summary.json   held-out exact match by step; base, stages and final metrics
    test-episodes-base.jsonl, test-episodes-final.jsonl   every test episode of the two models
    model/                   the final weights for serving (YaRN scaling: the recipe's export
                             section), and SERVING.md
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from nanosearch.assets import MUSIQUE_SAMPLE
from nanosearch.data import build_mixture, load_musique, split_dev
from nanosearch.errors import NanosearchError
from nanosearch.files import directory_lock, write_json
from nanosearch.rewards import correctness_function
from nanosearch.train.export import SERVING_NOTE, export_model, keep_episode_template
from nanosearch.train.heldout import HELDOUT_EPISODES, HeldOutCallback
from nanosearch.train.metrics import (
    METRICS_FILE,
    PLOT_FILE,
    MetricsFile,
    drop_steps_after,
    plot_rewards,
    reward_span,
)
from nanosearch.train.progress import StageProgress
from nanosearch.train.recipe import BUNDLED, TRL_DEFAULTS, Recipe, StageSection, load_recipe
from nanosearch.train.rollout import (
    StageRollout,
    component_names,
    transformers_backend,
    vllm_backend,
    vllm_generation_kwargs,
)
from nanosearch.train.rollout_log import ROLLOUTS_GLOB, RolloutLog, rollouts_file
from nanosearch.train.stage_process import launch_stage
from nanosearch.train.trainer_rewards import trainer_rewards

COMPLETE_MARK = ".complete"
BUNDLED_TOKENIZER = "bundled"
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StageResult:
    name: str
    directory: Path
    final: Path
    skipped: bool


@dataclass(frozen=True)
class TrainResult:
    out: Path
    stages: list[StageResult]
    plot: Path
    model: Path
    data_message: str
    summary_lines: list[str] = field(default_factory=list)

    def summary(self) -> list[str]:
        lines = [f"data: {self.data_message}"]
        for number, stage in enumerate(self.stages, start=1):
            span = reward_span(stage.directory / METRICS_FILE)
            rewards = f"reward {span[0]:+.3f} → {span[1]:+.3f}" if span else "no step logged"
            done = " (already done, skipped)" if stage.skipped else ""
            lines.append(f"stage {number} {stage.name}: {rewards}{done}; weights {stage.final}")
        lines += self.summary_lines
        lines += [
            f"metrics: {self.out}/stage-*/metrics.jsonl",
            f"tensorboard: {self.out}/stage-*/tensorboard",
            f"reward curves: {self.plot}",
            f"model: {self.model} (serving flags: {self.model / SERVING_NOTE})",
        ]
        return lines


def stage_dir(out: Path, number: int) -> Path:
    return out / f"stage-{number}"


def is_complete(directory: Path) -> bool:
    return (directory / "final" / COMPLETE_MARK).is_file()


def train_recipe(
    recipe_path: str | Path,
    out: str | Path | None = None,
    resume: bool = False,
    echo: Callable[[str], None] | None = None,
    in_process: bool = False,
) -> TrainResult:
    """Run every stage of a recipe into ``out`` (default ``runs/<recipe name>``). ``echo``
    gets one progress line per phase and stage (nothing is printed without it). Each stage
    runs in a process of its own, which returns its device memory when it ends, unless
    ``in_process``. No other training run may use ``out`` meanwhile."""
    recipe = load_recipe(recipe_path)
    out = Path(out) if out is not None else Path("runs") / Path(recipe_path).resolve().name
    state = process_state()
    lock = directory_lock(out, "training run") if state.is_main_process else nullcontext()
    with lock:
        return _train(recipe_path, recipe, out, resume, echo, in_process, state)


def _train(
    recipe_path: str | Path,
    recipe: Recipe,
    out: Path,
    resume: bool,
    echo: Callable[[str], None] | None,
    in_process: bool,
    state: Any,
) -> TrainResult:
    from nanosearch.train import summary as run_summary

    say = echo or (lambda line: None)
    if echo is not None:
        quiet_libraries()
    check_grpo_configs(recipe, out)
    with state.main_process_first():
        if state.is_main_process:
            _claim(out, resume)
            write_json(out / "recipe.yaml", recipe.as_written())
        world = prepare_world(recipe, out / "world", say)
        data = prepare_data(recipe, out / "data", write=state.is_main_process, world=world)
        engine = prepare_index(recipe, out / "index", world=world, progress=echo is None)
        current = prepare_model(
            recipe, out / "base-model", world=world, train=data.train, engine=engine, say=say
        )
        if state.is_main_process and Path(current) == out / "base-model":
            keep_episode_template(out / "base-model", recipe.generation.thinking)
    evaluation = recipe.evaluation if data.dev else None
    if evaluation is not None and state.is_main_process:
        run_summary.evaluate_base(recipe, out, current, engine, data.dev, data.test, world, say)
    results = []
    offset = 0
    for number, stage in enumerate(recipe.stages, start=1):
        directory = stage_dir(out, number)
        final = directory / "final"
        if is_complete(directory):
            logger.warning("stage %d (%s) is already complete: skipped", number, stage.name)
            say(f"stage {number} {stage.name}: already complete, skipped")
            results.append(StageResult(stage.name, directory, final, True))
        else:
            if in_process:
                play_stage(recipe, out, number, current, offset, resume, data, engine, echo)
            else:
                launch_stage(recipe_path, out, number, current, offset, resume, state, echo)
            results.append(StageResult(stage.name, directory, final, False))
        state.wait_for_everyone()
        offset += stage.steps
        current = str(final)
    plot, model = out / PLOT_FILE, out / "model"
    if state.is_main_process:
        stages = [
            (f"stage {i}: {s.name}", stage_dir(out, i) / METRICS_FILE)
            for i, s in enumerate(recipe.stages, start=1)
        ]
        plot_rewards(stages, plot)
        export = recipe.export
        export_model(
            Path(current),
            model,
            export.yarn_factor,
            export.original_context,
            recipe.protocol,
            recipe.generation.result_chars,
            recipe.generation.thinking,
        )
    lines: list[str] = []
    if evaluation is not None and state.is_main_process:
        lines = run_summary.finish(recipe, out, current, engine, data.test, say)
    state.wait_for_everyone()
    return TrainResult(out, results, plot, model, data.message, lines)


def train_stage(
    recipe_path: str | Path,
    out: Path,
    number: int,
    start: str,
    offset: int,
    resume: bool,
    echo: Callable[[str], None] | None = None,
) -> None:
    """Stage ``number`` of the run in ``out``, whose world, data, index and starting weights
    are in place: the body of the stage's own process (:mod:`nanosearch.train.stage_process`)."""
    recipe = load_recipe(recipe_path)
    if echo is not None:
        quiet_libraries()
    world = prepare_world(recipe, out / "world", lambda line: None)
    data = prepare_data(recipe, out / "data", write=False, world=world)
    engine = prepare_index(recipe, out / "index", world=world, progress=False)
    play_stage(recipe, out, number, start, offset, resume, data, engine, echo)


def play_stage(
    recipe: Recipe,
    out: Path,
    number: int,
    start: str,
    offset: int,
    resume: bool,
    data: PreparedData,
    engine: Any,
    echo: Callable[[str], None] | None,
) -> None:
    stage = recipe.stages[number - 1]
    run_stage(
        recipe,
        stage,
        number,
        start,
        stage_dir(out, number),
        stage_pool(data.train, stage, recipe.training.seed + number),
        engine,
        resume,
        dev=data.dev if recipe.evaluation is not None and data.dev else None,
        offset=offset,
        echo=echo,
    )


def quiet_libraries() -> None:
    """Full logs go to the run directory; the console keeps our progress lines."""
    import warnings

    from transformers.utils import logging as transformers_logging

    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module="transformers")


def prepare_world(recipe: Recipe, directory: Path, say: Callable[[str], None]) -> Path | None:
    if recipe.world is None:
        return None
    from nanosearch.world import build_world

    if not (directory / "world.json").is_file():
        say(f"world: seed {recipe.world.seed}, {recipe.world.entities} entities → {directory}")
    return build_world(
        recipe.world.seed, recipe.world.entities, directory, tokenizer=recipe.world.tokenizer
    )


def stage_pool(train: list[dict[str, Any]], stage: StageSection, seed: int) -> list[dict[str, Any]]:
    """The stage's training questions: all of them, or drawn by the stage's hop weights (as
    many as the training set holds, with replacement within a hop count)."""
    if stage.hops is None:
        return train
    import random

    rng = random.Random(seed)
    by_hops: dict[int, list[dict[str, Any]]] = {}
    for example in train:
        by_hops.setdefault(int(example.get("hops", 0)), []).append(example)
    weights = {h: w for h, w in stage.hops.items() if w > 0 and by_hops.get(h)}
    if not weights:
        raise NanosearchError(
            f"stage {stage.name!r}: no training question has the hop counts {sorted(stage.hops)}"
        )
    chosen = rng.choices(sorted(weights), [weights[h] for h in sorted(weights)], k=len(train))
    return [rng.choice(by_hops[h]) for h in chosen]


def process_state() -> Any:
    """accelerate's view of this process (one process unless started by ``accelerate
    launch``): the main process prepares data, index and model first, the others reuse them."""
    from accelerate import PartialState

    return PartialState()


def _claim(out: Path, resume: bool) -> None:
    started = (out / "recipe.yaml").is_file()
    if started and not resume:
        raise NanosearchError(
            f"{out} already holds a training run: pass --resume to continue it, "
            "or choose another --out"
        )
    if resume and not started:
        if out.is_dir() and any(out.iterdir()):
            logger.info("starting a new run in %s, on what is already prepared there", out)
        else:
            logger.warning("nothing to resume in %s: starting a new run", out)
    out.mkdir(parents=True, exist_ok=True)


class PreparedData(NamedTuple):
    """A run's questions (``test`` only from a world) and a line describing them."""

    train: list[dict[str, Any]]
    dev: list[dict[str, Any]]
    test: list[dict[str, Any]]
    message: str


def prepare_data(
    recipe: Recipe, directory: Path, write: bool = True, world: Path | None = None
) -> PreparedData:
    """The run's splits, also written to ``directory`` (by the main process) for inspection."""
    from nanosearch.files import write_jsonl
    from nanosearch.world.files import read_questions

    if world is not None:
        splits = {name: read_questions(world, name) for name in ("train", "dev", "test")}
        counts = ", ".join(f"{len(rows)} {name}" for name, rows in splits.items())
        message = f"world {world}: {counts} (split by subject)"
    else:
        source = recipe.data.musique
        source = str(MUSIQUE_SAMPLE) if source == BUNDLED else recipe.resolve(source)
        examples = load_musique(source, recipe.data.split)
        mixture = build_mixture(examples, recipe.data.mixture, seed=recipe.data.seed)
        train, dev = split_dev(mixture.examples, recipe.data.dev_fraction, seed=recipe.data.seed)
        splits = {"train": train, "dev": dev}
        message = f"{mixture.message}; {len(train)} train, {len(dev)} dev"
    if write:
        for name, rows in splits.items():
            write_jsonl(directory / f"{name}.jsonl", rows)
    return PreparedData(splits["train"], splits["dev"], splits.get("test", []), message)


def prepare_index(
    recipe: Recipe, directory: Path, world: Path | None = None, progress: bool = True
) -> Any:
    from nanosearch.corpus import read_corpus
    from nanosearch.search import build_index, load

    if recipe.index.path is not None:
        return load(recipe.resolve(recipe.index.path))
    if (directory / "manifest.json").is_file():
        return load(directory)
    if world is not None:
        corpus, corpus_format = world / "corpus.jsonl", "jsonl"
    elif recipe.index.corpus == BUNDLED:
        corpus, corpus_format = MUSIQUE_SAMPLE, "musique"
    else:
        corpus = Path(recipe.resolve(recipe.index.corpus))
        corpus_format = recipe.index.corpus_format
    return build_index(
        read_corpus(corpus, corpus_format),
        directory,
        recipe.index.retriever,
        corpus_info={"path": corpus.name, "format": corpus_format},
        progress=progress,
    )


def prepare_model(
    recipe: Recipe,
    directory: Path,
    *,
    world: Path | None = None,
    train: list[dict[str, Any]] | None = None,
    engine: Any = None,
    say: Callable[[str], None] = lambda line: None,
) -> str:
    """The starting weights: a hub id or path, a tiny model built once into the run, or the
    world's format-only base pretrained once into the run."""
    section = recipe.model
    if section.world_base is not None:
        from nanosearch.tools import EngineTools
        from nanosearch.world import is_complete_base, pretrain_base, read_description
        from nanosearch.world.base import (
            TranscriptSource,
            base_fingerprint,
            bundled_base,
            copy_base,
        )

        assert world is not None and train is not None and recipe.world is not None
        if is_complete_base(directory):
            return str(directory)
        settings = section.world_base.settings()
        seeds = settings.pretraining_seeds()
        if recipe.world.seed in seeds:
            raise NanosearchError(
                f"world.seed {recipe.world.seed} is one of the fresh worlds the base pretrains "
                f"on (seeds {seeds[0]} to {seeds[-1]}): choose another seed"
            )
        tokenizer = world / "tokenizer"
        fingerprint = base_fingerprint(world, settings)
        shipped = bundled_base(fingerprint, settings) if section.world_base.bundled else None
        if shipped is not None:
            fits = "every world with this tokenizer" if settings.worlds else "this world"
            say(
                f"base: the package's base pretrained for {fits} with these settings "
                f"({shipped.name}; model.world_base.bundled: false pretrains it here)"
            )
            copy_base(shipped, directory)
            return str(directory)
        if settings.worlds:
            from nanosearch.train.base_worlds import pretraining_sources

            say(f"base: pretraining the format-only base on {settings.worlds} fresh worlds")
            with tempfile.TemporaryDirectory(dir=directory.parent) as scratch:
                pretrain_base(
                    pretraining_sources(settings, Path(scratch)),
                    tokenizer,
                    directory,
                    settings,
                    progress=say,
                )
            return str(directory)
        say(f"base: pretraining the format-only base on {len(train)} training questions")
        source = TranscriptSource(
            train, EngineTools(engine), read_description(world)["mentions"], settings.seed
        )
        pretrain_base([source], tokenizer, directory, settings, progress=say, world=fingerprint)
        return str(directory)
    if section.tiny is None:
        assert section.name_or_path is not None
        return recipe.resolve(section.name_or_path)
    if not (directory / "config.json").is_file():
        from nanosearch.models import build_tiny_qwen3

        tokenizer = section.tokenizer
        if tokenizer == BUNDLED_TOKENIZER:
            from nanosearch.assets import QWEN3_TOKENIZER

            tokenizer = str(QWEN3_TOKENIZER)
        build_tiny_qwen3(
            recipe.resolve(tokenizer or ""),
            directory,
            seed=section.tiny.seed,
            eos_logit=section.tiny.eos_logit,
        )
    return str(directory)


def checkpoint_step(checkpoint: Path) -> int:
    return int(json.loads((checkpoint / "trainer_state.json").read_text())["global_step"])


def last_complete_checkpoint(directory: Path) -> tuple[Path | None, list[Path]]:
    """The newest ``checkpoint-N`` whose trainer state (written last) is readable, and the
    newer ones a kill left half-written."""
    checkpoints = sorted(
        (p for p in directory.glob("checkpoint-*") if p.is_dir() and p.name[11:].isdigit()),
        key=lambda p: int(p.name[11:]),
        reverse=True,
    )
    broken = []
    for checkpoint in checkpoints:
        try:
            checkpoint_step(checkpoint)
        except (OSError, ValueError, KeyError):
            broken.append(checkpoint)
            continue
        return checkpoint, broken
    return None, broken


def run_stage(
    recipe: Recipe,
    stage: StageSection,
    number: int,
    start: str,
    directory: Path,
    train: list[dict[str, Any]],
    engine: Any,
    resume: bool,
    *,
    dev: list[dict[str, Any]] | None = None,
    offset: int = 0,
    echo: Callable[[str], None] | None = None,
) -> None:
    state = process_state()
    directory.mkdir(parents=True, exist_ok=True)
    checkpoint, broken = last_complete_checkpoint(directory) if resume else (None, [])
    state.wait_for_everyone()
    if state.is_main_process:
        for partial in broken:
            logger.warning("removing %s: a kill interrupted its writing", partial)
            shutil.rmtree(partial)
    logs = [directory / METRICS_FILE, directory / HELDOUT_EPISODES, *directory.glob(ROLLOUTS_GLOB)]
    if checkpoint is None and state.is_main_process:
        for leftover in directory.glob("checkpoint-*"):
            shutil.rmtree(leftover)
        for log in logs:
            log.unlink(missing_ok=True)
        shutil.rmtree(directory / "tensorboard", ignore_errors=True)
    elif checkpoint is not None:
        step = checkpoint_step(checkpoint)
        if state.is_main_process:
            for log in logs:
                drop_steps_after(log, step)
        logger.warning(
            "stage %d (%s): resuming from %s at step %d", number, stage.name, checkpoint, step
        )
    state.wait_for_everyone()
    trainer = build_trainer(
        recipe, stage, number, start, directory, train, engine, dev=dev, offset=offset, echo=echo
    )
    trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    final = directory / "final"
    if trainer.accelerator.is_main_process:
        shutil.rmtree(final, ignore_errors=True)
    trainer.accelerator.wait_for_everyone()
    trainer.save_model(str(final))
    if trainer.accelerator.is_main_process:
        trainer.processing_class.save_pretrained(str(final))
        mark = {"step": trainer.state.global_step, "process": os.getpid()}
        write_json(final / COMPLETE_MARK, mark, indent=None)


def build_trainer(
    recipe: Recipe,
    stage: StageSection,
    number: int,
    start: str,
    directory: Path,
    train: list[dict[str, Any]],
    engine: Any,
    *,
    dev: list[dict[str, Any]] | None = None,
    offset: int = 0,
    echo: Callable[[str], None] | None = None,
) -> Any:
    from datasets import Dataset
    from torch.utils.tensorboard import SummaryWriter
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.integrations import TensorBoardCallback
    from trl import GRPOTrainer

    from nanosearch.env import ChatFormat
    from nanosearch.tools import EngineTools
    from nanosearch.train.summary import heldout_config

    # rollout_func is experimental in TRL 1.16; we pin that version and test against it.
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    tokenizer = AutoTokenizer.from_pretrained(start)
    model = AutoModelForCausalLM.from_pretrained(start, dtype=recipe.model.dtype)
    chat = ChatFormat.from_tokenizer(tokenizer, thinking=recipe.generation.thinking)
    generation, training, dapo = recipe.generation, recipe.training, recipe.dapo
    rewards = recipe.reward_stage(number)
    components = component_names(rewards)
    reward_funcs, _ = trainer_rewards(components)
    rollout = StageRollout(
        examples=train,
        tools=EngineTools(engine),
        chat=chat,
        stage=stage,
        rewards=rewards,
        dapo=dapo,
        num_generations=training.num_generations,
        backend=vllm_backend(chat)
        if generation.use_vllm
        else transformers_backend(generation, chat),
        turn_tokens=generation.turn_tokens,
        result_chars=generation.result_chars,
        protocol=recipe.protocol,
        lockstep=generation.use_vllm and generation.vllm_mode == "server",
        seed=refill_seed(training.seed, number, process_state().process_index),
        correctness_reward=correctness_function(
            recipe.correctness.mode, recipe.correctness.max_answer_words
        ),
        overlong=recipe.overlong.window(stage),
        log=RolloutLog(rollouts_file(directory, process_state().process_index))
        if training.log_rollouts
        else None,
    )
    config = grpo_config(recipe, stage, number, directory)
    dataset = Dataset.from_list([{"prompt": e["question"], "id": e["id"]} for e in train])
    writer = SummaryWriter(log_dir=str(directory / "tensorboard"))
    callbacks: list[Any] = [
        MetricsFile(directory / METRICS_FILE, stage.name),
        TensorBoardCallback(tb_writer=writer),
    ]
    heldout = None
    if dev and recipe.evaluation is not None:
        evaluation = recipe.evaluation
        heldout = HeldOutCallback(
            tokenizer=tokenizer,
            chat=chat,
            tools=EngineTools(engine),
            examples=dev[: evaluation.dev_questions],
            config=heldout_config(recipe),
            every=evaluation.every_steps,
            metrics_path=directory / METRICS_FILE,
            episodes_path=directory / HELDOUT_EPISODES,
            stage=stage.name,
            writer=writer,
        )
        callbacks.append(heldout)
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=reward_funcs,
        args=config,
        train_dataset=dataset,
        processing_class=tokenizer,
        rollout_func=rollout,
        callbacks=callbacks,
    )
    if echo is not None:
        from transformers.trainer_callback import PrinterCallback, ProgressCallback

        trainer.remove_callback(PrinterCallback)
        trainer.remove_callback(ProgressCallback)
        trainer.add_callback(StageProgress(f"stage {number} {stage.name}", heldout, echo))
    return trainer


def grpo_config(recipe: Recipe, stage: StageSection, number: int, directory: Path) -> Any:
    """Stage ``number``'s ``GRPOConfig``: :func:`grpo_arguments` over the recipe's ``trl``
    section over :data:`TRL_DEFAULTS`. A value TRL refuses is an error naming the stage."""
    from trl import GRPOConfig

    _, reward_weights = trainer_rewards(component_names(recipe.reward_stage(number)))
    arguments = grpo_arguments(recipe, stage, number, directory, reward_weights)
    try:
        return GRPOConfig(**{**TRL_DEFAULTS, **recipe.trl, **arguments})
    except (TypeError, ValueError) as error:
        settings = f"the recipe's trl section {recipe.trl}" if recipe.trl else "the recipe"
        raise NanosearchError(
            f"stage {number} {stage.name!r}: TRL's GRPOConfig refused {settings}: {error}"
        ) from error


def check_grpo_configs(recipe: Recipe, out: Path) -> None:
    """Build every stage's ``GRPOConfig`` before anything is prepared or trained, so that a
    setting TRL refuses in a late stage fails the run at its start, not hours into it."""
    for number, stage in enumerate(recipe.stages, start=1):
        grpo_config(recipe, stage, number, stage_dir(out, number))


def grpo_arguments(
    recipe: Recipe,
    stage: StageSection,
    number: int,
    directory: Path,
    reward_weights: list[float],
) -> dict[str, Any]:
    """The ``GRPOConfig`` fields a stage takes from its recipe (one per key of
    :data:`TRL_FIELDS_FROM_RECIPE`); a recipe's ``trl`` section gives any other."""
    generation, training, dapo = recipe.generation, recipe.training, recipe.dapo
    return dict(
        output_dir=str(directory),
        max_steps=stage.steps,
        per_device_train_batch_size=training.per_device_batch_size,
        gradient_accumulation_steps=training.gradient_accumulation_steps,
        steps_per_generation=training.gradient_accumulation_steps * training.updates_per_generation,
        generation_batch_size=None,
        num_iterations=training.num_iterations,
        num_generations=training.num_generations,
        learning_rate=stage.learning_rate or training.learning_rate,
        weight_decay=training.weight_decay,
        warmup_steps=training.warmup_steps,
        max_grad_norm=training.max_grad_norm,
        bf16=training.bf16,
        activation_checkpointing=training.gradient_checkpointing,
        deepspeed=recipe.resolve(training.deepspeed) if training.deepspeed else None,
        save_strategy="steps",
        save_steps=training.save_steps,
        save_total_limit=training.save_total_limit,
        logging_steps=training.logging_steps,
        seed=training.seed + number,
        loss_type=dapo.loss_type,
        epsilon=dapo.epsilon,
        epsilon_high=dapo.epsilon_high,
        beta=dapo.beta,
        scale_rewards=dapo.scale_rewards,
        top_entropy_quantile=dapo.top_entropy_quantile,
        entropy_coef=dapo.entropy_coef,
        mask_truncated_completions=dapo.mask_truncated_completions,
        reward_weights=reward_weights,
        max_completion_length=generation.turn_tokens or stage.context_tokens,
        temperature=generation.temperature,
        top_p=generation.top_p,
        top_k=generation.top_k,
        chat_template_kwargs={"enable_thinking": generation.thinking},
        use_vllm=generation.use_vllm,
        vllm_mode=generation.vllm_mode,
        vllm_gpu_memory_utilization=generation.vllm_gpu_memory_utilization,
        vllm_max_model_length=stage.context_tokens,
        vllm_importance_sampling_correction=generation.use_vllm,
        generation_kwargs=vllm_generation_kwargs() if generation.use_vllm else None,
        use_cpu=not _has_accelerator(),
        remove_unused_columns=False,
    )


def refill_seed(seed: int, stage: int, process: int) -> int:
    """The seed of one process's dynamic-sampling refills in one stage: processes draw
    different questions instead of replaying the same ones on every device."""
    return seed + stage + 10_007 * process


def _has_accelerator() -> bool:
    import torch

    return torch.cuda.is_available()
