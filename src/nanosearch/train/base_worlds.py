"""The fresh worlds a format-only base pretrains on (``model.world_base.worlds``), each indexed
by the real engine as the base's transcripts reach it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from nanosearch.search import build_index
from nanosearch.tools import EngineTools
from nanosearch.world import BaseSettings, generate_world
from nanosearch.world.base import TranscriptSource
from nanosearch.world.files import NAMES


def pretraining_sources(settings: BaseSettings, scratch: Path) -> Iterator[TranscriptSource]:
    """One source per fresh world: its training questions, tools over its index (built under
    ``scratch``) and its names and values; its draws seeded by the world's seed."""
    for seed in settings.pretraining_seeds():
        world = generate_world(seed, settings.world_entities, names=NAMES["shared"])
        engine = build_index(world.documents(), scratch / f"world-{seed}", progress=False)
        yield TranscriptSource(
            world.questions["train"], EngineTools(engine), world.mentions(), settings.seed + seed
        )
