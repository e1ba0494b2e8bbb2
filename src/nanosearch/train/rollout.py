"""The ``rollout_func`` handed to TRL's ``GRPOTrainer``: multi-turn search episodes, scored in
the rollout so that dynamic sampling can choose which groups the trainer sees.

TRL passes the prompts of one generation batch (each repeated ``num_generations`` times, in
order). Each distinct prompt becomes a group of episodes played with the trainer's current
weights; groups whose accuracy (or total, ``dapo.filter_signal``) does not vary are replaced by
fresh prompts from the training set.
The output carries the token ids, the environment mask (1 = model token, 0 = inserted result)
and, as extra fields for the reward functions, each episode's total reward and components.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any

from nanosearch.env import (
    ChatFormat,
    EnvConfig,
    Generation,
    GenerationRequest,
    Policy,
    TransformersPolicy,
    run_episodes,
)
from nanosearch.env.policy import turn_of
from nanosearch.errors import NanosearchError
from nanosearch.protocol import STOP_STRINGS, Episode, ProtocolName
from nanosearch.rewards import RewardFunction, Score, Stage, correctness, overlong_penalty, score
from nanosearch.tools import ToolClient
from nanosearch.train.recipe import (
    DapoSection,
    GenerationSection,
    OverlongSection,
    StageSection,
)
from nanosearch.train.rollout_log import RolloutLog
from nanosearch.train.sampling import cycle_examples, fill_batch

TOTAL_FIELD = "episode_reward"
COMPONENT_PREFIX = "reward_component_"
METRICS_FIELD = "rollout_metrics"

PolicyBackend = Callable[[Any], AbstractContextManager[Policy]]


@dataclass
class PlayedGroup:
    example: dict[str, Any]
    episodes: list[Episode] = field(default_factory=list)
    scores: list[Score] = field(default_factory=list)


def component_names(rewards: Stage) -> list[str]:
    names = [function.__name__ for function, _ in rewards.rewards]
    if rewards.gate is not None and rewards.gate.__name__ not in names:
        names.append(rewards.gate.__name__)
    return names


class StageRollout:
    """Callable as ``rollout_func(prompts, trainer)`` for one curriculum stage."""

    def __init__(
        self,
        *,
        examples: Sequence[dict[str, Any]],
        tools: ToolClient,
        chat: ChatFormat,
        stage: StageSection,
        rewards: Stage,
        dapo: DapoSection,
        num_generations: int,
        backend: PolicyBackend,
        turn_tokens: int | None = None,
        result_chars: int = 1024,
        protocol: ProtocolName = "xml",
        lockstep: bool = False,
        seed: int = 0,
        correctness_reward: RewardFunction = correctness,
        overlong: tuple[int, int] | None = None,
        log: RolloutLog | None = None,
    ) -> None:
        """``rewards`` scores the stage's episodes, with ``correctness_reward`` as correctness
        and ``overlong`` as the (max, buffer) window of ``overlong_penalty`` (by default the
        stage's context); ``seed`` orders the refills of dynamic sampling: give each process
        its own. ``log`` gets every episode played, kept or dropped."""
        self.log = log
        self.by_question: dict[str, dict[str, Any]] = {}
        for example in examples:
            self.by_question.setdefault(example["question"], example)
        self.pool: Iterator[dict[str, Any]] = cycle_examples(list(examples), seed)
        self.tools = tools
        self.chat = chat
        self.stage = stage
        self.reward_stage = rewards
        self.dapo = dapo
        self.num_generations = num_generations
        self.backend = backend
        self.env = EnvConfig(
            max_turns=stage.max_turns,
            token_budget=stage.context_tokens,
            result_chars=result_chars,
            turn_tokens=turn_tokens,
            lockstep=lockstep,
            protocol=protocol,
        )
        self.components = component_names(rewards)
        length, cache = overlong or OverlongSection().window(stage)

        def windowed_overlong(episode: Episode, example: dict[str, Any]) -> float:
            return overlong_penalty(episode, example, length, cache)

        self.functions = {"correctness": correctness_reward, "overlong_penalty": windowed_overlong}

    def score(self, episode: Episode, example: dict[str, Any]) -> Score:
        return score(episode, example, self.reward_stage, functions=self.functions)

    def example_for(self, prompt: Any) -> dict[str, Any]:
        text = prompt if isinstance(prompt, str) else prompt[-1]["content"]
        if text not in self.by_question:
            raise NanosearchError(
                f"the rollout got a prompt that is not a training question: {text!r}"
            )
        return self.by_question[text]

    def __call__(self, prompts: list[Any], trainer: Any) -> dict[str, Any]:
        size = self.num_generations
        if len(prompts) % size:
            raise NanosearchError(
                f"the rollout got {len(prompts)} prompts, not a multiple of num_generations {size}"
            )
        first = [PlayedGroup(self.example_for(p)) for p in prompts[::size]]
        rounds: list[list[PlayedGroup]] = []
        with self.backend(trainer) as policy:

            def play(groups: list[PlayedGroup]) -> list[list[float]]:
                rounds.append(groups)
                return self.play(policy, groups)

            def refill(count: int) -> list[PlayedGroup]:
                return [PlayedGroup(next(self.pool)) for _ in range(count)]

            groups, _, stats = fill_batch(
                first,
                play,
                refill,
                size=len(first),
                max_rounds=self.dapo.max_sampling_rounds,
                enabled=self.dapo.dynamic_sampling,
                keep_going=lambda needed: any_process(trainer, needed),
            )
        if self.log is not None:
            self.log.write(trainer.state.global_step + 1, rounds, groups)
        return self.output(groups, stats.as_metrics())

    def play(self, policy: Policy, groups: list[PlayedGroup]) -> list[list[float]]:
        examples = [group.example for group in groups for _ in range(self.num_generations)]
        episodes = run_episodes(policy, self.tools, self.chat, examples, self.env)
        for position, group in enumerate(groups):
            start = position * self.num_generations
            group.episodes = episodes[start : start + self.num_generations]
            group.scores = [self.score(e, group.example) for e in group.episodes]
        return [self.filter_signal(group) for group in groups]

    def filter_signal(self, group: PlayedGroup) -> list[float]:
        """What dynamic sampling compares within a group: accuracy (DAPO) or the total."""
        if self.dapo.filter_signal == "total":
            return [s.total for s in group.scores]
        correctness = self.functions["correctness"]
        return [
            score.components["correctness"]
            if "correctness" in score.components
            else correctness(episode, group.example)
            for episode, score in zip(group.episodes, group.scores, strict=True)
        ]

    def output(self, groups: list[PlayedGroup], sampling: dict[str, float]) -> dict[str, Any]:
        episodes = [e for group in groups for e in group.episodes]
        scores = [s for group in groups for s in group.scores]
        count = max(1, len(episodes))
        metrics = {
            **sampling,
            "episodes/truncated_rate": sum(e.truncated for e in episodes) / count,
            "episodes/answered_rate": sum(e.answer is not None for e in episodes) / count,
            "episodes/mean_turns": sum(len(e.model_turns) for e in episodes) / count,
            "episodes/mean_tool_calls": sum(len(e.tool_calls) for e in episodes) / count,
            "episodes/mean_model_tokens": sum(e.num_model_tokens for e in episodes) / count,
        }
        output: dict[str, Any] = {
            "prompt_ids": [e.prompt_ids for e in episodes],
            "completion_ids": [e.completion_ids for e in episodes],
            "env_mask": [e.completion_mask for e in episodes],
            "logprobs": sampling_logprobs(episodes),
            TOTAL_FIELD: [s.total for s in scores],
            METRICS_FIELD: metrics,
        }
        for name in self.components:
            output[COMPONENT_PREFIX + name] = [s.components.get(name, 0.0) for s in scores]
        return output


def sampling_logprobs(episodes: list[Episode]) -> list[list[float | None]] | None:
    """Each episode's sampling log-probs for TRL's importance-sampling correction, when the
    policy reported them for every episode (vLLM); None otherwise (TRL then skips it)."""
    if not episodes or not all(
        any(value is not None for value in e.completion_logprobs) for e in episodes
    ):
        return None
    return [list(e.completion_logprobs) for e in episodes]


def any_process(trainer: Any, flag: bool) -> bool:
    """True when ``flag`` holds on any training process (all of them agree on the answer)."""
    accelerator = getattr(trainer, "accelerator", None)
    if accelerator is None or accelerator.num_processes == 1:
        return flag
    import torch

    votes = accelerator.gather(torch.tensor([int(flag)], device=accelerator.device))
    return bool(votes.sum().item())


def transformers_backend(generation: GenerationSection, chat: ChatFormat) -> PolicyBackend:
    """Sample with the trainer's own model, unwrapped from DDP/DeepSpeed for generation."""

    @contextmanager
    def backend(trainer: Any) -> Iterator[Policy]:
        from trl.models.utils import unwrap_model_for_generation

        with unwrap_model_for_generation(
            trainer.model_wrapped,
            trainer.accelerator,
            gather_deepspeed3_params=trainer.args.ds3_gather_for_generation,
        ) as model:
            yield TransformersPolicy(
                model,
                trainer.processing_class,
                temperature=generation.temperature,
                top_p=generation.top_p,
                top_k=generation.top_k,
                end_token_id=chat.eos_token_id,
            )

    return backend


class TrainerVLLMPolicy:
    """One turn per request through TRL's vLLM generation (colocated or server), whose weights
    TRL syncs before every rollout. vLLM samples up to ``max_completion_length`` tokens; each
    turn is cut at its first tool call, answer or end of turn, and at its own budget. vLLM stops
    at the protocol's stop strings itself (``vllm_generation_kwargs``); its sampling log-probs
    are kept, cut with the tokens, for TRL's importance-sampling correction."""

    def __init__(
        self,
        vllm_generation: Any,
        tokenizer: Any,
        end_token_id: int,
        accelerator: Any = None,
    ) -> None:
        """``accelerator`` is given in server mode: TRL's server path gathers every process's
        prompts and hands each process the slice at ``process_index × its own count``, so all
        processes must send the same number of prompts (see :meth:`padded`)."""
        self.vllm = vllm_generation
        self.tokenizer = tokenizer
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else end_token_id
        self.end_ids = {end_token_id, pad}
        self.end_token_id = end_token_id
        self.accelerator = accelerator

    def padded(self, prompts: list[list[int]]) -> list[list[int]]:
        """The prompts, padded to the largest count of any process with a one-token filler
        prompt whose completions are thrown away."""
        accelerator = self.accelerator
        if accelerator is None or accelerator.num_processes == 1:
            return prompts
        import torch

        counts = accelerator.gather(torch.tensor([len(prompts)], device=accelerator.device))
        width = int(counts.max().item())
        filler = prompts[0] if prompts else [self.end_token_id]
        return prompts + [filler] * (width - len(prompts))

    def generate(self, requests: list[GenerationRequest]) -> list[Generation]:
        prompts = [request.input_ids for request in requests]
        _, completions, logprobs, _ = self.vllm.generate(
            prompts=self.padded(prompts), images=None, num_generations=1
        )
        completions = completions[: len(requests)]
        logprobs = logprobs[: len(requests)] if logprobs is not None else None
        rows = logprobs if logprobs is not None else [None] * len(completions)
        return [
            turn_of(list(ids), request, self.end_ids, self.tokenizer, sampled_logprobs(row))
            for request, ids, row in zip(requests, completions, rows, strict=True)
        ]


def sampled_logprobs(row: Any) -> list[float | None] | None:
    """The sampled token's log-prob per position, from TRL's vLLM output (a list per token,
    the sampled token's first when ``logprobs=0``)."""
    if row is None:
        return None
    return [entry[0] if isinstance(entry, list | tuple) else entry for entry in row]


def vllm_generation_kwargs() -> dict[str, Any]:
    """vLLM sampling settings: stop at the protocol's stop strings (a turn ends at its tool
    call or answer instead of sampling to ``max_tokens`` and being cut afterwards)."""
    return {"stop": list(STOP_STRINGS), "include_stop_str_in_output": True}


def vllm_backend(chat: ChatFormat) -> PolicyBackend:
    @contextmanager
    def backend(trainer: Any) -> Iterator[Policy]:
        server = trainer.args.vllm_mode == "server"
        yield TrainerVLLMPolicy(
            trainer.vllm_generation,
            trainer.processing_class,
            chat.eos_token_id,
            accelerator=trainer.accelerator if server else None,
        )

    return backend
