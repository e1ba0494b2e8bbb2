"""DAPO training on TRL's GRPOTrainer: the recipe, the search rollout with dynamic sampling,
the three-stage curriculum with resume, metrics, plots and the long-context export.

Only the recipe loads without the training extra; the rest imports TRL and torch on use.
"""

from nanosearch.train.recipe import Recipe, load_recipe

__all__ = ["Recipe", "load_recipe"]
