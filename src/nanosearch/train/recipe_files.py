"""Reading a recipe file, with ``extends``: a recipe that names another recipe takes every
setting of it and states only what differs (``recipes/world-demo`` is ``recipes/world-cpu``
with shorter stages).

Sections merge key by key, the extending recipe's value winning; a list or a scalar replaces
the inherited one whole, ``null`` included. ``stages`` may be a list (the stages, replaced) or
a mapping from inherited stage names to the keys that change in them. A relative path that an
inherited recipe names (its data, corpus, index, model, tokenizer or DeepSpeed file) stays
relative to that recipe's own directory; a hub id stays a hub id."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from nanosearch.errors import NanosearchError

RECIPE_FILE = "recipe.yaml"
EXTENDS = "extends"
BUNDLED = "bundled"
# Each field that names a file or directory, and whether it may name a hub id instead.
PATH_FIELDS = {
    ("data", "musique"): True,
    ("index", "corpus"): False,
    ("index", "path"): False,
    ("model", "name_or_path"): True,
    ("model", "tokenizer"): True,
    ("training", "deepspeed"): False,
}
DATA_SUFFIXES = {".json", ".jsonl", ".parquet", ".csv", ".tsv", ".txt", ".gz", ".zst"}


def recipe_file(path: str | Path) -> Path:
    """``DIR/recipe.yaml`` for a directory, else the file itself."""
    path = Path(path)
    return path / RECIPE_FILE if path.is_dir() else path


def read_recipe_mapping(file: Path) -> dict[str, Any]:
    """The recipe in ``file`` as one mapping, every recipe it extends merged in."""
    return _read(file.resolve(), ())


def _read(file: Path, seen: tuple[Path, ...]) -> dict[str, Any]:
    if not file.is_file():
        where = f" (extended by {seen[-1]})" if seen else ""
        raise NanosearchError(f"recipe not found: {file}{where}")
    try:
        raw = yaml.safe_load(file.read_text())
    except yaml.YAMLError as error:
        raise NanosearchError(f"{file}: not valid YAML ({error})") from None
    if not isinstance(raw, dict):
        raise NanosearchError(f"{file}: expected a mapping of sections, got {type(raw).__name__}")
    if EXTENDS not in raw:
        return raw
    parent = raw.pop(EXTENDS)
    if not isinstance(parent, str) or not parent:
        raise NanosearchError(f"{file}: extends: expected the path of a recipe, got {parent!r}")
    parent_file = recipe_file(file.parent / parent).resolve()
    if parent_file in (*seen, file):
        chain = " → ".join(str(p) for p in (*seen, file, parent_file))
        raise NanosearchError(f"{file}: extends: a recipe cannot extend itself ({chain})")
    inherited = _anchored(_read(parent_file, (*seen, file)), parent_file.parent, file.parent)
    return merge_recipe(inherited, raw, file)


def _anchored(raw: dict[str, Any], source: Path, target: Path) -> dict[str, Any]:
    """``raw``, read from a recipe in ``source``, with each of its relative paths rewritten
    relative to ``target`` (the extending recipe's directory), so that both name the same file
    whether or not it exists yet; a hub id or ``bundled`` is left as it is."""
    if source == target:
        return raw
    raw = {key: dict(value) if isinstance(value, dict) else value for key, value in raw.items()}
    for (section, key), may_be_hub_id in PATH_FIELDS.items():
        value = raw[section].get(key) if isinstance(raw.get(section), dict) else None
        if isinstance(value, str) and names_a_path(value, source, may_be_hub_id):
            raw[section][key] = os.path.relpath(source / value, target)
    return raw


def names_a_path(value: str, directory: Path, may_be_hub_id: bool) -> bool:
    """Whether ``value``, read in a recipe in ``directory``, is a relative path: not
    ``bundled``, not absolute, and in a field that also takes hub ids, plainly a path."""
    if value == BUNDLED or Path(value).is_absolute():
        return False
    return not may_be_hub_id or is_local_path(value, directory)


def is_local_path(value: str, directory: Path) -> bool:
    """Whether ``value``, in a field that takes a path or a hub id, is a path: it exists in
    ``directory``, starts with ``./`` or ``../``, has more levels than a hub id's
    ``owner/name``, or names a data file."""
    return (
        (directory / value).exists()
        or value.startswith(("./", "../"))
        or value.count("/") > 1
        or Path(value).suffix in DATA_SUFFIXES
    )


def merge_recipe(inherited: dict[str, Any], own: dict[str, Any], file: Path) -> dict[str, Any]:
    """``own`` over ``inherited``: mappings key by key, anything else replaced; a mapping of
    ``stages`` first updates the inherited stages by name."""
    stages = own.get("stages")
    if isinstance(stages, dict):
        own = {**own, "stages": _stages_updated(inherited.get("stages"), stages, file)}
    return _merged(inherited, own)


def _merged(inherited: dict[str, Any], own: dict[str, Any]) -> dict[str, Any]:
    merged = dict(inherited)
    for key, value in own.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merged(merged[key], value)
        else:
            merged[key] = value
    return merged


def _stages_updated(stages: Any, updates: dict[str, Any], file: Path) -> list[Any]:
    if not isinstance(stages, list):
        raise NanosearchError(
            f"{file}: stages: a mapping updates inherited stages by name, and the recipe it "
            "extends has no list of stages"
        )
    names = [stage.get("name") for stage in stages if isinstance(stage, dict)]
    for name, update in updates.items():
        if name not in names:
            raise NanosearchError(
                f"{file}: stages.{name}: no inherited stage has this name (they are {names})"
            )
        if not isinstance(update, dict):
            raise NanosearchError(
                f"{file}: stages.{name}: expected the keys that change, got {update!r}"
            )
    return [
        _merged(stage, updates[stage["name"]])
        if isinstance(stage, dict) and stage.get("name") in updates
        else stage
        for stage in stages
    ]
