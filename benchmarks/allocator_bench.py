"""glibc's default allocator against the settings ``nanosearch`` starts itself with.

    python benchmarks/allocator_bench.py [--questions 32] [--samples 2] [--steps 8] [--repeats 1]

Each variant runs the same job in a fresh process (glibc reads its tunables only at start): the
shipped world base plays ``--questions`` × ``--samples`` episodes of the seed-0 world through the
real environment and engine (sampled as the world recipes' rollouts are), then takes ``--steps``
AdamW steps of next-token loss on those episodes' tokens, as a trainer would. The baseline is
glibc's default (``GLIBC_TUNABLES`` unset); the other is :data:`nanosearch.allocator.TUNABLES`.
Kernel (system) CPU time is where the default's page faults show.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from nanosearch.allocator import OPT_OUT, TUNABLES, VARIABLE

VARIANTS = {"glibc default": None, "nanosearch": TUNABLES}


def job(questions: int, samples: int, steps: int) -> dict[str, float]:
    """The measured job, in this process: rollouts, then training steps."""
    import torch

    from nanosearch.assets import WORLD_BASES
    from nanosearch.corpus import read_corpus
    from nanosearch.env import ChatFormat, EnvConfig, run_episodes
    from nanosearch.env.policy import TransformersPolicy
    from nanosearch.models import load_model
    from nanosearch.search import build_index
    from nanosearch.tools import EngineTools
    from nanosearch.world import build_world, read_questions

    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as scratch:
        world = build_world(0, 600, Path(scratch) / "world", "shared")
        corpus = read_corpus(world / "corpus.jsonl", progress=False)
        tools = EngineTools(build_index(corpus, Path(scratch) / "index", progress=False))
        examples = read_questions(world, "train")[:questions] * samples
        model, tokenizer = load_model(str(WORLD_BASES / "lexicon-8-worlds"))
        chat = ChatFormat.from_tokenizer(tokenizer)
        policy = TransformersPolicy(model, tokenizer, end_token_id=chat.eos_token_id)
        config = EnvConfig(max_turns=3, token_budget=1280, result_chars=600, turn_tokens=40)
        model.eval()
        started = time.perf_counter()
        episodes = run_episodes(policy, tools, chat, examples, config)
        rollout_s = time.perf_counter() - started

    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    sequences = [e.prompt_ids + e.completion_ids for e in episodes]
    batch = 16
    started = time.perf_counter()
    for step in range(steps):
        rows = [sequences[(step * batch + k) % len(sequences)] for k in range(batch)]
        width = max(len(r) for r in rows)
        ids = torch.tensor([r + [tokenizer.pad_token_id] * (width - len(r)) for r in rows])
        labels = torch.tensor([r + [-100] * (width - len(r)) for r in rows])
        loss = model(input_ids=ids, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    train_s = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "rollout_s": rollout_s,
        "train_s": train_s,
        "user_s": usage.ru_utime,
        "system_s": usage.ru_stime,
        "peak_rss_mib": usage.ru_maxrss / 1024,
    }


def run_variant(tunables: str | None, args: argparse.Namespace) -> dict[str, float]:
    environment = {k: v for k, v in os.environ.items() if k not in (VARIABLE, OPT_OUT)}
    if tunables is not None:
        environment[VARIABLE] = tunables
    command = [sys.executable, __file__, "--job", *job_arguments(args)]
    done = subprocess.run(command, env=environment, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the job under {tunables or 'the default'} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def job_arguments(args: argparse.Namespace) -> list[str]:
    return [f"--questions={args.questions}", f"--samples={args.samples}", f"--steps={args.steps}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=32, help="training questions played")
    parser.add_argument("--samples", type=int, default=2, help="episodes per question")
    parser.add_argument("--steps", type=int, default=8, help="training steps of 16 episodes")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each variant")
    parser.add_argument("--job", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.job:
        print(json.dumps(job(args.questions, args.samples, args.steps)))
        return

    results: dict[str, list[dict[str, float]]] = {name: [] for name in VARIANTS}
    for _ in range(args.repeats):
        for name, tunables in VARIANTS.items():
            results[name].append(run_variant(tunables, args))
    print(
        f"{args.questions} questions × {args.samples} episodes, then {args.steps} training "
        f"steps of 16; median of {args.repeats} run(s) per variant, each in a fresh process"
    )
    columns = ("rollout_s", "train_s", "user_s", "system_s", "peak_rss_mib")
    baseline = {c: statistics.median(r[c] for r in results["glibc default"]) for c in columns}
    print(f"{'allocator':<14}" + "".join(f"{c:>14}" for c in columns) + f"{'speed-up':>10}")
    for name in VARIANTS:
        row = {c: statistics.median(r[c] for r in results[name]) for c in columns}
        total = row["rollout_s"] + row["train_s"]
        ratio = (baseline["rollout_s"] + baseline["train_s"]) / total
        print(f"{name:<14}" + "".join(f"{row[c]:>14.1f}" for c in columns) + f"{ratio:>9.2f}×")


if __name__ == "__main__":
    main()
