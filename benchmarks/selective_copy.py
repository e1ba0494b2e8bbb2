"""Can a base of this shape learn the copy its answers need, and in how many steps?

    python benchmarks/selective_copy.py [--hidden 128] [--layers 4] [--heads 2] [--kv-heads 1]
        [--head-dim 64] [--names 1500] [--candidates 5] [--distractors 5] [--steps 1000]
        [--batch 16] [--lr 3e-3] [--every 200] [--loss answer|all] [--grade STEPS]
        [--repeats ROWS]

A format-only transcript answers with a uniform pick among the names of its latest result's top
entry (``answer_from: top``): to learn it, a base attends from ``<answer>`` to a handful of rare
name tokens a few hundred tokens back and puts their identity on its output. The world bases
measured so far have not learnt that copy in thousands of pretraining steps
(``base_rollouts.py``); this measures the ability alone, in minutes, on synthetic sequences of
the transcripts' shape: filler tokens, a marked entry of filler holding ``--candidates`` names
drawn from ``--names``, a second entry holding ``--distractors`` other names, then the answer
tag, whose next token is a uniform pick among the candidates. The loss is on the answer alone
(``--loss all``: on every token, the answer weighted ×10, as ``answer_weight: 10``).

How hard the copy is depends on how many candidates the answer was drawn from: one is learnt at
once, five (about the 4.4 names and values of a world transcript's top entry) not at all in the
same steps. ``--grade STEPS`` trains a curriculum: the training answers' pool starts at one
candidate and grows by one every STEPS steps up to ``--candidates``; the held-out sequences
always hold ``--candidates``.

``--repeats ROWS`` adds to every batch ROWS rows of random tokens said twice, the loss on the
repeat (``world.base.copy_span_batch``, as ``copy_spans`` adds to a base's pretraining): the
in-context copying any pretrained language model has, which the transcripts alone teach far
too slowly.

The baseline is measured in the same run: the same model trained on the same sequences, but
answered with a name that is not in the sequence, so that all it can learn is that an answer is
a name. The table gives, at each checkpoint, the probability mass at the answer tag on the
candidates (a uniform copy scores 1) for both, and their ratio: a ratio near 1 is no copy.
"""

from __future__ import annotations

import argparse
import random
import time
from dataclasses import dataclass

import torch
from transformers import Qwen3Config, Qwen3ForCausalLM

from nanosearch.world.base import batch_loss, copy_span_batch

MARK, SECOND, ANSWER = 1, 2, 3  # the top entry's mark, the second entry's, the answer tag
FILLER = range(10, 400)  # frequent tokens, as the passages' common words
FIRST_NAME = 400  # names are the tokens from here on, each rare as a lexicon word
PREFIX, ENTRY = 40, 60  # filler before the results, and tokens per entry
TEST_SEQUENCES = 64


@dataclass(frozen=True)
class Task:
    names: int
    candidates: int
    distractors: int


def sequence(rng: random.Random, task: Task) -> tuple[list[int], list[int], list[int]]:
    """(tokens up to and with the answer tag, the candidates, names absent from the tokens)."""
    names = rng.sample(range(FIRST_NAME, FIRST_NAME + task.names), task.candidates * 2 + 5)
    candidates, absent = names[: task.candidates], names[task.candidates : task.candidates * 2]
    distractors = rng.sample(names[task.candidates * 2 :], min(task.distractors, 5))
    entries = []
    for held in (candidates, distractors):
        entry = [rng.choice(FILLER) for _ in range(ENTRY)]
        for at, name in zip(rng.sample(range(ENTRY), len(held)), held, strict=True):
            entry[at] = name
        entries.append(entry)
    prefix = [rng.choice(FILLER) for _ in range(PREFIX)]
    return [*prefix, MARK, *entries[0], SECOND, *entries[1], ANSWER], candidates, absent


def pool(step: int, task: Task, grade: int) -> Task:
    """The task of training step ``step`` (from 1): ``task``, or under a curriculum of ``grade``
    steps per candidate, as many candidates as the curriculum has reached."""
    if not grade:
        return task
    return Task(task.names, min(task.candidates, 1 + (step - 1) // grade), task.distractors)


def train(args: argparse.Namespace, task: Task, copy: bool) -> list[float]:
    """Candidate mass at the answer tag on held-out sequences, every ``args.every`` steps."""
    rng = random.Random(0)
    torch.manual_seed(0)
    config = Qwen3Config(
        vocab_size=FIRST_NAME + task.names,
        hidden_size=args.hidden,
        intermediate_size=4 * args.hidden,
        num_hidden_layers=args.layers,
        num_attention_heads=args.heads,
        num_key_value_heads=args.kv_heads,
        head_dim=args.head_dim,
        tie_word_embeddings=True,
        pad_token_id=0,
        max_position_embeddings=4096,
    )
    model = Qwen3ForCausalLM(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    warmup = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / 20))
    tests = [sequence(random.Random(10**6 + i), task) for i in range(TEST_SEQUENCES)]
    masses = []
    for step in range(1, args.steps + 1):
        rows = [sequence(rng, pool(step, task, args.grade)) for _ in range(args.batch)]
        ids = [[*s, rng.choice(c if copy else a)] for s, c, a in rows]
        rest = 1.0 if args.loss == "all" else 0.0
        weights = [[rest] * (len(row) - 1) + [10.0] for row in ids]
        if args.repeats:
            spans, span_weights = copy_span_batch(
                rng, range(10, FIRST_NAME + task.names), args.repeats
            )
            ids, weights = ids + spans, weights + span_weights
        batch_loss(model, None, ids, 0, weights).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        warmup.step()
        optimizer.zero_grad()
        if step % args.every == 0:
            masses.append(candidate_mass(model, tests))
    return masses


def candidate_mass(
    model: Qwen3ForCausalLM, tests: list[tuple[list[int], list[int], list[int]]]
) -> float:
    with torch.no_grad():
        last = model(input_ids=torch.tensor([s for s, _, _ in tests])).logits[:, -1]
        probability = last.float().softmax(-1)
    return sum(probability[i, c].sum().item() for i, (_, c, _) in enumerate(tests)) / len(tests)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=2)
    parser.add_argument("--kv-heads", type=int, default=1)
    parser.add_argument("--head-dim", type=int, default=64)
    parser.add_argument("--names", type=int, default=1500, help="the lexicon's size")
    parser.add_argument("--candidates", type=int, default=5, help="names in the top entry")
    parser.add_argument("--distractors", type=int, default=5, help="names in the second (≤ 5)")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--every", type=int, default=200)
    parser.add_argument("--loss", choices=("answer", "all"), default="answer")
    parser.add_argument(
        "--grade",
        type=int,
        default=0,
        help="steps per candidate of a curriculum from one to --candidates (0: none)",
    )
    parser.add_argument(
        "--repeats", type=int, default=0, help="rows of random tokens said twice per batch"
    )
    args = parser.parse_args()
    task = Task(args.names, args.candidates, args.distractors)

    started = time.perf_counter()
    copied = train(args, task, copy=True)
    copy_s = time.perf_counter() - started
    baseline = train(args, task, copy=False)
    baseline_s = time.perf_counter() - started - copy_s

    print(
        f"shape: hidden {args.hidden}, {args.layers} layers, {args.heads} heads, "
        f"{args.kv_heads} key/value heads of {args.head_dim}; {args.names} names, "
        f"{args.candidates} candidates, {args.distractors} distractors; batch {args.batch}, "
        f"lr {args.lr:g}, loss on {'the answer' if args.loss == 'answer' else 'every token'}"
        + (f"; curriculum of {args.grade} steps per candidate" if args.grade else "")
        + (f"; {args.repeats} copy-span rows per batch" if args.repeats else "")
    )
    print(f"{'step':>6} {'copy task':>10} {'baseline':>10} {'ratio':>7}  (uniform copy: 1.000)")
    for number, (mass, control) in enumerate(zip(copied, baseline, strict=True), start=1):
        ratio = mass / control if control else float("nan")
        print(f"{number * args.every:6d} {mass:10.4f} {control:10.4f} {ratio:7.2f}")
    print(f"wall: copy task {copy_s:.0f} s, baseline {baseline_s:.0f} s")


if __name__ == "__main__":
    from nanosearch.allocator import run_with_tuned_allocator

    run_with_tuned_allocator()  # the settings the nanosearch command runs with
    main()
