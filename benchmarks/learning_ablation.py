"""Held-out exact match of RL settings on the same world and the same format-only base.

    python benchmarks/learning_ablation.py [--recipe PATH] [--seeds 3] [--steps 20 | 6,30,6]
                                           [--entities 600] [--variants dapo,grpo,authors]
                                           [--out DIR]

Variants, each trained with `nanosearch train` from a world recipe (recipes/world-cpu unless
``--recipe`` names another) with only the RL settings (and the training seed) changed:

- ``dapo``: the recipe as shipped (clip-higher 0.2/0.28 with several updates per generation
  batch, dynamic sampling on accuracy, token-level loss, soft overlong punishment, β 0; the
  world recipes keep turns cut at their token cap in the loss, their comment says why);
- ``grpo``: plain GRPO (symmetric clip 0.2, one update per generation batch, no dynamic
  sampling, sequence-mean loss, no overlong filtering or punishment);
- ``authors``: the settings the report's authors ran (recipes/jan-nano-4b-authors: ``dr_grpo``
  loss without reward scaling, β 0.01, four updates per generation batch, gradient norm 0.1,
  substring correctness, no dynamic sampling);
- ``gspo`` (not run unless ``--variants`` names it): the recipe with GSPO's sequence-level
  importance ratio (TRL's ``importance_sampling_level: sequence``, through the recipe's ``trl``
  section) and the GSPO paper's clip range 3e-4 / 4e-4 on a sequence-mean loss.

The world, its index and the base are built once, the base evaluated once on the held-out
splits, and all of it copied into every run, so the variants differ only in the RL settings and
the seed. Printed: exact match on the dev split at the end of
each stage and on the test split at the end, overall and of 1-hop questions (means over seeds),
wall time, and each variant's final dev exact match divided by plain GRPO's, measured in the
same run; ``ablation.png`` plots the mean curves.
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

import yaml

WORLD_CPU = Path(__file__).resolve().parents[1] / "recipes" / "world-cpu" / "recipe.yaml"
# variant -> recipe section (or "stage_rewards", laid over every stage's rewards) -> changes
VARIANTS: dict[str, dict[str, dict[str, Any]]] = {
    "dapo": {},
    "grpo": {
        "dapo": {
            "loss_type": "grpo",
            "epsilon_high": 0.2,
            "dynamic_sampling": False,
            "mask_truncated_completions": False,
        },
        "training": {"updates_per_generation": 1},
        "stage_rewards": {"overlong_penalty": 0.0},
    },
    "authors": {
        "dapo": {
            "loss_type": "dr_grpo",
            "scale_rewards": "none",
            "beta": 0.01,
            "dynamic_sampling": False,
        },
        "training": {"updates_per_generation": 4, "max_grad_norm": 0.1},
        "correctness": {"mode": "substring"},
        "stage_rewards": {"overlong_penalty": 0.0},
    },
    "gspo": {
        "dapo": {"loss_type": "grpo", "epsilon": 3e-4, "epsilon_high": 4e-4},
        "trl": {"importance_sampling_level": "sequence"},
    },
}
DEFAULT_VARIANTS = ("dapo", "grpo", "authors")  # the three the learning proof compares


def shared_files() -> tuple[str, ...]:
    """What every run copies from the first: the world, its index, the base and its scores."""
    from nanosearch.train.summary import BASE_EPISODES, BASE_FILE, BASE_HELDOUT_EPISODES

    shared = ("world", "index", "base-model", "data")
    return (*shared, BASE_FILE, BASE_EPISODES, BASE_HELDOUT_EPISODES)


def stage_steps(text: str) -> list[int]:
    """``20`` (every stage) or ``6,30,6`` (one budget per stage, in order)."""
    try:
        steps = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"steps must be integers, not {text!r}") from None
    if any(step < 1 for step in steps):
        raise argparse.ArgumentTypeError(f"every stage needs at least one step, not {text!r}")
    return steps


def variant_names(text: str) -> list[str]:
    """``dapo,grpo``: variants to run, in order."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in VARIANTS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown variant {unknown[0] if unknown else text!r}; the variants are: "
            + ", ".join(VARIANTS)
        )
    return names


def per_stage(steps: list[int], stages: int) -> list[int]:
    return steps * stages if len(steps) == 1 else steps


def recipe_for(
    base: Path, variant: str, seed: int, steps: list[int], entities: int, directory: Path
) -> Path:
    """``directory/recipe.yaml``: a recipe that extends ``base`` with the variant's settings,
    the world's size, the training seed and each stage's step budget."""
    from nanosearch.train.recipe_files import EXTENDS, read_recipe_mapping, recipe_file

    base = recipe_file(base).resolve()
    names = [stage["name"] for stage in read_recipe_mapping(base)["stages"]]
    if len(steps) not in (1, len(names)):
        raise SystemExit(f"--steps gives {len(steps)} budgets; {base} has {len(names)} stages")
    changes = dict(VARIANTS[variant])
    rewards = changes.pop("stage_rewards", {})
    recipe: dict[str, Any] = {EXTENDS: str(base), **changes}
    recipe["world"] = {"entities": entities}
    recipe["training"] = {**changes.get("training", {}), "seed": seed}
    recipe["stages"] = {
        name: {"steps": budget, **({"rewards": dict(rewards)} if rewards else {})}
        for name, budget in zip(names, per_stage(steps, len(names)), strict=True)
    }
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "recipe.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False))
    return directory


def prepare_shared(base: Path, out: Path, steps: list[int], entities: int) -> Path:
    """The world, index, data and base, once: a run with zero RL stages would do the same, so
    this is a stage-less copy of the recipe's preparation."""
    from nanosearch.train.curriculum import (
        prepare_data,
        prepare_index,
        prepare_model,
        prepare_world,
    )
    from nanosearch.train.recipe import load_recipe
    from nanosearch.train.summary import evaluate_base

    shared = out / "shared"
    recipe = load_recipe(recipe_for(base, "dapo", 0, steps, entities, out / "recipes" / "shared"))
    world = prepare_world(recipe, shared / "world", print)
    data = prepare_data(recipe, shared / "data", world=world)
    engine = prepare_index(recipe, shared / "index", world=world)
    start = prepare_model(
        recipe, shared / "base-model", world=world, train=data.train, engine=engine, say=print
    )
    evaluate_base(recipe, shared, start, engine, data.dev, data.test, world, print)
    return shared


def run_variant(
    base: Path, out: Path, shared: Path, variant: str, seed: int, steps: list[int], entities: int
):
    """One variant's run, trained once: a run killed part-way resumes from its checkpoints
    when the benchmark is started again (its wall time then counts the last attempt only)."""
    from nanosearch.train.curriculum import train_recipe

    run = out / "runs" / f"{variant}-seed{seed}"
    if not (run / "summary.json").is_file():
        resumed = run.is_dir()
        if resumed:
            print(f"{run.name}: resumed from its checkpoints; its wall time counts this attempt")
        else:
            copy_shared(shared, run)
        recipe = recipe_for(base, variant, seed, steps, entities, out / "recipes" / run.name)
        started = time.perf_counter()
        train_recipe(recipe, run, resume=True, echo=print)
        (run / "wall_s.json").write_text(json.dumps(time.perf_counter() - started))
    summary = json.loads((run / "summary.json").read_text())
    return summary, json.loads((run / "wall_s.json").read_text())


def copy_shared(shared: Path, run: Path) -> None:
    """The shared world, index, base and its scores into a new run directory, which appears
    only once complete."""
    staging = run.with_name(run.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for name in shared_files():
        source = shared / name
        if source.is_dir():
            shutil.copytree(source, staging / name)
        elif source.is_file():
            shutil.copy2(source, staging / name)
    staging.rename(run)


def curve(summary: dict[str, Any]) -> dict[int, float]:
    return {p["step"]: p["exact_match"] for p in summary["learning_curve"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--recipe", type=Path, default=WORLD_CPU, help="a world recipe")
    parser.add_argument(
        "--steps",
        type=stage_steps,
        default=[20],
        help="steps of every stage (20) or of each stage in order (6,30,6)",
    )
    parser.add_argument("--entities", type=int, default=600)
    parser.add_argument(
        "--variants",
        type=variant_names,
        default=list(DEFAULT_VARIANTS),
        help=f"comma-separated, of {', '.join(VARIANTS)} (default {','.join(DEFAULT_VARIANTS)})",
    )
    parser.add_argument("--out", type=Path, default=Path("runs/learning-ablation"))
    args = parser.parse_args()
    shared = prepare_shared(args.recipe, args.out, args.steps, args.entities)
    results: dict[str, list[tuple[dict[str, Any], float]]] = {}
    for variant in args.variants:
        for seed in range(args.seeds):
            print(f"--- {variant}, seed {seed}")
            found = run_variant(
                args.recipe, args.out, shared, variant, seed, args.steps, args.entities
            )
            results.setdefault(variant, []).append(found)
    from nanosearch.train.recipe_files import read_recipe_mapping, recipe_file

    stages = len(read_recipe_mapping(recipe_file(args.recipe))["stages"])
    budgets = list(itertools.accumulate(per_stage(args.steps, stages)))
    means: dict[str, dict[int, float]] = {}
    for variant, runs in results.items():
        curves = [curve(summary) for summary, _ in runs]
        steps = sorted(set.intersection(*(set(c) for c in curves)))
        means[variant] = {s: statistics.mean(c[s] for c in curves) for s in steps}
    baseline = means["grpo"].get(budgets[-1], 0.0) if "grpo" in means else 0.0
    no_ratio = "n/a (grpo at 0)" if "grpo" in means else "n/a (grpo not run)"
    header = ["variant", "seeds"] + [f"dev EM @ {b} steps" for b in budgets]
    header += ["test EM (final)", "1-hop test EM", "wall s (mean)", "final dev EM ÷ grpo"]
    print("\n| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for variant, runs in results.items():
        final = means[variant].get(budgets[-1], 0.0)
        test = statistics.mean(s["final"]["test"]["exact_match"] for s, _ in runs)
        one_hop = statistics.mean(s["final"]["test"]["hops_1/exact_match"] for s, _ in runs)
        cells = [variant, str(len(runs))]
        cells += [f"{means[variant].get(b, float('nan')):.1%}" for b in budgets]
        cells += [f"{test:.1%}", f"{one_hop:.1%}", f"{statistics.mean(w for _, w in runs):.0f}"]
        cells.append(f"{final / baseline:.2f}×" if baseline else no_ratio)
        print("| " + " | ".join(cells) + " |")
    plot(means, args.out / "ablation.png")
    print(f"plot: {args.out / 'ablation.png'}")


def plot(means: dict[str, dict[int, float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4))
    for variant, points in means.items():
        steps = sorted(points)
        axis.plot(steps, [points[s] for s in steps], marker="o", markersize=3, label=variant)
    axis.set_xlabel("training step (three stages; 0 = the base)")
    axis.set_ylabel("held-out exact match (dev, mean over seeds)")
    axis.set_ylim(0, 1)
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


if __name__ == "__main__":
    from nanosearch.allocator import run_with_tuned_allocator

    run_with_tuned_allocator()  # the settings the nanosearch command runs with
    main()
