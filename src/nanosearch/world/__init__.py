"""A seeded synthetic world for proving that training works on a CPU: a fictional encyclopedia,
multi-hop questions split by subject entity, a small tokenizer and a format-only base model."""

from nanosearch.world.base import BaseSettings, is_complete_base, pretrain_base
from nanosearch.world.files import build_world, read_description, read_questions, write_world
from nanosearch.world.generator import World, generate_world

__all__ = [
    "BaseSettings",
    "World",
    "build_world",
    "generate_world",
    "is_complete_base",
    "pretrain_base",
    "read_description",
    "read_questions",
    "write_world",
]
